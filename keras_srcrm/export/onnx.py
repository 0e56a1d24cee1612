"""Export to ONNX, through tf2onnx, from the TensorFlow backend."""

import keras

from keras_srcrm.export import atomic
from keras_srcrm.export import serving
from keras_srcrm.export.serving import ExportResult
from keras_srcrm.utils.backend import import_optional
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_int

# The opsets tf2onnx 1.17 can write; 13 is the oldest with every op used here.
OPSETS = tuple(range(13, 19))

_WHY_NOT = {
    "jax": (
        "In TensorFlow, a JAX model is one XlaCallModule op, which tf2onnx "
        "cannot convert; Keras's own JAX exporter (`model.export(format="
        "'onnx')`) needs the `jax2onnx` package and exports the bare model "
        "only, without this function's input casting and output signatures."
    ),
    "torch": (
        "torch.onnx.export cannot trace keras-srcrm's PyTorch warp kernel "
        "(a torch.autograd.Function without an ONNX symbolic) when the image "
        "size is dynamic."
    ),
}


def export_onnx(
    model,
    path,
    *,
    overwrite=False,
    signature="serving_default",
    include_probabilities=False,
    image_size=None,
    opset=17,
):
    """Exports one signature of a segmentation model as an ONNX file.

    The ONNX graph is the SavedModel signature of the same name (see
    `export_saved_model`), converted with tf2onnx: with the default
    `signature="serving_default"`, input `images` is uint8
    `(batch, height, width, 3)` and output `classes` is int32
    `(batch, height, width)`, plus `probabilities` (float32
    `(batch, height, width, C)`) with `include_probabilities=True`;
    `"serve_float32"` takes float32 images and `"logits"` returns float32
    `logits`. The batch, height and width are dynamic (named `batch`,
    `height` and `width` in the graph), so one file serves every image
    size. The file is written beside `path` and renamed into place when
    complete.

    Runs on the TensorFlow backend only. On JAX and PyTorch it raises a
    `NotImplementedError` that names `export_with_tensorflow_backend(model,
    path, format="onnx")`, which does the export in a TensorFlow subprocess.

    Args:
        model: A functional Keras segmentation model (see
            `export_saved_model`).
        path: Destination file, e.g. `"srcrm.onnx"`.
        overwrite: Whether to replace an existing file. Defaults to False.
        signature: `"serving_default"` (the default), `"serve_float32"` or
            `"logits"`.
        include_probabilities: Whether the class-map signatures also return
            the per-class probabilities. Defaults to False.
        image_size: None, or `(height, width)` to run the model at that fixed
            size; see `export_saved_model`.
        opset: ONNX opset, 13 to 18. Defaults to 17.

    Returns:
        An `ExportResult` whose `signatures` maps `signature` to the graph's
        inputs and outputs.

    Raises:
        ValueError: If an argument is invalid or `model` does not follow the
            segmentation contract.
        FileExistsError: If `path` exists and `overwrite` is False.
        NotImplementedError: On a backend other than TensorFlow.

    Example:

    ```python
    keras_srcrm.export.export_onnx(model, "srcrm.onnx")

    session = onnxruntime.InferenceSession("srcrm.onnx")
    (classes,) = session.run(None, {"images": images_uint8})
    ```
    """
    if signature not in serving.SIGNATURE_NAMES:
        raise ValueError(
            f"`signature` must be one of {serving.SIGNATURE_NAMES}. "
            f"Received: signature={signature!r}"
        )
    check_bool("include_probabilities", include_probabilities)
    check_int("opset", opset, minimum=OPSETS[0], maximum=OPSETS[-1])
    _, static_size = serving.check_model(model)
    image_size = serving.resolve_image_size(image_size, static_size)
    destination = atomic.resolve_destination(path, overwrite, "file")
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise serving.unsupported_backend_error(
            "export_onnx",
            "TensorFlow backend",
            backend,
            "onnx",
            _WHY_NOT.get(backend, ""),
        )
    tf = import_optional("tensorflow", "ONNX export")
    tf2onnx = import_optional("tf2onnx", "ONNX export")
    onnx = import_optional("onnx", "ONNX export")

    logits_function = tf.function(
        serving.make_logits_function(model, image_size),
        input_signature=[
            tf.TensorSpec(serving.IMAGE_SHAPE, tf.float32, name=serving.INPUT_NAME)
        ],
        autograph=False,
    )
    if signature == serving.LOGITS:
        function = logits_function
    else:
        function = serving.make_serving_functions(
            tf, logits_function, include_probabilities
        )[signature]

    model_proto, _ = tf2onnx.convert.from_function(
        function, input_signature=function.input_signature, opset=opset
    )
    _name_dynamic_dimensions(model_proto)
    onnx.checker.check_model(model_proto)
    with atomic.atomic_destination(destination, overwrite, "file") as temporary:
        onnx.save(model_proto, str(temporary))
    return ExportResult(
        path=str(destination),
        format="onnx",
        backend=backend,
        signatures={signature: describe_onnx_graph(onnx, model_proto.graph)},
    )


def _name_dynamic_dimensions(model_proto):
    """Names the free dimensions `batch`, `height`, `width`, as a user would.

    Every input and output of these graphs is `(batch, height, width, ...)`
    with the same three sizes, which tf2onnx leaves as unrelated `unk__N`.
    """
    names = ("batch", "height", "width")
    for value in list(model_proto.graph.input) + list(model_proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        for dim, name in zip(dims, names):
            if not dim.HasField("dim_value"):
                dim.dim_param = name


def describe_onnx_graph(onnx, graph):
    """Describes an ONNX graph's inputs and outputs as plain values."""

    def describe(value):
        tensor_type = value.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        shape = [
            dim.dim_value if dim.HasField("dim_value") else None
            for dim in tensor_type.shape.dim
        ]
        return {"dtype": dtype.name, "shape": shape}

    return {
        "inputs": {value.name: describe(value) for value in graph.input},
        "outputs": {value.name: describe(value) for value in graph.output},
    }
