"""The public warp ops: `flow_warp` and `grid_sample`."""

import keras
from keras import ops

from keras_srcrm.ops import cost
from keras_srcrm.ops import sampling
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_rank

DATA_FORMATS = ("channels_last", "channels_first")


def _standardize_data_format(data_format):
    data_format = data_format or keras.config.image_data_format()
    return check_choice("data_format", data_format, DATA_FORMATS)


def _validate_options(padding_mode, align_corners):
    check_choice("padding_mode", padding_mode, sampling.PADDING_MODES)
    check_bool("align_corners", align_corners)


def _validate_float(name, tensor):
    dtype = keras.backend.standardize_dtype(tensor.dtype)
    if "float" not in dtype:
        raise ValueError(
            f"`{name}` must have a floating-point dtype. Received: {name}.dtype={dtype}"
        )


def _split_channels(shape, data_format):
    """Returns `(batch, height, width, channels)` of a rank-4 shape."""
    if data_format == "channels_first":
        return shape[0], shape[2], shape[3], shape[1]
    return shape[0], shape[1], shape[2], shape[3]


def _dims_match(a, b):
    return a is None or b is None or a == b


def _validate_pair(
    features_name,
    features_shape,
    coords_name,
    coords_shape,
    coords_layout,
    data_format,
):
    feature_layout = (
        "(batch, channels, height, width)"
        if data_format == "channels_first"
        else "(batch, height, width, channels)"
    )
    check_rank(features_name, features_shape, 4, f"of shape {feature_layout}")
    check_rank(coords_name, coords_shape, 4, f"of shape {coords_layout}")
    f_batch, f_height, f_width, _ = _split_channels(features_shape, data_format)
    c_batch, c_height, c_width, c_last = _split_channels(coords_shape, data_format)
    if c_last is not None and c_last != 2:
        raise ValueError(
            f"`{coords_name}` must have 2 components (x, y) on its "
            f"{'channel' if data_format == 'channels_first' else 'last'} axis. "
            f"Received: {coords_name}.shape={tuple(coords_shape)}"
        )
    if not _dims_match(f_batch, c_batch):
        raise ValueError(
            f"`{features_name}` and `{coords_name}` must have the same batch "
            f"size. Received: {features_name}.shape={tuple(features_shape)} and "
            f"{coords_name}.shape={tuple(coords_shape)}"
        )
    # An empty map has no pixel to sample from; an empty output needs none.
    if 0 in (f_height, f_width) and 0 not in (c_batch, c_height, c_width):
        raise ValueError(
            f"`{features_name}` must have a non-zero height and width to be "
            f"sampled at the positions of a non-empty `{coords_name}`. Received: "
            f"{features_name}.shape={tuple(features_shape)} and "
            f"{coords_name}.shape={tuple(coords_shape)}"
        )


def _output_shape(features_shape, coords_shape, data_format):
    batch, _, _, channels = _split_channels(features_shape, data_format)
    _, height, width, _ = _split_channels(coords_shape, data_format)
    batch = batch if batch is not None else coords_shape[0]
    if data_format == "channels_first":
        return (batch, channels, height, width)
    return (batch, height, width, channels)


def _to_channels_last(tensor, data_format):
    if data_format == "channels_first":
        return ops.transpose(tensor, (0, 2, 3, 1))
    return tensor


def _from_channels_last(tensor, data_format):
    if data_format == "channels_first":
        return ops.transpose(tensor, (0, 3, 1, 2))
    return tensor


def _unnormalize(coords, size, align_corners):
    """Maps grid_sample's [-1, 1] coordinates to pixel coordinates."""
    size = ops.cast(size, coords.dtype)
    if align_corners:
        return (coords + 1.0) / 2.0 * (size - 1.0)
    return ((coords + 1.0) * size - 1.0) / 2.0


