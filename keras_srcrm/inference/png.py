"""A dependency-free PNG encoder (NumPy and zlib)."""

import struct
import zlib

import numpy as np

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
