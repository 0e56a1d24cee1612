"""The operators that take the time of one `srcrm_lite` training step on PyTorch.

Runs `train_on_batch` of `srcrm_lite` (random weights, 19 classes) under
`torch.profiler` with the Keras PyTorch backend and prints the operators with
the most self time on the device (the GPU where there is one, else the CPU).

    KERAS_BACKEND=torch python benchmarks/torch_kernels.py --size 1024 1024 --batch 8
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import torch  # noqa: E402
from throughput import build_keras_model  # noqa: E402
from throughput import random_batch  # noqa: E402
from torch.profiler import ProfilerActivity  # noqa: E402
from torch.profiler import profile  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[256, 512])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args()
    if keras.backend.backend() != "torch":
        raise SystemExit("Run with KERAS_BACKEND=torch.")
    keras.utils.set_random_seed(0)
    model, from_logits = build_keras_model("srcrm_lite")
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
    )
    images, labels = random_batch(tuple(args.size), args.batch)
    for _ in range(2):
        model.train_on_batch(images, labels)
    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as trace:
        model.train_on_batch(images, labels)
    sort_by = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(trace.key_averages().table(sort_by=sort_by, row_limit=args.rows))


if __name__ == "__main__":
    main()
