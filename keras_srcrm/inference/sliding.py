"""Sliding-window inference."""

import numpy as np
from keras import ops

from keras_srcrm.inference import whole
from keras_srcrm.utils.validation import check_pair
from keras_srcrm.utils.validation import check_positive_int


def tile_starts(length, tile, stride):
    """Start offsets of the tiles along one axis of `length >= tile` pixels.

    Tiles start every `stride` pixels; the last one is moved back so that it
    ends at the border, so the tiles cover the axis and none sticks out.
    """
    count = max(0, -(-(length - tile) // stride)) + 1
    return [min(index * stride, length - tile) for index in range(count)]


def _stride(stride, tile_size):
    """The `(height, width)` stride; None is two thirds of the tile."""
    if stride is None:
        return tuple(max(1, (2 * t) // 3) for t in tile_size)
    pair = check_pair("stride", stride)
    if pair[0] > tile_size[0] or pair[1] > tile_size[1]:
        raise ValueError(
            "`stride` must not exceed `tile_size`, or tiles would leave gaps "
            f"between them. Received: stride={stride!r} with "
            f"tile_size={tile_size}"
        )
    return pair


def predict_sliding_window(
    model,
    images,
    *,
    tile_size,
    stride=None,
    batch_size=4,
    output="logits",
    return_numpy=True,
):
    """Segments images tile by tile, averaging the logits where tiles overlap.

    The exact behaviour:

    1. An image smaller than a tile along an axis is padded at the bottom /
       on the right to the tile size, by edge replication (as
       `predict_whole` pads).
    2. Along each axis of length `L` (after padding), tiles of size `t` start
       at `0, s, 2s, ...` for the stride `s`, as many as needed to reach the
       border, `ceil((L - t) / s) + 1`; the last start is clamped to `L - t`,
       so the last tile is aligned with the border (it may overlap its
       neighbour more than the others do). Every pixel is covered.
    3. The model runs on the tiles, `batch_size` tiles per call (tiles of all
       the images in the batch are mixed in calls).
    4. Each pixel's logits are the mean of the logits that the tiles covering
       it give (a sum divided by a count map), unweighted; the padding is
       cropped off. `"probabilities"` and `"classes"` come from those
       averaged logits.

    With `tile_size` at least the image size there is a single tile, and the
    result is `predict_whole(model, images, pad_to_multiple_of=tile_size)`
    (the same padded input, the same crop). This is the usual sliding-window
    inference of semantic segmentation toolboxes such as mmsegmentation's
    `slide` mode, which pads small images too.

    Args:
        model: A Keras model (or any callable) mapping `(B, H, W, 3)` float
            images in `[0, 255]` to `(B, H, W, num_classes)` logits, or to a
            dict holding them under `"segmentation"`.
        images: `(B, H, W, 3)` images in `[0, 255]`: a NumPy array or a
            backend tensor.
        tile_size: Tile size: an int or a `(height, width)` pair, at least 1.
        stride: Offset between neighbouring tiles: an int or a pair, from 1
            to `tile_size`. Defaults to two thirds of the tile (rounded
            down), so neighbouring tiles overlap by a third.
        batch_size: Tiles per model call. Defaults to 4.
        output: `"logits"` (the default), `"probabilities"` or `"classes"`.
        return_numpy: Whether to return a NumPy array (the default) or a
            backend tensor.

    Returns:
        `(B, H, W, num_classes)` float32 logits or probabilities, or
        `(B, H, W)` int32 class ids.

    Example:

    ```python
    # Cityscapes practice: 1024x1024 tiles on 1024x2048 images, so three
    # tiles per image here (starts 0, 682 and 1024 along the width).
    logits = predict_sliding_window(model, images, tile_size=1024)
    ```
    """
    images = whole.prepare_images(images)
    tile = check_pair("tile_size", tile_size)
    stride = _stride(stride, tile)
    batch_size = check_positive_int("batch_size", batch_size)
    whole.check_output(output)

    count, height, width = images.shape[:3]
    padded_height, padded_width = max(height, tile[0]), max(width, tile[1])
    images = whole.pad_bottom_right(images, padded_height, padded_width)
    rows = tile_starts(padded_height, tile[0], stride[0])
    columns = tile_starts(padded_width, tile[1], stride[1])
    windows = [(i, y, x) for i in range(count) for y in rows for x in columns]

    total = None
    for start in range(0, len(windows), batch_size):
        chunk = windows[start : start + batch_size]
        tiles = ops.stack(
            [images[i, y : y + tile[0], x : x + tile[1]] for i, y, x in chunk]
        )
        logits = whole.call_model(model, tiles)
        if total is None:
            total = ops.zeros(
                (count, padded_height, padded_width, logits.shape[-1]), "float32"
            )
        for k, (i, y, x) in enumerate(chunk):
            current = total[i : i + 1, y : y + tile[0], x : x + tile[1]]
            total = ops.slice_update(total, (i, y, x, 0), current + logits[k : k + 1])

    hits = np.zeros((padded_height, padded_width), "float32")
    for y in rows:
        for x in columns:
            hits[y : y + tile[0], x : x + tile[1]] += 1.0
    logits = total / ops.convert_to_tensor(hits[None, :, :, None])
    logits = logits[:, :height, :width]
    return whole.finish(logits, output=output, return_numpy=return_numpy)
