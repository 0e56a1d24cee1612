"""Exact integer pixel counts on every backend.

Counts are kept as a carry-split pair of int32 tensors, `count = hi * 2**30 + lo`
with `0 <= lo < 2**30`. Plain int32 would overflow after 2**31 pixels (a few
Cityscapes epochs' worth of a single class), and an int64 variable is silently
int32 on JAX unless `jax_enable_x64` is set. The pair is exact up to 2**61.
"""

import keras
import numpy as np
from keras import ops

_LOW_BITS = 30
_LOW_MASK = (1 << _LOW_BITS) - 1
_LOW_SCALE = float(1 << _LOW_BITS)


def add_exact(hi, lo, increment):
    """Adds a non-negative int32 increment to a carry-split count.

    Args:
        hi: int32 tensor, the high part of the running count.
        lo: int32 tensor of the same shape, the low part, in `[0, 2**30)`.
        increment: int32 tensor broadcastable to `hi`, each entry in
            `[0, 2**31)`.

    Returns:
        The new `(hi, lo)` pair.
    """
    increment = ops.cast(increment, "int32")
    # Both addends of `total` are below 2**30, so the int32 sum cannot overflow.
    total = lo + ops.bitwise_and(increment, _LOW_MASK)
    carry = ops.right_shift(total, _LOW_BITS)
    new_lo = ops.bitwise_and(total, _LOW_MASK)
    new_hi = hi + ops.right_shift(increment, _LOW_BITS) + carry
    return new_hi, new_lo


def to_float(hi, lo):
    """Returns a carry-split count as a float32 tensor, for in-graph results."""
    return ops.cast(hi, "float32") * _LOW_SCALE + ops.cast(lo, "float32")


def to_int64(hi, lo):
    """Returns a carry-split count as an exact NumPy int64 array (eager only)."""
    hi = np.asarray(ops.convert_to_numpy(hi), dtype=np.int64)
    lo = np.asarray(ops.convert_to_numpy(lo), dtype=np.int64)
    return (hi << _LOW_BITS) + lo


def histogram(indices, length):
    """Counts the occurrences of each value of `indices` in `[0, length)`.

    Args:
        indices: int32 tensor of any shape; every entry must be in
            `[0, length)`.
        length: Python int, the number of bins.

    Returns:
        An int32 tensor of shape `(length,)`, exact while the total count of
        `indices` stays below 2**31.
    """
    indices = ops.reshape(ops.cast(indices, "int32"), (-1,))
    if keras.backend.backend() == "torch":
        # Keras's torch `segment_sum` accumulates in float32 (inexact past
        # 2**24); `torch.bincount` counts in int64.
        import torch

        counts = torch.bincount(indices, minlength=length)
        return counts.to(torch.int32)
    # `bincount` has no static output length on JAX, so it cannot be jitted;
    # an int32 segment sum is an exact scatter-add under XLA.
    return ops.segment_sum(
        ops.ones_like(indices), indices, num_segments=length, sorted=False
    )
