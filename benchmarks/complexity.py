"""Prints the paper-style "GFLOPs" (GMACs) and parameter counts of models.

Segmentation papers report multiply-adds at a Cityscapes-size input,
1 x 3 x 1024 x 2048, and call them FLOPs. This script counts them with
`keras_srcrm.analysis.count_flops` (symbolically: nothing is computed, so it takes
seconds on a CPU) and `count_params`:

    python benchmarks/complexity.py                      # the default list
    python benchmarks/complexity.py resnet50 --input-shape 1 512 1024 3
    python benchmarks/complexity.py --list
    KERAS_BACKEND=jax python benchmarks/complexity.py --json

Models are looked up by name in `MODELS`, a dict of name -> builder; a
builder takes the input's `(height, width, channels)` and returns a Keras
model with random weights. Add an entry with the `register` decorator:

    @register("srm_resnet18")
    def build_srm_resnet18(image_shape):
        return ...

The counts do not depend on the backend (the tests check that TensorFlow, JAX
and PyTorch agree exactly); `KERAS_BACKEND` only changes how long the symbolic
pass takes.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The repository root, so that the script runs from a clone without install.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODELS = {}
DEFAULT_MODELS = (
    "resnet50",
    "srcrm_lite",
    "srcrm_resnet18",
    "srcrm_resnet50",
    "srcrm_resnet101",
    "fpn_resnet18",
)
DEFAULT_INPUT_SHAPE = (1, 1024, 2048, 3)


def register(name):
    """Adds a builder `fn(image_shape) -> keras.Model` to `MODELS`."""

    def decorator(builder):
        if name in MODELS:
            raise ValueError(f"A model named {name!r} is already registered.")
        MODELS[name] = builder
        return builder

    return decorator


@register("resnet50")
def build_resnet50(image_shape):
    """keras.applications ResNet50 (v1) without its classifier."""
    import keras

    return keras.applications.ResNet50(
        weights=None, include_top=False, input_shape=image_shape
    )


@register("mobilenetv3_large")
def build_mobilenetv3_large(image_shape):
    """keras.applications MobileNetV3Large without its classifier."""
    import keras

    return keras.applications.MobileNetV3Large(
        weights=None, include_top=False, input_shape=image_shape
    )


def _register_segmenter_presets():
    """Every named segmenter configuration, with random weights (19 classes)."""
    from keras_srcrm.models.segmenter_presets import SEGMENTER_PRESETS

    def builder_of(preset_name):
        def build(image_shape):
            from keras_srcrm.models import SRCRMSegmenter

            return SRCRMSegmenter.from_preset(
                preset_name, 19, load_weights=False, input_shape=image_shape
            )

        build.__doc__ = SEGMENTER_PRESETS[preset_name].description
        return build

    for preset_name in SEGMENTER_PRESETS:
        register(preset_name)(builder_of(preset_name))


_register_segmenter_presets()


def measure(name, input_shape, include_sampling=True):
    """Counts one registered model; returns a JSON-serialisable dict."""
    from keras_srcrm.analysis import count_flops
    from keras_srcrm.analysis import count_params

    start = time.perf_counter()
    model = MODELS[name](tuple(input_shape[1:]))
    built = time.perf_counter()
    flops = count_flops(model, tuple(input_shape), include_sampling=include_sampling)
    counted = time.perf_counter()
    params = count_params(model)
    return {
        "model": name,
        "input_shape": list(input_shape),
        "gmacs": flops.total / 1e9,
        "conv_gmacs": flops.conv / 1e9,
        "matmul_gmacs": flops.matmul / 1e9,
        "sampling_gmacs": flops.sampling / 1e9,
        "sampling_included": include_sampling,
        "macs": flops.total,
        "params": params.total,
        "trainable_params": params.trainable,
        "build_seconds": built - start,
        "count_seconds": counted - built,
    }


def format_table(rows):
    """A Markdown table of `measure` results."""
    lines = [
        "| model | input (NHWC) | GFLOPs (= GMACs) | conv | matmul | sampling "
        "| params (M) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        sampling = f"{row['sampling_gmacs']:.2f}"
        if not row["sampling_included"]:
            sampling += " (excluded)"
        lines.append(
            f"| {row['model']} | {'x'.join(map(str, row['input_shape']))} "
            f"| {row['gmacs']:.2f} | {row['conv_gmacs']:.2f} "
            f"| {row['matmul_gmacs']:.2f} | {sampling} "
            f"| {row['params'] / 1e6:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "models",
        nargs="*",
        help=f"registered model names (default: {' '.join(DEFAULT_MODELS)})",
    )
    parser.add_argument(
        "--input-shape",
        type=int,
        nargs=4,
        default=DEFAULT_INPUT_SHAPE,
        metavar=("N", "H", "W", "C"),
        help="channels-last input shape (default: 1 1024 2048 3)",
    )
    parser.add_argument(
        "--no-sampling",
        action="store_true",
        help="leave bilinear resizes and warps out of the total",
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--list", action="store_true", help="list the models")
    args = parser.parse_args(argv)

    if args.list:
        for name, builder in MODELS.items():
            summary = (builder.__doc__ or "").strip().splitlines()
            print(f"{name}: {summary[0] if summary else ''}")
        return 0
    names = args.models or list(DEFAULT_MODELS)
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {sorted(MODELS)}")

    import keras

    rows = []
    for name in names:
        row = measure(name, args.input_shape, include_sampling=not args.no_sampling)
        row["backend"] = keras.backend.backend()
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
    if not args.json:
        print(
            f"Multiply-adds of one forward pass (1 MAC = 1 paper 'FLOP'; "
            f"tf.profiler would report twice as much), "
            f"backend {keras.backend.backend()}:\n"
        )
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
