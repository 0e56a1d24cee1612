"""Palettes, colour maps, overlays and PNG files."""

import struct
import zlib

import keras
import numpy as np
import pytest

from keras_srcrm.inference import CITYSCAPES_PALETTE
from keras_srcrm.inference import colorize
from keras_srcrm.inference import default_palette
from keras_srcrm.inference import encode_png
from keras_srcrm.inference import overlay
from keras_srcrm.inference import save_png


def decode_png(data):
    """Decodes the PNGs `encode_png` writes (8-bit, filter 0) with zlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        tag = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(
            ">I", data[position + 8 + length : position + 12 + length]
        )
        assert crc == zlib.crc32(tag + body)
        chunks[tag] = chunks.get(tag, b"") + body
        position += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and b"IEND" in chunks
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8)
    rows = raw.reshape(height, 1 + width * channels)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(height, width, channels)


def read_png(path):
    """The image in `path`, with Pillow where it is installed, else zlib."""
    try:
        from PIL import Image
    except ImportError:
        return decode_png(path.read_bytes())
    with Image.open(path) as image:
        array = np.asarray(image)
    return array if array.ndim == 3 else array[:, :, None]


def test_default_palette_starts_with_cityscapes_and_is_deterministic():
    palette = default_palette(300)
    assert palette.shape == (300, 3) and palette.dtype == np.uint8
    np.testing.assert_array_equal(palette[:19], np.array(CITYSCAPES_PALETTE))
    np.testing.assert_array_equal(palette[:40], default_palette(40))
    assert len({tuple(colour) for colour in palette[:150]}) == 150
    assert default_palette(5).shape == (5, 3) and default_palette(0).shape == (0, 3)


def test_default_palette_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_classes=-1"):
        default_palette(-1)
    with pytest.raises(ValueError, match="num_classes=2.0"):
        default_palette(2.0)


def test_colorize_looks_up_the_palette():
    class_map = np.array([[0, 1], [18, 19]])
    colours = colorize(class_map)
    assert colours.shape == (2, 2, 3) and colours.dtype == np.uint8
    np.testing.assert_array_equal(colours[0, 0], (128, 64, 128))
    np.testing.assert_array_equal(colours[1, 0], (119, 11, 32))
    np.testing.assert_array_equal(colours[1, 1], default_palette(20)[19])
    # Ignore labels get a colour of the extended palette.
    assert colorize(np.full((1, 1), 255)).shape == (1, 1, 3)


def test_colorize_a_batch_tensor_with_a_custom_palette():
    class_map = keras.ops.convert_to_tensor(np.array([[[0, 2]], [[1, 1]]], "int32"))
    colours = colorize(class_map, palette=[(0, 0, 0), (255, 0, 0), (0, 0, 255)])
    assert colours.shape == (2, 1, 2, 3)
    np.testing.assert_array_equal(colours[0, 0], [(0, 0, 0), (0, 0, 255)])
    np.testing.assert_array_equal(colours[1, 0], [(255, 0, 0), (255, 0, 0)])


@pytest.mark.parametrize(
    "class_map, palette, match",
    [
        (np.array([[0, 3]]), [(0, 0, 0)] * 3, "3 colours, too few for class id 3"),
        (np.array([[-1, 0]]), None, "ids must be >= 0.*-1"),
        (np.array([[0.0, 1.0]]), None, "integer class ids.*float64"),
        (np.array([[0]]), [(0, 0)], r"palette.shape=\(1, 2\)"),
        (np.array([[0]]), [(0, 0, 256)], r"\[0, 255\]"),
    ],
)
def test_colorize_rejects_bad_inputs(class_map, palette, match):
    with pytest.raises(ValueError, match=match):
        colorize(class_map, palette)


def test_overlay_blends_image_and_colours(rng):
    image = rng.uniform(0, 255, size=(4, 5, 3)).astype("float32")
    class_map = rng.integers(0, 19, size=(4, 5))
    colours = colorize(class_map).astype("float32")
    np.testing.assert_array_equal(overlay(image, class_map, alpha=0.0), image.round())
    np.testing.assert_array_equal(overlay(image, class_map, alpha=1.0), colours)
    blended = overlay(image, class_map, alpha=0.25)
    assert blended.dtype == np.uint8 and blended.shape == (4, 5, 3)
    np.testing.assert_array_equal(blended, np.rint(0.75 * image + 0.25 * colours))
    batch = overlay(image[None].repeat(2, 0), class_map[None].repeat(2, 0))
    assert batch.shape == (2, 4, 5, 3)


def test_overlay_rejects_bad_inputs():
    image = np.zeros((4, 5, 3), "uint8")
    with pytest.raises(ValueError, match=r"class_map.shape=\(4, 4\)"):
        overlay(image, np.zeros((4, 4), "int32"))
    with pytest.raises(ValueError, match=r"image.shape=\(4, 5\)"):
        overlay(image[..., 0], np.zeros((4, 5), "int32"))
    with pytest.raises(ValueError, match="alpha=1.5"):
        overlay(image, np.zeros((4, 5), "int32"), alpha=1.5)


@pytest.mark.parametrize("shape", [(3, 5), (3, 5, 1), (3, 5, 3), (1, 7, 4)])
def test_png_round_trip(tmp_path, rng, shape):
    array = rng.integers(0, 256, size=shape).astype("uint8")
    path = save_png(tmp_path / "out" / "image.png", array)
    assert path == tmp_path / "out" / "image.png"
    expected = array if array.ndim == 3 else array[:, :, None]
    np.testing.assert_array_equal(decode_png(path.read_bytes()), expected)
    np.testing.assert_array_equal(read_png(path), expected)


def test_save_png_refuses_to_overwrite(tmp_path):
    path = tmp_path / "image.png"
    save_png(path, np.zeros((2, 2, 3), "uint8"))
    with pytest.raises(ValueError, match=f"{path}.*overwrite=True"):
        save_png(path, np.full((2, 2, 3), 255, "uint8"))
    np.testing.assert_array_equal(read_png(path), 0)
    save_png(str(path), np.full((2, 2, 3), 255, "uint8"), overwrite=True)
    np.testing.assert_array_equal(read_png(path), 255)


def test_encode_png_rejects_bad_arrays():
    with pytest.raises(ValueError, match="must be uint8.*int32"):
        encode_png(np.zeros((2, 2), "int32"))
    with pytest.raises(ValueError, match=r"array.shape=\(2, 2, 2\)"):
        encode_png(np.zeros((2, 2, 2), "uint8"))
    with pytest.raises(ValueError, match=r"array.shape=\(0, 2, 3\)"):
        encode_png(np.zeros((0, 2, 3), "uint8"))


def test_offsets_to_rgb_codes_direction_and_length():
    from keras_srcrm.inference import offset_color_wheel
    from keras_srcrm.inference import offsets_to_rgb

    offsets = np.array(
        [[[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]], [[-2.0, 0.0], [0.0, -2.0], [1.0, 0.0]]],
        "float32",
    )
    rgb = offsets_to_rgb(offsets)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 3, 3)
    assert rgb[0, 0].tolist() == [255, 255, 255]  # zero: white
    assert rgb[0, 1].tolist() == [255, 0, 0]  # right: red
    assert rgb[1, 0].tolist() == [0, 255, 255]  # left: cyan
    assert rgb[1, 2].tolist() == [255, 128, 128]  # right, half the length
    # Down and up are opposite hues at full saturation.
    assert min(rgb[0, 2]) == 0 and min(rgb[1, 1]) == 0
    assert offsets_to_rgb(offsets[None]).shape == (1, 2, 3, 3)
    np.testing.assert_array_equal(
        offsets_to_rgb(offsets, max_magnitude=4.0)[0, 1], [255, 128, 128]
    )
    wheel = offset_color_wheel(9)
    assert wheel.shape == (9, 9, 3)
    assert wheel[4, 8].tolist() == [255, 0, 0] and wheel[0, 0].tolist() == [255] * 3
    with pytest.raises(ValueError, match="offsets"):
        offsets_to_rgb(np.zeros((4, 4, 3)))
