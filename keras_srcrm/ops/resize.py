"""Bilinear resizing with a choice of corner alignment, computed in float32."""

from keras import ops

from keras_srcrm.ops import sampling
from keras_srcrm.ops import warp


def resize_bilinear(images, size, *, align_corners=False, antialias=False):
    """Resizes channels-last images bilinearly, in float32.

    `keras.ops.image.resize` has no `align_corners` option and, under
    TensorFlow + XLA + float16, its gradient can come back in float32 and fail.
    This function resizes in float32 (float64 for float64 inputs) whatever the
    input dtype, and returns the input dtype.

    - `align_corners=False` (the default) maps pixel centres with the
      half-pixel convention of `keras.ops.image.resize`,
      `tf.image.resize` and `torch.nn.functional.interpolate(
      align_corners=False)`. `antialias=True` low-pass filters when
      downsampling.
    - `align_corners=True` maps the corner pixels' centres onto each other, as
      `torch.nn.functional.interpolate(align_corners=True)` and SFNet do; it is
      computed with `keras_srcrm.ops.grid_sample`. `antialias` must then be
      False.

    Args:
        images: `(B, H, W, C)` tensor.
        size: `(height, width)` of the output: ints or scalar tensors (for
            sizes known only at run time, e.g. `keras.ops.shape(x)[1:3]`).
        align_corners: The corner convention, see above.
        antialias: Whether to low-pass filter when downsampling (half-pixel
            convention only).

    Returns:
        `(B, height, width, C)` tensor with the dtype of `images`.

    Example:

    >>> x = keras.random.normal((1, 16, 16, 8))
    >>> resize_bilinear(x, (32, 32), align_corners=True).shape
    (1, 32, 32, 8)
    """
    if len(images.shape) != 4:
        raise ValueError(
            "`images` must be a rank-4 tensor (batch, height, width, channels). "
            f"Received: images.shape={tuple(images.shape)}"
        )
    if len(size) != 2:
        raise ValueError(f"`size` must be (height, width). Received: size={size}")
    if align_corners and antialias:
        raise ValueError(
            "`antialias=True` is only supported with `align_corners=False`."
        )
    dtype = images.dtype
    compute_dtype = sampling.compute_dtype_for(dtype)
    images = ops.cast(images, compute_dtype)
    height, width = size
    if align_corners:
        ys = _corner_aligned_coordinates(height, compute_dtype)
        xs = _corner_aligned_coordinates(width, compute_dtype)
        grid_y, grid_x = ops.meshgrid(ys, xs, indexing="ij")
        grid = ops.stack([grid_x, grid_y], axis=-1)[None]
        # Adding a (B, 1, 1, 1) zero gives the grid the batch size, also when
        # that is only known at run time.
        grid = grid + ops.zeros_like(images[:, :1, :1, :1])
        out = warp.grid_sample(
            images,
            grid,
            align_corners=True,
            padding_mode="border",
            data_format="channels_last",
        )
    else:
        out = ops.image.resize(
            images,
            (height, width),
            interpolation="bilinear",
            antialias=antialias,
            data_format="channels_last",
        )
    return ops.cast(out, dtype)


def _corner_aligned_coordinates(size, dtype):
    """`size` points from -1 to 1 (a single point at -1 for size 1)."""
    steps = ops.cast(size, dtype)
    index = ops.arange(size, dtype=dtype)
    return index * (2.0 / ops.maximum(steps - 1.0, 1.0)) - 1.0


def output_size_like(reference):
    """The `(height, width)` of a channels-last tensor, static where known."""
    static = reference.shape
    dynamic = ops.shape(reference)
    return tuple(
        static[axis] if static[axis] is not None else dynamic[axis] for axis in (1, 2)
    )
