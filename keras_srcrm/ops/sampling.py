"""Bilinear sampling at absolute pixel coordinates, shared by the warp ops.

Coordinates are in pixel units of the sampled feature map: `x` in `[0, W - 1]`
and `y` in `[0, H - 1]` cover the pixel centres. Every function here takes
channels-last features `(B, H, W, C)` and coordinate maps `(B, H_out, W_out)`.

The work is split in two:

- `apply_padding_mode` maps coordinates that fall outside the image according
  to the padding mode. It is shared by every backend, so all of them implement
  `"border"` and `"reflection"` identically; afterwards only zero padding is
  left to do.
- `zero_padded_bilinear` gathers the four neighbours with zero padding. It has
  one generic `keras.ops` implementation (`zero_padded_bilinear_generic`) and
  may have a faster one per backend; `zero_padded_bilinear` is the single place
  that chooses.
"""

import keras
from keras import ops

PADDING_MODES = ("zeros", "border", "reflection")


def compute_dtype_for(dtype):
    """The dtype of coordinates and interpolation weights for a feature dtype.

    Weights are float32 for float32 and lower-precision inputs (float16,
    bfloat16), and float64 for float64 inputs.
    """
    return (
        "float64"
        if keras.backend.standardize_dtype(dtype) == "float64"
        else ("float32")
    )


def _reflect(coords, twice_low, twice_high):
    """Reflects coordinates into `[twice_low / 2, twice_high / 2]`.

    Reflection is about the interval's ends, repeated as often as needed, as
    for a mirror image tiled without repeating the edge pixel.
    """
    low = twice_low / 2.0
    span = (twice_high - twice_low) / 2.0
    # A one-pixel axis with corner alignment has an empty interval: every
    # coordinate maps to its single pixel. A safe divisor keeps NaN out of the
    # gradient of the branch that `where` discards.
    empty = ops.less_equal(span, 0.0)
    safe_span = ops.where(empty, 1.0, span)
    distance = ops.abs(coords - low)
    flips = ops.floor(distance / safe_span)
    extra = distance - flips * safe_span
    # The quotient can round across an integer (XLA may also divide by
    # multiplying with a rounded reciprocal), leaving `extra` just outside
    # [0, span); one correction step either way puts it back.
    below = ops.less(extra, 0.0)
    above = ops.greater_equal(extra, safe_span)
    flips = flips - ops.cast(below, flips.dtype) + ops.cast(above, flips.dtype)
    extra = ops.where(
        below, extra + safe_span, ops.where(above, extra - safe_span, extra)
    )
    even = ops.equal(ops.mod(flips, 2.0), 0.0)
    reflected = ops.where(even, low + extra, low + safe_span - extra)
    return ops.where(empty, ops.zeros_like(coords), reflected)


def _apply_padding_mode_1d(coords, size, padding_mode, align_corners):
    size = ops.cast(size, coords.dtype)
    if padding_mode == "reflection":
        if align_corners:
            coords = _reflect(coords, 0.0, 2.0 * (size - 1.0))
        else:
            coords = _reflect(coords, -1.0, 2.0 * size - 1.0)
    if padding_mode in ("border", "reflection"):
        return ops.clip(coords, 0.0, size - 1.0)
    # Zero padding: every coordinate beyond one pixel outside the image samples
    # only zeros, so clamping there changes no value and no gradient, and keeps
    # huge offsets far from integer overflow when cast to indices.
    return ops.clip(coords, -2.0, size + 1.0)


def apply_padding_mode(x, y, height, width, padding_mode, align_corners):
    """Maps pixel coordinates into the range that zero-padded sampling needs.

    Args:
        x: Horizontal pixel coordinates, `(B, H_out, W_out)`, finite.
        y: Vertical pixel coordinates, same shape.
        height: Height of the sampled map (int or scalar tensor).
        width: Width of the sampled map.
        padding_mode: One of `PADDING_MODES`.
        align_corners: Whether the image extent is `[0, size - 1]` (True) or
            `[-0.5, size - 0.5]` (False); only reflection depends on it.

    Returns:
        `(x, y)`, clamped or reflected so that sampling them with zero padding
        gives the requested padding mode's result.
    """
    x = _apply_padding_mode_1d(x, width, padding_mode, align_corners)
    y = _apply_padding_mode_1d(y, height, padding_mode, align_corners)
    return x, y


