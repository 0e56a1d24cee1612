"""`keras-srcrm demo`: the whole job on the synthetic data, in one command."""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from keras_srcrm.cli import common

METRICS = "metrics.json"
PANEL = "panel.png"
CURVES = "curves.png"
PER_CLASS_IOU = "per_class_iou.png"
CONFUSION_MATRIX = "confusion_matrix.png"
# What a demo writes in OUTPUT_DIR, and what --overwrite deletes.
PARTS = (
    "train",
    METRICS,
    "saved_model",
    "predict",
    PANEL,
    CURVES,
    PER_CLASS_IOU,
    CONFUSION_MATRIX,
)

# A narrow ResNet with an SRM + CRM decoder, trained from random weights on
# 64 px crops of the 96 px synthetic scenes: two to three minutes in all on
# two CPU cores with TensorFlow, for a val mIoU of about 0.45.
DEFAULTS = {
    "model": "hub_resnet_mini",
    "decoder_filters": 32,
    "epochs": 5,
    "steps_per_epoch": 48,
    "batch_size": 8,
    "crop_size": 64,
    "learning_rate": 3e-3,
    "val_samples": 32,
}


def add_parser(subparsers):
    defaults = DEFAULTS
    parser = subparsers.add_parser(
        "demo",
        help="Train, evaluate, export, predict and draw on the synthetic data.",
        description=(
            "Runs `train` (a small SRM + CRM segmenter, random init, on the "
            "built-in synthetic scenes), `evaluate` (mIoU, per-class IoU, "
            "boundary IoU on the val split), `export` (a SavedModel for TF "
            "Serving) and `predict` (one test scene -> PNGs with an overlay), "
            "then draws val scenes with their ground truth, prediction and "
            "SRM offset field (panel.png), the training curves (curves.png) "
            "the per-class IoU (per_class_iou.png) and the confusion matrix "
            "(confusion_matrix.png), writing everything "
            "under OUTPUT_DIR. Nothing is downloaded. The pictures need "
            "matplotlib; without it the demo draws none."
        ),
    )
    parser.add_argument("--output-dir", default="runs/demo", help="Default: runs/demo.")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="Delete the outputs of an earlier demo in OUTPUT_DIR first.",
    )
    parser.add_argument(
        "--model",
        default=defaults["model"],
        help=(
            "A --model of `keras-srcrm train` (default: "
            f"{defaults['model']}, a narrow ResNet; srcrm_lite is the paper's "
            "lightweight network, a few times slower)."
        ),
    )
    integers = (
        ("--decoder-filters", "decoder_filters", "Decoder channels"),
        ("--epochs", "epochs", "Epochs"),
        ("--steps-per-epoch", "steps_per_epoch", "Steps per epoch"),
        ("--batch-size", "batch_size", "Batch size"),
        ("--crop-size", "crop_size", "Side of the training crops"),
        ("--val-samples", "val_samples", "Val scenes scored after each epoch"),
    )
    for flag, key, text in integers:
        parser.add_argument(
            flag,
            type=int,
            default=defaults[key],
            help=f"{text} (default: {defaults[key]}).",
        )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=defaults["learning_rate"],
        help=f"Peak AdamW learning rate (default: {defaults['learning_rate']}).",
    )
    parser.add_argument(
        "--synthetic-size",
        type=int,
        default=96,
        help="Side of the synthetic scenes in pixels (default: 96).",
    )
    parser.add_argument(
        "--synthetic-samples",
        type=int,
        help="Synthetic scenes per split (default: those of train and evaluate).",
    )
    parser.add_argument(
        "--scenes", type=int, default=4, help="Val scenes in panel.png (default: 4)."
    )
    parser.add_argument(
        "--no-jit",
        action="store_true",
        help=(
            "Train without XLA compilation. On TensorFlow the demo always "
            "does: in a run this short, compiling costs more than it saves."
        ),
    )
    parser.set_defaults(run=run)
    return parser


def _parse(argv):
    """Parses `keras-srcrm ARGV` for one of the commands the demo chains."""
    # A parser of just those commands: importing `cli.main` here would make
    # the demo and the parser that lists it import each other.
    from keras_srcrm.cli import evaluate
    from keras_srcrm.cli import export
    from keras_srcrm.cli import predict
    from keras_srcrm.cli import train

    parser = argparse.ArgumentParser(prog="keras-srcrm")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in (train, evaluate, export, predict):
        command.add_parser(subparsers)
    return parser.parse_args(argv)


def _run(argv):
    """Runs one of the commands the demo chains, as `keras-srcrm ARGV` would."""
    print(f"\n$ keras-srcrm {' '.join(argv)}", flush=True)
    args = _parse(argv)
    return args.run(args)


def _data_flags(args):
    flags = ["--synthetic-size", str(args.synthetic_size)]
    if args.synthetic_samples is not None:
        flags += ["--synthetic-samples", str(args.synthetic_samples)]
    return flags


