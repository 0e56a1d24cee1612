"""`srcrm_lite` with `resize_bilinear`'s interpolation-matrix path against its
gather path, on the current Keras backend.

Two copies of the model, one per path (XLA and TensorFlow's graphs fix the
path when they trace), compiled as `throughput.py` compiles them; their train
and inference steps alternate so that both see the same machine. Prints the
median and best milliseconds of each and the ratio.

    KERAS_BACKEND=jax python benchmarks/resize_paths.py --size 256 512 --batch 2
"""

import argparse
import statistics
import time

import keras
from throughput import _jit_compile
from throughput import build_keras_model
from throughput import random_batch

from keras_srcrm.ops import resize

PATHS = {"gather": 0, "matrix": resize.MATMUL_MAX_INPUT}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[256, 512])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    images, labels = random_batch(tuple(args.size), args.batch)
    steps = {}
    for path, limit in PATHS.items():
        resize.MATMUL_MAX_INPUT = limit
        keras.utils.set_random_seed(0)
        model, from_logits = build_keras_model("srcrm_lite")
        labeller = keras.Model(
            model.inputs, keras.ops.argmax(model.outputs[0], axis=-1)
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
            jit_compile=_jit_compile("auto"),
        )
        steps[path, "train"] = lambda m=model: m.train_on_batch(images, labels)
        steps[path, "inference"] = lambda m=labeller: m.predict_on_batch(images)
    times = {key: [] for key in steps}
    for repeat in range(args.repeats + 1):
        for (path, step), function in steps.items():
            resize.MATMUL_MAX_INPUT = PATHS[path]
            start = time.perf_counter()
            function()
            if repeat:  # The first round builds and compiles.
                times[path, step].append(time.perf_counter() - start)
    print(
        f"srcrm_lite on {keras.backend.backend()}, {args.size[0]}x{args.size[1]}, "
        f"batch {args.batch}, {args.repeats} alternating steps each; ms per "
        "step, median (best)"
    )
    print(f"{'':<8} {'train':>14} {'inference':>14}")
    for path in PATHS:
        cells = [
            f"{1000 * statistics.median(times[path, s]):7.0f} "
            f"({1000 * min(times[path, s]):4.0f})"
            for s in ("train", "inference")
        ]
        print(f"{path:<8} {cells[0]:>14} {cells[1]:>14}")
    ratios = [
        statistics.median(times["gather", s]) / statistics.median(times["matrix", s])
        for s in ("train", "inference")
    ]
    print(f"{'speed-up':<8} {ratios[0]:13.2f}x {ratios[1]:13.2f}x")


if __name__ == "__main__":
    main()