@keras.saving.register_keras_serializable(package="keras_srcrm")
class FlowWarp(keras.Operation):
    """Operation behind `flow_warp`, for symbolic (functional-API) calls."""

    def __init__(self, align_corners, padding_mode, data_format, *, name=None):
        super().__init__(name=name)
        self.align_corners = align_corners
        self.padding_mode = padding_mode
        self.data_format = data_format

    def call(self, features, flow):
        return _flow_warp(
            features, flow, self.align_corners, self.padding_mode, self.data_format
        )

    def compute_output_spec(self, features, flow):
        return keras.KerasTensor(
            _output_shape(features.shape, flow.shape, self.data_format),
            dtype=features.dtype,
        )


@keras.saving.register_keras_serializable(package="keras_srcrm")
class GridSample(keras.Operation):
    """Operation behind `grid_sample`, for symbolic (functional-API) calls."""

    def __init__(self, align_corners, padding_mode, data_format, *, name=None):
        super().__init__(name=name)
        self.align_corners = align_corners
        self.padding_mode = padding_mode
        self.data_format = data_format

    def call(self, features, grid):
        return _grid_sample(
            features, grid, self.align_corners, self.padding_mode, self.data_format
        )

    def compute_output_spec(self, features, grid):
        return keras.KerasTensor(
            _output_shape(features.shape, grid.shape, self.data_format),
            dtype=features.dtype,
        )


def _to_feature_pixels(coords, out_size, in_size, align_corners):
    """Maps pixel coordinates of the flow's grid onto the features' grid.

    The identity when both sizes are equal; otherwise the corner convention
    of a bilinear resize from `in_size` to `out_size`.
    """
    if isinstance(out_size, int) and isinstance(in_size, int) and out_size == in_size:
        return coords
    dtype = coords.dtype
    out_size = ops.cast(out_size, dtype)
    in_size = ops.cast(in_size, dtype)
    if align_corners:
        # Corner pixel centres onto corner pixel centres; a one-pixel output
        # samples the first pixel, as torch does.
        return coords * ((in_size - 1.0) / ops.maximum(out_size - 1.0, 1.0))
    # Half-pixel centres; `scale = 1` and `shift = 0` for equal sizes keep the
    # identity exact when the sizes are known only at run time.
    scale = in_size / out_size
    return coords * scale + (0.5 * scale - 0.5)


def _flow_warp(features, flow, align_corners, padding_mode, data_format):
    features = _to_channels_last(features, data_format)
    flow = _to_channels_last(flow, data_format)
    feature_shape = ops.shape(features)
    flow_shape = ops.shape(flow)
    compute_dtype = sampling.compute_dtype_for(features.dtype)
    flow = ops.cast(flow, compute_dtype)
    xs = ops.reshape(ops.arange(flow_shape[2], dtype=compute_dtype), (1, 1, -1))
    ys = ops.reshape(ops.arange(flow_shape[1], dtype=compute_dtype), (1, -1, 1))
    x = xs + flow[..., 0]
    y = ys + flow[..., 1]
    x = _to_feature_pixels(x, flow_shape[2], feature_shape[2], align_corners)
    y = _to_feature_pixels(y, flow_shape[1], feature_shape[1], align_corners)
    out = sampling.bilinear_sample(features, x, y, padding_mode, align_corners)
    cost.report_bilinear_sampling(out, "flow_warp")
    return _from_channels_last(out, data_format)


def _grid_sample(features, grid, align_corners, padding_mode, data_format):
    features = _to_channels_last(features, data_format)
    grid = _to_channels_last(grid, data_format)
    shape = ops.shape(features)
    grid = ops.cast(grid, sampling.compute_dtype_for(features.dtype))
    x = _unnormalize(grid[..., 0], shape[2], align_corners)
    y = _unnormalize(grid[..., 1], shape[1], align_corners)
    out = sampling.bilinear_sample(features, x, y, padding_mode, align_corners)
    cost.report_bilinear_sampling(out, "grid_sample")
    return _from_channels_last(out, data_format)


def _is_symbolic(*tensors):
    return any(isinstance(t, keras.KerasTensor) for t in tensors)


def _as_tensors(*values):
    if _is_symbolic(*values):
        return values
    return tuple(ops.convert_to_tensor(v) for v in values)


