"""`srcrm_lite` on PyTorch with the copy-free convolution and batch norm
(`keras_srcrm.layers.conv_and_norm`) against Keras's own path.

One model; its train and inference steps alternate between the two paths
(`conv_and_norm.keras_path()` switches to Keras's) in one process, so that
both see the same machine. Prints the median and best milliseconds of each
and the ratio.

    KERAS_BACKEND=torch python benchmarks/torch_conv_norm.py --size 256 512 --batch 2
"""

import contextlib
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
from alternating import compare  # noqa: E402
from alternating import model_steps  # noqa: E402
from alternating import parse_arguments  # noqa: E402
from throughput import random_batch  # noqa: E402

from keras_srcrm.layers import conv_and_norm  # noqa: E402


def main():
    args = parse_arguments(__doc__.splitlines()[0])
    if keras.backend.backend() != "torch":
        raise SystemExit("Run with KERAS_BACKEND=torch.")
    steps = model_steps(*random_batch(tuple(args.size), args.batch))
    paths = {
        "Keras's path": (conv_and_norm.keras_path, steps),
        "copy-free path": (contextlib.nullcontext, steps),
    }
    compare(args, paths, "Keras's path", "copy-free path")


if __name__ == "__main__":
    main()
