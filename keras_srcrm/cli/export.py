"""`keras-srcrm export`: a SavedModel for TF Serving, or an ONNX file."""

import json

from keras_srcrm.cli import common


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="Export a trained model as a SavedModel (TF Serving) or ONNX.",
        description=(
            "Writes a SavedModel whose serving_default signature takes uint8 "
            "images (batch, height, width, 3) of any size and returns the "
            "int32 class map (and probabilities with --probabilities), plus "
            "serve_float32 and logits signatures; or an ONNX file. From the "
            "torch backend the model is re-loaded under TensorFlow in a "
            "subprocess."
        ),
    )
    parser.add_argument(
        "model", help="A .keras file, or the output directory of `keras-srcrm train`."
    )
    parser.add_argument("path", help="The SavedModel directory or .onnx file to write.")
    parser.add_argument(
        "--format", choices=("saved_model", "onnx"), default="saved_model"
    )
    parser.add_argument(
        "--probabilities",
        action="store_true",
        help="serving_default also returns per-class probabilities.",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="Replace an existing export."
    )
    parser.set_defaults(run=run)
    return parser


def run(args):
    import keras

    from keras_srcrm import export
    from keras_srcrm.export.atomic import resolve_destination

    model_path = common.resolve_model_path(args.model)
    # Refuse an existing or unwritable destination before the (slow) export.
    kind = "directory" if args.format == "saved_model" else "file"
    destination = resolve_destination(args.path, args.overwrite, kind)
    common.check_writable(destination.parent, "PATH")
    options = {"overwrite": args.overwrite, "include_probabilities": args.probabilities}
    backend = keras.backend.backend()
    if backend == "torch" or (backend == "jax" and args.format == "onnx"):
        # Neither traces to a TensorFlow graph in-process: export from TF.
        result = export.export_with_tensorflow_backend(
            common.load_model(model_path), args.path, format=args.format, **options
        )
    else:
        model = common.load_model(model_path)
        exporter = (
            export.export_saved_model
            if args.format == "saved_model"
            else export.export_onnx
        )
        result = exporter(model, args.path, **options)
    print(result.summary())
    print(json.dumps({"path": result.path}))
    return result