def flow_warp(
    features, flow, *, align_corners=False, padding_mode="border", data_format=None
):
    """Warps a feature map by a dense per-pixel offset field (bilinear).

    Output pixel `(i, j)` is the bilinear sample of `features` at
    `(x, y) = (j + flow[..., i, j, 0], i + flow[..., i, j, 1])`: the flow holds
    pixel offsets `(dx, dy)` added to the identity grid. Zero flow returns
    `features` exactly, and a constant integer flow `(dx, dy)` is a shift:
    `out[i, j] = features[i + dy, j + dx]` where that pixel exists.

    **Warping while resizing.** `features` may have another height and width
    than `flow` (e.g. a coarse map and a flow at twice its resolution). The
    output then has the flow's size: the flow's grid, plus the offsets (in
    pixels of the flow's grid), is mapped onto the features with the corner
    convention of `align_corners`, so that zero flow is a bilinear resize
    (`keras_srcrm.ops.resize_bilinear` with the same `align_corners`, where
    the sample positions lie inside the map) and warping and upsampling are
    one interpolation, as in SFNet's Flow Alignment Module.

    The four bilinear taps are `floor(p)` and `floor(p) + 1` on each axis, so
    the gradient with respect to the flow is the one-sided difference of the
    neighbouring pixels and is not zero at integer positions (in particular at
    zero flow, where a learned offset field starts).

    Interpolation weights are computed in float32 (float64 for float64
    features); the output has the dtype of `features`. A non-finite offset
    (NaN or +-inf) gives 0 at that output pixel, in every padding mode, and a
    zero gradient there; other pixels are unaffected.

    Relation to `torch.nn.functional.grid_sample` (bilinear), for a map of
    width `W` and height `H` and a flow of the same size:
    `flow_warp(f, flow, align_corners=a, padding_mode=p)` equals
    `grid_sample(f, grid, align_corners=a, padding_mode=p)` with
    `grid = identity + flow * 2 / (W - 1, H - 1)` when `a` is True, and
    `grid = identity + flow * 2 / (W, H)` when `a` is False, `identity` being
    the normalised coordinates of the pixel centres. With equal sizes,
    `align_corners` only decides where the image ends for `"reflection"`
    padding (`[0, W - 1]` when True, `[-0.5, W - 0.5]` when False); `"zeros"`
    and `"border"` do not depend on it.

    SFNet's Flow Alignment Module (Li et al., 2020) predicts a flow `f` at the
    output size `(H, W)` and samples the coarse map with
    `grid_sample(coarse, identity + f / (W, H), align_corners=True)` (zero
    padding). That is exactly `flow_warp(coarse, flow, align_corners=True,
    padding_mode="zeros")` with `flow = f * (W - 1) / (2 W)` (x) and
    `f * (H - 1) / (2 H)` (y): one SFNet flow unit is about half an output
    pixel.

    Args:
        features: Feature map, `(B, H, W, C)` for `"channels_last"` or
            `(B, C, H, W)` for `"channels_first"`, any float dtype.
        flow: Offsets in pixels, `(B, H_out, W_out, 2)` for
            `"channels_last"` or `(B, 2, H_out, W_out)` for
            `"channels_first"`; component 0 is the x (width) offset and
            component 1 the y (height) offset. Usually `H_out, W_out` are the
            features' `H, W`; see above for other sizes.
        align_corners: The corner convention that maps the flow's grid onto
            the features when their sizes differ, and where the image extent
            ends for reflection padding; see above. Defaults to `False`.
        padding_mode: What a sample outside the image sees: `"border"` (the
            nearest edge pixel, the default), `"zeros"`, or `"reflection"`
            (the image mirrored about its extent).
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.

    Returns:
        The warped feature map, `(B, H_out, W_out, C)` (or
        `(B, C, H_out, W_out)`), in the dtype of `features`.

    Raises:
        ValueError: If a tensor is not rank 4, the flow's offset axis is not 2,
            the batch sizes differ, `features` is empty (0 height or width)
            while `flow` is not, a dtype is not float, or an option is
            unknown. An empty `flow` (e.g. a 0x0 map) gives an empty output.

    Example:

    >>> features = keras.random.normal((2, 32, 32, 16))
    >>> flow = keras.ops.zeros((2, 32, 32, 2))
    >>> warped = flow_warp(features, flow)  # identity: equal to `features`
    >>> shifted = flow_warp(features, flow + 1.0)  # features[i + 1, j + 1]
    >>> # Upsample 2x and warp in one interpolation:
    >>> coarse = keras.random.normal((2, 16, 16, 16))
    >>> flow_warp(coarse, flow, align_corners=True).shape
    (2, 32, 32, 16)
    """
    data_format = _standardize_data_format(data_format)
    _validate_options(padding_mode, align_corners)
    features, flow = _as_tensors(features, flow)
    offsets_layout = (
        "(batch, 2, height, width)"
        if data_format == "channels_first"
        else "(batch, height, width, 2)"
    )
    _validate_pair(
        "features",
        features.shape,
        "flow",
        flow.shape,
        offsets_layout,
        data_format,
    )
    _validate_float("features", features)
    _validate_float("flow", flow)
    if _is_symbolic(features, flow):
        return FlowWarp(align_corners, padding_mode, data_format).symbolic_call(
            features, flow
        )
    return _flow_warp(features, flow, align_corners, padding_mode, data_format)


