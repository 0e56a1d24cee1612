"""Bilinear resizing with a choice of corner alignment, computed in float32."""

from keras import ops

from keras_srcrm.ops import cost
from keras_srcrm.ops import sampling
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_rank


def resize_bilinear(images, size, *, align_corners=False):
    """Resizes channels-last images bilinearly, in float32.

    A separable implementation with `keras.ops`, one axis after the other:
    along an axis whose sizes are static and whose input is at most
    `MATMUL_MAX_INPUT` (128) long, a product with the interpolation matrix
    (faster to train: its gradient is a matrix product too, not a scatter);
    along longer or dynamic axes, two row gathers and a blend. So it behaves
    the same on every backend, compiles under XLA, and takes output sizes
    known only at run time (e.g.
    `keras.ops.shape(reference)[1:3]` inside a layer whose inputs have `None`
    spatial dimensions), which `keras.ops.image.resize` does not accept in
    graph mode. It also offers `align_corners`, which Keras's resize lacks,
    and it computes in float32 (float64 for float64 inputs) whatever the input
    dtype, which sidesteps the float16 gradient trap of resizing under
    TensorFlow + XLA. The output has the input's dtype. (On GPUs where JAX and
    TensorFlow run float32 matrix products in TF32, NVIDIA's Ampere and
    later, the matrix path rounds as their convolutions do.)

    - `align_corners=False` (the default) maps pixel centres with the
      half-pixel convention of `keras.ops.image.resize`, `tf.image.resize`
      and `torch.nn.functional.interpolate(align_corners=False)`.
    - `align_corners=True` maps the corner pixels' centres onto each other, as
      `torch.nn.functional.interpolate(align_corners=True)` and SFNet do.

    There is no antialiasing: downsample by at most 2x per call (or chain
    calls) to avoid aliasing.

    Args:
        images: `(B, H, W, C)` tensor.
        size: `(height, width)` of the output: ints or scalar tensors.
        align_corners: The corner convention, see above.

    Returns:
        `(B, height, width, C)` tensor with the dtype of `images`.

    Example:

    >>> x = keras.random.normal((1, 16, 16, 8))
    >>> resize_bilinear(x, (32, 32), align_corners=True).shape
    (1, 32, 32, 8)
    """
    check_rank("images", images.shape, 4, "(batch, height, width, channels)")
    if len(size) != 2:
        raise ValueError(f"`size` must be (height, width). Received: size={size}")
    check_bool("align_corners", align_corners)
    dtype = images.dtype
    compute_dtype = sampling.compute_dtype_for(dtype)
    images = ops.cast(images, compute_dtype)
    shape = ops.shape(images)
    with cost.hidden_ops():
        out = _resize_axis(images, 1, shape[1], size[0], align_corners)
        out = _resize_axis(out, 2, shape[2], size[1], align_corners)
    cost.report_bilinear_sampling(out, "resize_bilinear")
    return ops.cast(out, dtype)


# Along an axis whose input and output sizes are known when the graph is
# built, at most this long at the input, the resize is a product with the
# (output, input) interpolation matrix: a matrix product forward and
# backward, which every backend runs faster than gathering rows forward and
# scattering them backward. The product costs `input` multiply-adds per
# output value against the gather's two, so longer axes gather.
MATMUL_MAX_INPUT = 128


def _source_positions(in_size, out_size, align_corners, dtype):
    """Each output position's lower and upper input neighbours along an axis,
    as int32 indices, and the upper neighbour's weight."""
    n = ops.cast(in_size, dtype)
    m = ops.cast(out_size, dtype)
    index = ops.arange(out_size, dtype=dtype)
    if align_corners:
        source = index * ((n - 1.0) / ops.maximum(m - 1.0, 1.0))
    else:
        source = (index + 0.5) * (n / m) - 0.5
    source = ops.clip(source, 0.0, n - 1.0)
    lower = ops.floor(source)
    weight = source - lower
    lower = ops.cast(lower, "int32")
    upper = ops.minimum(lower + 1, ops.cast(in_size, "int32") - 1)
    return lower, upper, weight


def _interpolation_matrix(lower, upper, weight, in_size):
    """The `(output, input)` matrix that blends rows `lower` and `upper`."""
    weight = ops.expand_dims(weight, 1)
    below = ops.one_hot(lower, in_size, dtype=weight.dtype)
    above = ops.one_hot(upper, in_size, dtype=weight.dtype)
    return below * (1.0 - weight) + above * weight


def _resize_axis(x, axis, in_size, out_size, align_corners):
    """Linear interpolation of `x` along one spatial axis."""
    lower, upper, weight = _source_positions(in_size, out_size, align_corners, x.dtype)
    if (
        isinstance(in_size, int)
        and isinstance(out_size, int)
        and in_size <= MATMUL_MAX_INPUT
    ):
        matrix = _interpolation_matrix(lower, upper, weight, in_size)
        if axis == 1:
            return ops.einsum("oh,bhwc->bowc", matrix, x)
        return ops.einsum("ow,bhwc->bhoc", matrix, x)
    weight_shape = [1, 1, 1, 1]
    weight_shape[axis] = -1
    weight = ops.reshape(weight, weight_shape)
    below = ops.take(x, lower, axis=axis)
    above = ops.take(x, upper, axis=axis)
    return below + (above - below) * weight


def output_size_like(reference):
    """The `(height, width)` of a channels-last tensor, static where known."""
    static = reference.shape
    dynamic = ops.shape(reference)
    return tuple(
        static[axis] if static[axis] is not None else dynamic[axis] for axis in (1, 2)
    )
