"""`keras-srcrm benchmark`: parameters, GMACs and throughput of a model."""

import json
import time

import numpy as np


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "benchmark",
        help="Parameters, paper-style GFLOPs (GMACs) and images/s of a model.",
        description=(
            "Builds a segmenter (random weights, nothing downloaded) or loads "
            "a .keras file, counts its parameters and multiply-adds (the "
            "'GFLOPs' of segmentation papers) at --image-size, and times "
            "inference and, with --train, jit-compiled training steps on "
            "random data."
        ),
    )
    parser.add_argument(
        "--model",
        default="srcrm_lite",
        help="A named configuration or backbone spec (see `train --help`), or a "
        ".keras file. Default: srcrm_lite.",
    )
    parser.add_argument("--num-classes", type=int, default=19, help="Default: 19.")
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=[1024, 2048],
        metavar=("HEIGHT", "WIDTH"),
        help="Input size of the complexity count (default: 1024 2048).",
    )
    parser.add_argument(
        "--timing-size",
        type=int,
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        help="Input size of the timings (default: --image-size).",
    )
    parser.add_argument("--batch-size", type=int, default=1, help="Default: 1.")
    parser.add_argument(
        "--steps", type=int, default=5, help="Timed steps after warm-up (0: none)."
    )
    parser.add_argument(
        "--train", action="store_true", help="Also time training steps (jit)."
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON line.")
    parser.set_defaults(run=run)
    return parser


def _build(args):
    from pathlib import Path

    from keras_srcrm.cli import common
    from keras_srcrm.models import SRCRMSegmenter

    if (
        args.model.endswith(".keras")
        or Path(args.model).is_dir()
        and (Path(args.model) / common.MODEL_FILE).is_file()
    ):
        return common.load_model(args.model)
    return SRCRMSegmenter.from_preset(args.model, args.num_classes, load_weights=False)


def _timed(step, steps):
    step()  # compiles
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def run(args):
    import keras

    from keras_srcrm.analysis import count_flops
    from keras_srcrm.analysis import count_params

    for name in ("num_classes", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1.")
    if args.steps < 0:
        raise ValueError(f"--steps must be >= 0. Received: {args.steps}")
    if min(args.image_size) < 32:
        raise ValueError(f"--image-size must be >= 32. Received: {args.image_size}")
    model = _build(args)
    height, width = args.image_size
    flops = count_flops(model, (1, height, width, 3))
    report = {
        "model": args.model,
        "backend": keras.backend.backend(),
        "params_m": round(count_params(model).total / 1e6, 3),
        "image_size": [height, width],
        "gmacs": round(flops.gmacs, 2),
    }
    if args.steps:
        t_height, t_width = args.timing_size or args.image_size
        rng = np.random.default_rng(0)
        images = rng.uniform(0, 255, (args.batch_size, t_height, t_width, 3))
        images = images.astype("float32")
        seconds = _timed(lambda: model.predict_on_batch(images), args.steps)
        report["timing_size"] = [t_height, t_width]
        report["batch_size"] = args.batch_size
        report["predict_images_per_s"] = round(args.batch_size / seconds, 3)
        if args.train:
            from keras_srcrm import training

            num_classes = model.output_shape[-1]
            labels = rng.integers(0, num_classes, images.shape[:3]).astype("int32")
            training.compile_segmenter(model, num_classes, optimizer="adamw")
            seconds = _timed(lambda: model.train_on_batch(images, labels), args.steps)
            report["train_images_per_s"] = round(args.batch_size / seconds, 3)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>22}: {value}")
    return report