def grid_sample(
    features, grid, *, align_corners=False, padding_mode="zeros", data_format=None
):
    """Samples a feature map at normalised coordinates, like torch's grid_sample.

    The grid holds `(x, y)` in `[-1, 1]`: `-1` is the left/top edge and `+1`
    the right/bottom edge of the image. With `align_corners=True` they are the
    centres of the corner pixels; with `align_corners=False` they are the outer
    edges of the corner pixels, so that the result does not depend on the
    resolution. Sampling is bilinear, with the same conventions as
    `torch.nn.functional.grid_sample(mode="bilinear")` for the same
    `align_corners` and `padding_mode`, and shares its implementation with
    `flow_warp` (non-finite coordinates give 0, weights in float32).

    Args:
        features: Feature map, `(B, H, W, C)` for `"channels_last"` or
            `(B, C, H, W)` for `"channels_first"`, any float dtype.
        grid: Sampling positions, `(B, H_out, W_out, 2)` for `"channels_last"`
            or `(B, 2, H_out, W_out)` for `"channels_first"`; component 0 is x
            (width), component 1 is y (height). `H_out, W_out` may differ from
            the feature map's size.
        align_corners: See above. Defaults to `False`, as in torch.
        padding_mode: `"zeros"` (the default, as in torch), `"border"` or
            `"reflection"`.
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.

    Returns:
        The samples, `(B, H_out, W_out, C)` (or `(B, C, H_out, W_out)`), in
        the dtype of `features`.

    Raises:
        ValueError: If a tensor is not rank 4, the grid's coordinate axis is
            not 2, batch sizes differ, `features` is empty (0 height or
            width) while `grid` is not, a dtype is not float, or an option is
            unknown. An empty `grid` gives an empty output.

    Example:

    >>> features = keras.random.normal((1, 8, 8, 3))
    >>> # Sample the 4x4 centre of the image at twice its resolution.
    >>> lin = keras.ops.linspace(-0.5, 0.5, 8)
    >>> gy, gx = keras.ops.meshgrid(lin, lin, indexing="ij")
    >>> grid = keras.ops.stack([gx, gy], axis=-1)[None]
    >>> zoomed = grid_sample(features, grid, align_corners=True)
    """
    data_format = _standardize_data_format(data_format)
    _validate_options(padding_mode, align_corners)
    features, grid = _as_tensors(features, grid)
    grid_layout = (
        "(batch, 2, out_height, out_width)"
        if data_format == "channels_first"
        else "(batch, out_height, out_width, 2)"
    )
    _validate_pair(
        "features",
        features.shape,
        "grid",
        grid.shape,
        grid_layout,
        data_format,
    )
    _validate_float("features", features)
    _validate_float("grid", grid)
    if _is_symbolic(features, grid):
        return GridSample(align_corners, padding_mode, data_format).symbolic_call(
            features, grid
        )
    return _grid_sample(features, grid, align_corners, padding_mode, data_format)