def _train_command(args, train_dir):
    import keras

    # A progress bar in a terminal; one line per epoch in a log.
    verbose = "1" if sys.stdout.isatty() else "2"
    command = [
        "train",
        "--model", args.model,
        "--decoder-filters", str(args.decoder_filters),
        "--epochs", str(args.epochs),
        "--steps-per-epoch", str(args.steps_per_epoch),
        "--batch-size", str(args.batch_size),
        "--crop-size", str(args.crop_size),
        "--learning-rate", str(args.learning_rate),
        "--val-samples", str(args.val_samples),
        *_data_flags(args),
        "--output-dir", str(train_dir),
        "--verbose", verbose,
    ]  # fmt: skip
    if args.no_jit or keras.backend.backend() == "tensorflow":
        command.append("--no-jit")
    return command


def _check_args(args):
    for flag in ("--scenes", "--synthetic-size"):
        value = getattr(args, flag[2:].replace("-", "_"))
        if value < 1:
            raise ValueError(f"{flag} must be >= 1. Received: {value}")


def run(args):
    _check_args(args)
    output_dir = Path(args.output_dir)
    common.check_writable(output_dir, "--output-dir")
    existing = [output_dir / part for part in PARTS if (output_dir / part).exists()]
    if existing and not args.overwrite:
        raise FileExistsError(
            f"{str(output_dir)!r} holds an earlier demo ({existing[0].name}); "
            "pass --overwrite to replace it."
        )
    for path in existing:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    start = time.time()
    seconds = {}

    def timed(name, function, *arguments):
        mark = time.time()
        result = function(*arguments)
        seconds[name] = round(time.time() - mark, 1)
        return result

    train_dir = output_dir / "train"
    metrics = output_dir / METRICS
    timed("train", _run, _train_command(args, train_dir))
    scores = timed(
        "evaluate",
        _run,
        ["evaluate", str(train_dir), *_data_flags(args), "--output", str(metrics)],
    )
    timed("export", _run, ["export", str(train_dir), str(output_dir / "saved_model")])
    predict = ["predict", str(train_dir), "--synthetic-size", str(args.synthetic_size)]
    written = timed(
        "predict", _run, [*predict, "--output-dir", str(output_dir / "predict")]
    )
    overlay = next(p for p in written if Path(p).name.endswith("_overlay.png"))
    pictures = timed("pictures", _draw_pictures, args, output_dir, train_dir)
    total = time.time() - start
    summary = {
        "mean_iou": scores["mean_iou"],
        "boundary_iou": scores["boundary_iou"],
        "metrics": str(metrics),
        "model": str(train_dir / "model.keras"),
        "saved_model": str(output_dir / "saved_model"),
        "overlay": str(overlay),
        **{name: str(path) for name, path in pictures.items()},
        "seconds": round(total, 1),
        "seconds_per_step": seconds,
    }
    print("\nDemo done:\n" + json.dumps(summary, indent=2))
    look_at = [*pictures.values(), overlay]
    print(
        f"Demo done in {total:.0f} s, val mIoU {100 * scores['mean_iou']:.1f} %. "
        f"Look at {', '.join(str(path) for path in look_at)}",
        flush=True,
    )
    return summary


def _draw_pictures(args, output_dir, train_dir):
    """Draws the demo's pictures; returns `{name: path}` (empty without matplotlib)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            "\nNo pictures drawn: matplotlib is not installed (pip install matplotlib)."
        )
        return {}
    from keras_srcrm import data
    from keras_srcrm import inference
    from keras_srcrm.cli import pictures
    from keras_srcrm.training import read_history

    print(f"\nDrawing pictures in {output_dir}", flush=True)
    model = common.load_model(train_dir)
    scores = json.loads((output_dir / METRICS).read_text())
    class_names = scores["class_names"]
    images, masks = data.synthetic_arrays(
        args.scenes, args.synthetic_size, split="val", dtype="float32"
    )
    predictions = inference.segment(model, images)
    figures = {
        "panel": (
            PANEL,
            pictures.prediction_panel(
                images,
                masks,
                predictions,
                class_names,
                pictures.srm_offsets(model, images),
            ),
        ),
        "curves": (
            CURVES,
            pictures.training_curves(
                read_history(train_dir / "history.csv"),
                title=f"{args.model}, synthetic scenes",
            ),
        ),
        "per_class_iou": (
            PER_CLASS_IOU,
            pictures.per_class_iou_chart(class_names, scores["per_class_iou"]),
        ),
        "confusion_matrix": (
            CONFUSION_MATRIX,
            pictures.confusion_matrix_chart(class_names, scores["confusion_matrix"]),
        ),
    }
    return {
        name: pictures.save(figure, output_dir / file)
        for name, (file, figure) in figures.items()
    }
