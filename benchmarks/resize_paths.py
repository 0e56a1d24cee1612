"""`srcrm_lite` with `resize_bilinear`'s interpolation-matrix path against its
gather path, on the current Keras backend.

Two copies of the model, one per path (XLA and TensorFlow's graphs fix the
path when they trace), compiled as `throughput.py` compiles them; their train
and inference steps alternate in one process, so that both see the same
machine. Prints the median and best milliseconds of each and the ratio.

    KERAS_BACKEND=jax python benchmarks/resize_paths.py --size 256 512 --batch 2
"""

import contextlib

from alternating import compare
from alternating import model_steps
from alternating import parse_arguments
from throughput import random_batch

from keras_srcrm.ops import resize


@contextlib.contextmanager
def matmul_max_input(limit):
    """`resize.MATMUL_MAX_INPUT` is `limit` inside the block (0: gathers only)."""
    previous = resize.MATMUL_MAX_INPUT
    resize.MATMUL_MAX_INPUT = limit
    try:
        yield
    finally:
        resize.MATMUL_MAX_INPUT = previous


def main():
    args = parse_arguments(__doc__.splitlines()[0])
    batch = random_batch(tuple(args.size), args.batch)
    limits = {"gather": 0, "matrix": resize.MATMUL_MAX_INPUT}
    paths = {}
    for path, limit in limits.items():
        with matmul_max_input(limit):
            steps = model_steps(*batch)
        paths[path] = (lambda limit=limit: matmul_max_input(limit), steps)
    compare(args, paths, "gather", "matrix")


if __name__ == "__main__":
    main()