def zero_padded_bilinear_generic(features, x, y):
    """Bilinear sampling with zero padding, written with `keras.ops` only.

    Args:
        features: `(B, H, W, C)` feature map.
        x: `(B, H_out, W_out)` horizontal pixel coordinates, within
            `[-2, W + 1]`, in a float dtype.
        y: Vertical pixel coordinates, same shape, within `[-2, H + 1]`.

    Returns:
        `(B, H_out, W_out, C)` samples in the coordinates' dtype.
    """
    compute_dtype = x.dtype
    shape = ops.shape(features)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    out_shape = ops.shape(x)

    # The corners are floor(p) and floor(p) + 1, never floor and ceil: at an
    # integer position (zero flow) ceil == floor would make the offset
    # gradient vanish, and the SRM's offsets could never leave zero.
    x0 = ops.floor(x)
    y0 = ops.floor(y)
    wx1 = x - x0
    wy1 = y - y0
    wx0 = 1.0 - wx1
    wy0 = 1.0 - wy1
    x0 = ops.cast(x0, "int32")
    y0 = ops.cast(y0, "int32")
    x1 = x0 + 1
    y1 = y0 + 1

    batch_offset = ops.reshape(
        ops.arange(batch, dtype="int32") * (height * width), (-1, 1, 1)
    )
    flat_features = ops.reshape(features, (-1, channels))

    def corner(yi, xi, weight):
        inside = ops.logical_and(
            ops.logical_and(xi >= 0, xi < width), ops.logical_and(yi >= 0, yi < height)
        )
        weight = weight * ops.cast(inside, compute_dtype)
        index = (
            batch_offset
            + ops.clip(yi, 0, height - 1) * width
            + ops.clip(xi, 0, width - 1)
        )
        values = ops.take(flat_features, ops.reshape(index, (-1,)), axis=0)
        values = ops.cast(values, compute_dtype)
        return values * ops.reshape(weight, (-1, 1))

    total = (
        corner(y0, x0, wy0 * wx0)
        + corner(y0, x1, wy0 * wx1)
        + corner(y1, x0, wy1 * wx0)
        + corner(y1, x1, wy1 * wx1)
    )
    return ops.reshape(total, (out_shape[0], out_shape[1], out_shape[2], channels))


def zero_padded_bilinear(features, x, y):
    """Bilinear sampling with zero padding: the one backend dispatch point.

    Same contract as `zero_padded_bilinear_generic`. PyTorch has a fused fast
    path (`sampling_torch`); TensorFlow and JAX use the generic path, which
    their XLA compilers already turn into gathers and scatter-adds (see
    `benchmarks/warp.py`).
    """
    if keras.backend.backend() == "torch":
        from keras_srcrm.ops import sampling_torch

        return sampling_torch.zero_padded_bilinear(features, x, y)
    return zero_padded_bilinear_generic(features, x, y)


def bilinear_sample(features, x, y, padding_mode, align_corners):
    """Samples `features` at pixel coordinates `(x, y)`.

    Non-finite coordinates give an output of 0 at that position and a zero
    gradient, in every padding mode.

    Args:
        features: `(B, H, W, C)` feature map, any float dtype.
        x: `(B, H_out, W_out)` horizontal pixel coordinates.
        y: `(B, H_out, W_out)` vertical pixel coordinates.
        padding_mode: One of `PADDING_MODES`.
        align_corners: See `apply_padding_mode`.

    Returns:
        `(B, H_out, W_out, C)` samples in the dtype of `features`.
    """
    compute_dtype = compute_dtype_for(features.dtype)
    x = ops.cast(x, compute_dtype)
    y = ops.cast(y, compute_dtype)
    finite = ops.logical_and(ops.isfinite(x), ops.isfinite(y))
    # A non-finite position is sent far outside the image, where zero padding
    # gives 0; `where` also keeps its gradient at exactly zero.
    far_outside = ops.zeros_like(x) - 4.0
    x = ops.where(finite, x, far_outside)
    y = ops.where(finite, y, far_outside)
    shape = ops.shape(features)
    x, y = apply_padding_mode(x, y, shape[1], shape[2], padding_mode, align_corners)
    if padding_mode != "zeros":
        # Border and reflection clamp the far-outside sentinel back into the
        # image, so those positions are zeroed here instead.
        x = ops.where(finite, x, far_outside)
        y = ops.where(finite, y, far_outside)
    samples = zero_padded_bilinear(features, x, y)
    return ops.cast(samples, features.dtype)
