"""Two implementations of `srcrm_lite`, timed step by step in one process.

Shared by the benchmarks that compare a library path with its alternative
(`torch_conv_norm.py`, `resize_paths.py`): on a small CPU, separate processes
differ by several per cent from run to run, so the two paths' train and
inference steps alternate instead, and both see the same machine.
"""

import argparse
import statistics
import time

import keras
from throughput import _jit_compile
from throughput import build_keras_model


def parse_arguments(description):
    """`--size`, `--batch` and `--repeats` (alternating steps per path)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--size", type=int, nargs=2, default=[256, 512])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=6)
    return parser.parse_args()


def model_steps(images, labels):
    """`{"train": ..., "inference": ...}` step functions of a new srcrm_lite.

    Random weights (seed 0), compiled as `throughput.py` compiles it;
    inference returns label maps.
    """
    keras.utils.set_random_seed(0)
    model, from_logits = build_keras_model("srcrm_lite")
    labeller = keras.Model(model.inputs, keras.ops.argmax(model.outputs[0], axis=-1))
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        jit_compile=_jit_compile("auto"),
    )
    return {
        "train": lambda: model.train_on_batch(images, labels),
        "inference": lambda: labeller.predict_on_batch(images),
    }


def compare(args, paths, baseline, candidate):
    """Times and prints the paths' steps, alternating, with the speed-up.

    Args:
        args: `parse_arguments()`'s result.
        paths: `{name: (context_manager_factory, steps)}`, `steps` as
            `model_steps` returns; each step runs inside its path's context.
        baseline: The name of the path the speed-up is measured against.
        candidate: The name of the path whose speed-up is printed.
    """
    times = {(path, step): [] for path in paths for step in ("train", "inference")}
    for repeat in range(args.repeats + 1):
        for path, (context, steps) in paths.items():
            for step, function in steps.items():
                with context():
                    start = time.perf_counter()
                    function()
                    seconds = time.perf_counter() - start
                if repeat:  # The first round builds and compiles.
                    times[path, step].append(seconds)
    print(
        f"srcrm_lite on {keras.backend.backend()}, {args.size[0]}x{args.size[1]}, "
        f"batch {args.batch}, {args.repeats} alternating steps each; ms per "
        "step, median (best)"
    )
    width = max(len(path) for path in paths)
    print(f"{'':<{width}} {'train':>14} {'inference':>14}")
    for path in paths:
        cells = [
            f"{1000 * statistics.median(times[path, s]):7.0f} "
            f"({1000 * min(times[path, s]):4.0f})"
            for s in ("train", "inference")
        ]
        print(f"{path:<{width}} {cells[0]:>14} {cells[1]:>14}")
    ratios = [
        statistics.median(times[baseline, s]) / statistics.median(times[candidate, s])
        for s in ("train", "inference")
    ]
    print(f"{'speed-up':<{width}} {ratios[0]:13.2f}x {ratios[1]:13.2f}x")
