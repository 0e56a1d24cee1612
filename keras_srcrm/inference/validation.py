"""Argument checks shared by the inference functions."""

import math

import numpy as np
from keras import ops

OUTPUTS = ("logits", "probabilities", "classes")


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_images(images):
    """Returns `images` as a float32 backend tensor of shape `(B, H, W, 3)`."""
    if not hasattr(images, "shape"):
        images = np.asarray(images)
    shape = tuple(images.shape)
    if len(shape) != 4:
        raise ValueError(
            "`images` must be a rank-4 batch (batch, height, width, 3); add a "
            "batch axis to a single image, e.g. `images[None]`. "
            f"Received: images.shape={shape}"
        )
    if shape[-1] != 3:
        raise ValueError(
            "`images` must have 3 (RGB) channels in the last axis. "
            f"Received: images.shape={shape}"
        )
    if any(dim is None or dim < 1 for dim in shape[:3]):
        raise ValueError(
            "`images` must have a known, non-zero batch, height and width. "
            f"Received: images.shape={shape}"
        )
    return ops.cast(ops.convert_to_tensor(images), "float32")


def check_output(output):
    if output not in OUTPUTS:
        raise ValueError(
            f"`output` must be one of {OUTPUTS}. Received: output={output!r}"
        )
    return output


def check_positive_int(value, name):
    if not _is_int(value) or value < 1:
        raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
    return int(value)


def to_pair(value, name):
    """`value` (an int or a pair of ints, all >= 1) as `(height, width)`."""
    if _is_int(value):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(_is_int(v) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(
            f"`{name}` must be an int or a pair (height, width) of ints. "
            f"Received: {name}={value!r}"
        )
    if min(pair) < 1:
        raise ValueError(
            f"`{name}` must be at least 1 on each side. Received: {name}={value!r}"
        )
    return pair


def check_stride(stride, tile_size):
    """The `(height, width)` stride; None is two thirds of the tile."""
    if stride is None:
        return tuple(max(1, (2 * t) // 3) for t in tile_size)
    pair = to_pair(stride, "stride")
    if pair[0] > tile_size[0] or pair[1] > tile_size[1]:
        raise ValueError(
            "`stride` must not exceed `tile_size`, or tiles would leave gaps "
            f"between them. Received: stride={stride!r} with "
            f"tile_size={tile_size}"
        )
    return pair


def check_scales(scales):
    try:
        values = tuple(scales)
    except TypeError:
        values = None
    if not values or not all(
        isinstance(s, (int, float, np.integer, np.floating))
        and not isinstance(s, bool)
        and math.isfinite(s)
        and s > 0
        for s in values
    ):
        raise ValueError(
            "`scales` must be a non-empty sequence of positive numbers. "
            f"Received: scales={scales!r}"
        )
    return tuple(float(s) for s in values)
