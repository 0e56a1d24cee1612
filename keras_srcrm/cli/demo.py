"""`keras-srcrm demo`: the whole job on the synthetic data, in one command."""

import argparse
import json
import shutil
import time
from pathlib import Path

from keras_srcrm.cli import common


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="Train, evaluate, export and predict on the synthetic data.",
        description=(
            "Runs `train` (an SRM + CRM segmenter on the built-in synthetic "
            "scenes), `evaluate` (mIoU, per-class IoU, boundary IoU on the "
            "val split), `export` (a SavedModel for TF Serving) and "
            "`predict` (one test scene -> PNGs with an overlay), writing "
            "everything under OUTPUT_DIR. Nothing is downloaded."
        ),
    )
    parser.add_argument("--output-dir", default="runs/demo", help="Default: runs/demo.")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="Delete the outputs of an earlier demo in OUTPUT_DIR first.",
    )
    parser.add_argument("--model", default="srcrm_lite", help="Default: srcrm_lite.")
    parser.add_argument("--epochs", type=int, default=4, help="Default: 4.")
    parser.add_argument("--steps-per-epoch", type=int, default=64, help="Default: 64.")
    parser.add_argument("--batch-size", type=int, default=8, help="Default: 8.")
    parser.add_argument(
        "--no-jit", action="store_true", help="Train without XLA compilation."
    )
    parser.set_defaults(run=run)
    return parser


def _run(argv):
    """Runs one of the commands the demo chains, as `keras-srcrm ARGV` would."""
    # A parser of just those commands: importing `cli.main` here would make
    # the demo and the parser that lists it import each other.
    from keras_srcrm.cli import evaluate
    from keras_srcrm.cli import export
    from keras_srcrm.cli import predict
    from keras_srcrm.cli import train

    print(f"\n$ keras-srcrm {' '.join(argv)}", flush=True)
    parser = argparse.ArgumentParser(prog="keras-srcrm")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in (train, evaluate, export, predict):
        command.add_parser(subparsers)
    args = parser.parse_args(argv)
    return args.run(args)


def run(args):
    output_dir = Path(args.output_dir)
    common.check_writable(output_dir, "--output-dir")
    parts = ("train", "metrics.json", "saved_model", "predict")
    existing = [output_dir / part for part in parts if (output_dir / part).exists()]
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
    train_dir = str(output_dir / "train")
    train = [
        "train",
        "--model", args.model,
        "--epochs", str(args.epochs),
        "--steps-per-epoch", str(args.steps_per_epoch),
        "--batch-size", str(args.batch_size),
        "--output-dir", train_dir,
        "--verbose", "2",
    ]  # fmt: skip
    if args.no_jit:
        train.append("--no-jit")
    _run(train)
    scores = _run(["evaluate", train_dir, "--output", str(output_dir / "metrics.json")])
    _run(["export", train_dir, str(output_dir / "saved_model")])
    written = _run(["predict", train_dir, "--output-dir", str(output_dir / "predict")])
    summary = {
        "mean_iou": scores["mean_iou"],
        "boundary_iou": scores["boundary_iou"],
        "model": f"{train_dir}/model.keras",
        "saved_model": str(output_dir / "saved_model"),
        "overlay": str(next(p for p in written if p.name.endswith("_overlay.png"))),
        "seconds": round(time.time() - start, 1),
    }
    print("\nDemo done:\n" + json.dumps(summary, indent=2))
    return summary
