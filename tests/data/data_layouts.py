"""Helpers for the data tests: write small datasets in the official layouts."""

import io

import numpy as np
import pytest

Image = pytest.importorskip(
    "PIL.Image", reason="the data tests write files with Pillow"
)


def encode(array, format, mode=None):
    """Encodes a uint8/uint16 array as PNG or JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format=format)
    return buffer.getvalue()


def write(path, data):
    """Writes bytes to `path`, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def noise_image(rng, height, width):
    """A random uint8 RGB image."""
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def striped_mask(values, height, width):
    """A uint8 mask whose columns cycle through `values`."""
    values = np.asarray(values, dtype=np.uint8)
    return np.broadcast_to(
        values[np.arange(width) % len(values)], (height, width)
    ).copy()


def as_numpy(dataset):
    """Lists a dataset of `(image, mask)` as NumPy pairs."""
    return [(image.numpy(), mask.numpy()) for image, mask in dataset]
