"""`srcrm_lite` on PyTorch with the decoder's copy-free convolution and batch
norm (`keras_srcrm.layers.conv_and_norm`) against Keras's own path.

Both in one process, the two alternating step by step so that both see the
same machine: train and inference steps of `srcrm_lite` (random weights, 19
classes), median and best milliseconds, and the ratio.

    KERAS_BACKEND=torch python benchmarks/torch_conv_norm.py --size 256 512 --batch 2
"""

import argparse
import contextlib
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
from throughput import build_keras_model  # noqa: E402
from throughput import random_batch  # noqa: E402

from keras_srcrm.layers import conv_and_norm  # noqa: E402

PATHS = {
    "Keras's path": conv_and_norm.keras_path,
    "copy-free path": contextlib.nullcontext,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[256, 512])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    if keras.backend.backend() != "torch":
        raise SystemExit("Run with KERAS_BACKEND=torch.")
    keras.utils.set_random_seed(0)
    model, from_logits = build_keras_model("srcrm_lite")
    labeller = keras.Model(model.inputs, keras.ops.argmax(model.outputs[0], axis=-1))
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
    )
    images, labels = random_batch(tuple(args.size), args.batch)
    steps = {
        "train": lambda: model.train_on_batch(images, labels),
        "inference": lambda: labeller.predict_on_batch(images),
    }
    times = {(path, step): [] for path in PATHS for step in steps}
    for repeat in range(args.repeats + 1):
        for path, context in PATHS.items():
            for step, function in steps.items():
                with context():
                    start = time.perf_counter()
                    function()
                    seconds = time.perf_counter() - start
                if repeat:  # The first round warms up.
                    times[path, step].append(seconds)
    print(
        f"srcrm_lite on torch, {args.size[0]}x{args.size[1]}, batch {args.batch}, "
        f"{args.repeats} alternating steps each; ms per step, median (best)"
    )
    print(f"{'':<16} {'train':>14} {'inference':>14}")
    for path in PATHS:
        cells = [
            f"{1000 * statistics.median(times[path, s]):7.0f} "
            f"({1000 * min(times[path, s]):4.0f})"
            for s in steps
        ]
        print(f"{path:<16} {cells[0]:>14} {cells[1]:>14}")
    ratios = [
        statistics.median(times["Keras's path", s])
        / statistics.median(times["copy-free path", s])
        for s in steps
    ]
    print(f"{'speed-up':<16} {ratios[0]:13.2f}x {ratios[1]:13.2f}x")


if __name__ == "__main__":
    main()
