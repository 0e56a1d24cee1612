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
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.profiler import ProfilerActivity  # noqa: E402
from torch.profiler import profile  # noqa: E402

from keras_srcrm.models import SRCRMSegmenter  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[256, 512])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args()
    if keras.backend.backend() != "torch":
        raise SystemExit("Run with KERAS_BACKEND=torch.")
    keras.utils.set_random_seed(0)
    model = SRCRMSegmenter.from_preset("srcrm_lite", 19, load_weights=False)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    height, width = args.size
    images = keras.ops.convert_to_tensor(
        rng.uniform(0, 255, (args.batch, height, width, 3)).astype("float32")
    )
    labels = keras.ops.convert_to_tensor(
        rng.integers(0, 19, (args.batch, height, width)).astype("int32")
    )
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
