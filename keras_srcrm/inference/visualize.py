"""Colour maps of class ids, overlays on images, and PNG files."""

import colorsys
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from keras import ops

from keras_srcrm.utils import atomic
from keras_srcrm.utils.validation import check_int
from keras_srcrm.utils.validation import check_number
from keras_srcrm.utils.validation import spell

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Channels -> PNG colour type: greyscale, RGB, RGBA.
_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}


def _chunk(tag, data):
    crc = zlib.crc32(tag + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def encode_png(array, compression=6):
    """Encodes an 8-bit image as PNG bytes.

    Every row is stored with PNG filter 0 (none) and the whole image is
    compressed with zlib, which any PNG reader decodes.

    Args:
        array: uint8 NumPy array: `(H, W)` or `(H, W, 1)` greyscale,
            `(H, W, 3)` RGB or `(H, W, 4)` RGBA.
        compression: zlib level from 0 (none) to 9. Defaults to 6.

    Returns:
        The PNG file's bytes.

    Example:

    >>> encode_png(np.zeros((2, 3, 3), "uint8"))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(
            "`array` must be uint8 (convert class ids with "
            f"`.astype('uint8')`). Received: array.dtype={array.dtype}"
        )
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[-1] not in _COLOUR_TYPES or 0 in array.shape:
        raise ValueError(
            "`array` must be a non-empty (H, W), (H, W, 1), (H, W, 3) or "
            f"(H, W, 4) image. Received: array.shape={array.shape}"
        )
    height, width, channels = array.shape
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    rows = np.ascontiguousarray(array).reshape(height, width * channels)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)
    return b"".join(
        [
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw.tobytes(), compression)),
            _chunk(b"IEND", b""),
        ]
    )


CITYSCAPES_PALETTE = (
    (128, 64, 128),
    (244, 35, 232),
    (70, 70, 70),
    (102, 102, 156),
    (190, 153, 153),
    (153, 153, 153),
    (250, 170, 30),
    (220, 220, 0),
    (107, 142, 35),
    (152, 251, 152),
    (70, 130, 180),
    (220, 20, 60),
    (255, 0, 0),
    (0, 0, 142),
    (0, 0, 70),
    (0, 60, 100),
    (0, 80, 100),
    (0, 0, 230),
    (119, 11, 32),
)
"""RGB colours of the 19 Cityscapes train ids, from cityscapesScripts."""

_GOLDEN_RATIO = 0.618033988749895


def default_palette(num_classes):
    """Colours for `num_classes` classes: uint8 `(num_classes, 3)`.

    The first 19 are Cityscapes' (so Cityscapes predictions look as usual);
    class `k >= 19` gets a deterministic colour: hue `k` times the golden
    ratio (mod 1), which spreads consecutive classes around the colour wheel,
    with saturation and value cycling through three levels.

    Args:
        num_classes: Number of colours, at least 0.

    Returns:
        uint8 array `(num_classes, 3)`.

    Example:

    >>> default_palette(20)[0].tolist()
    [128, 64, 128]
    """
    num_classes = check_int("num_classes", num_classes, minimum=0)
    colours = list(CITYSCAPES_PALETTE[:num_classes])
    for k in range(len(CITYSCAPES_PALETTE), num_classes):
        hue = (k * _GOLDEN_RATIO) % 1.0
        saturation = (0.55, 0.75, 0.95)[k % 3]
        value = (0.95, 0.75, 0.55)[(k // 3) % 3]
        rgb = colorsys.hsv_to_rgb(hue, saturation, value)
        colours.append(tuple(int(round(255 * c)) for c in rgb))
    return np.asarray(colours, dtype=np.uint8).reshape(num_classes, 3)


def _to_numpy(value):
    return value if isinstance(value, np.ndarray) else ops.convert_to_numpy(value)


def colorize(class_map, palette=None):
    """Colours a map of class ids.

    Args:
        class_map: Integer class ids, `(H, W)` or `(B, H, W)`: a NumPy array
            or a backend tensor. Ids must be >= 0.
        palette: None (the default) for `default_palette`, long enough for
            the largest id, or a sequence of RGB colours `(N, 3)` in
            `[0, 255]` with `N` greater than every id.

    Returns:
        uint8 RGB array, the shape of `class_map` plus a last axis of 3.

    Example:

    >>> colorize(np.array([[0, 1]])).tolist()
    [[[128, 64, 128], [244, 35, 232]]]
    """
    class_map = _to_numpy(class_map)
    if not np.issubdtype(class_map.dtype, np.integer):
        raise ValueError(
            "`class_map` must hold integer class ids. "
            f"Received: class_map.dtype={class_map.dtype}"
        )
    if class_map.size == 0:
        largest = -1
    else:
        if class_map.min() < 0:
            raise ValueError(
                "`class_map` ids must be >= 0. "
                f"Received: a class id of {int(class_map.min())}"
            )
        largest = int(class_map.max())
    if palette is None:
        palette = default_palette(max(largest + 1, len(CITYSCAPES_PALETTE)))
    else:
        palette = np.asarray(palette)
        if palette.ndim != 2 or palette.shape[1] != 3:
            raise ValueError(
                "`palette` must be a sequence of RGB colours, shape (N, 3). "
                f"Received: palette.shape={palette.shape}"
            )
        if palette.size and (palette.min() < 0 or palette.max() > 255):
            raise ValueError("`palette` colours must be in [0, 255].")
        if largest >= len(palette):
            raise ValueError(
                f"`palette` has {len(palette)} colours, too few for class id "
                f"{largest} in `class_map`."
            )
        palette = palette.astype(np.uint8)
    return palette[class_map]


def overlay(image, class_map, alpha=0.5, palette=None):
    """Blends the colours of a class map over an image.

    Each pixel is `(1 - alpha) * image + alpha * colour`, rounded to uint8.

    Args:
        image: RGB image(s) `(H, W, 3)` or `(B, H, W, 3)` in `[0, 255]`, any
            real dtype (values are clipped to that range).
        class_map: Class ids `(H, W)` or `(B, H, W)` matching `image`.
        alpha: Opacity of the colours, from 0 (the image) to 1 (the colours).
            Defaults to 0.5.
        palette: See `colorize`.

    Returns:
        uint8 RGB array with the shape of `image`.

    Example:

    ```python
    classes = segment(model, images)
    blended = overlay(images[0], classes[0], alpha=0.6)
    save_png("prediction.png", blended)
    ```
    """
    image = _to_numpy(image)
    class_map = _to_numpy(class_map)
    if image.ndim not in (3, 4) or image.shape[-1] != 3:
        raise ValueError(
            "`image` must be (H, W, 3) or (B, H, W, 3). "
            f"Received: image.shape={image.shape}"
        )
    if class_map.shape != image.shape[:-1]:
        raise ValueError(
            "`class_map` must have the shape of `image` without its channel "
            f"axis. Received: class_map.shape={class_map.shape} with "
            f"image.shape={image.shape}"
        )
    check_number("alpha", alpha, minimum=0.0, maximum=1.0)
    colours = colorize(class_map, palette).astype(np.float32)
    pixels = np.clip(image.astype(np.float32), 0.0, 255.0)
    blended = (1.0 - alpha) * pixels + alpha * colours
    return np.rint(blended).astype(np.uint8)


def _hsv_to_rgb(hue, saturation, value):
    """Vectorised HSV -> RGB, every channel in [0, 1]."""
    sector = np.floor(hue * 6.0).astype(np.int64) % 6
    fraction = hue * 6.0 - np.floor(hue * 6.0)
    p = value * (1.0 - saturation)
    q = value * (1.0 - fraction * saturation)
    t = value * (1.0 - (1.0 - fraction) * saturation)
    choices = [
        (value, t, p),
        (q, value, p),
        (p, value, t),
        (p, q, value),
        (t, p, value),
        (value, p, q),
    ]
    channels = [np.choose(sector, [choice[c] for choice in choices]) for c in range(3)]
    return np.stack(channels, axis=-1)


def offsets_to_rgb(offsets, max_magnitude=None):
    """Colours an offset (flow) field: hue is the direction, saturation the length.

    The usual optical-flow colour coding: an offset pointing right is red,
    down yellow-green, left cyan and up violet (image axes: y grows
    downwards), and the colour saturates with the offset's length, from white
    at zero to the full hue at `max_magnitude`. Use it to look at what an SRM
    learned (`srm_offsets`, or `SemanticRefinementModule(return_offsets=True)`); see
    `offset_color_wheel` for the legend.

    Args:
        offsets: `(H, W, 2)` or `(B, H, W, 2)` offsets `(dx, dy)` in pixels,
            a NumPy array or a backend tensor; only the first pair is used
            when there are several offset groups (`(..., 2 * groups)`).
        max_magnitude: The length that gets the full colour; longer offsets
            saturate. Defaults to the largest length in `offsets` (1 if all
            are zero).

    Returns:
        uint8 RGB array `(..., H, W, 3)`.

    Example:

    >>> offsets = np.zeros((4, 4, 2), "float32")
    >>> offsets[0, 0] = (1.0, 0.0)  # one pixel to the right: red
    >>> offsets_to_rgb(offsets)[0, 0].tolist()
    [255, 0, 0]
    """
    offsets = np.asarray(_to_numpy(offsets), dtype=np.float64)
    if offsets.ndim not in (3, 4) or offsets.shape[-1] < 2 or offsets.shape[-1] % 2:
        raise ValueError(
            "`offsets` must be (H, W, 2 * groups) or (B, H, W, 2 * groups). "
            f"Received: offsets.shape={offsets.shape}"
        )
    dx, dy = offsets[..., 0], offsets[..., 1]
    finite = np.isfinite(dx) & np.isfinite(dy)
    dx, dy = np.where(finite, dx, 0.0), np.where(finite, dy, 0.0)
    magnitude = np.hypot(dx, dy)
    if max_magnitude is None:
        max_magnitude = float(magnitude.max()) if magnitude.size else 0.0
        max_magnitude = max_magnitude or 1.0
    else:
        max_magnitude = check_number("max_magnitude", max_magnitude, positive=True)
    hue = np.mod(np.arctan2(dy, dx) / (2.0 * np.pi), 1.0)
    saturation = np.clip(magnitude / max_magnitude, 0.0, 1.0)
    rgb = _hsv_to_rgb(hue, saturation, np.ones_like(hue))
    return np.rint(255.0 * rgb).astype(np.uint8)


def offset_color_wheel(size=64):
    """The legend of `offsets_to_rgb`: offsets of the disc's points.

    Args:
        size: Side of the square image in pixels.

    Returns:
        uint8 RGB array `(size, size, 3)`: the colour of an offset pointing
        from the centre to each pixel, full colour at the disc's edge, white
        outside it.
    """
    size = check_int("size", size, minimum=2)
    radius = (size - 1) / 2.0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    offsets = np.stack([xs - radius, ys - radius], axis=-1)
    wheel = offsets_to_rgb(offsets, max_magnitude=radius)
    outside = np.hypot(offsets[..., 0], offsets[..., 1]) > radius
    wheel[outside] = 255
    return wheel


def save_png(path, array, *, overwrite=False):
    """Writes an 8-bit image to a PNG file, without any imaging library.

    Args:
        path: File path (str or path-like). Missing parent folders are
            created.
        array: uint8 `(H, W)`, `(H, W, 3)` or `(H, W, 4)` array, e.g. from
            `colorize` or `overlay`, or a NumPy array of class ids cast to
            uint8 (ids below 256).
        overwrite: Whether to replace an existing file. Defaults to False:
            an existing file raises a `ValueError`.

    Returns:
        The `pathlib.Path` written.

    Example:

    ```python
    save_png("runs/prediction.png", colorize(classes[0]))
    ```
    """
    path = Path(os.fspath(path))
    data = encode_png(_to_numpy(array))
    if path.exists() and not overwrite:
        raise ValueError(
            f"{str(path)!r} exists; pass {spell('overwrite', True)} to replace it."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside `path` and renamed into place: never half-written.
    atomic.write_bytes(path, data)
    return path
