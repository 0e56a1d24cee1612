"""Any folder of image/mask pairs: suffixes, label maps, mask encodings, errors."""

import io
import re

import numpy as np
import pytest
import tensorflow as tf

from keras_srcrm.data import folder
from tests.data.data_layouts import as_numpy
from tests.data.data_layouts import blocky_image
from tests.data.data_layouts import encode
from tests.data.data_layouts import striped_mask
from tests.data.data_layouts import write

Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def pairs(tmp_path):
    """Two PNG images with `_mask.png` masks of values 0, 128, 255, 77."""
    rng = np.random.default_rng(0)
    images, masks = tmp_path / "images", tmp_path / "masks"
    arrays = {}
    for name in ("b", "a"):
        image = blocky_image(rng, 6, 8)
        mask = striped_mask([0, 128, 255, 77], 6, 8)
        write(images / f"{name}.png", encode(image, "PNG"))
        write(masks / f"{name}_mask.png", encode(mask, "PNG"))
        arrays[name] = image, mask
    write(images / "notes.txt", b"not an image")
    return images, masks, arrays


def test_label_map_and_suffixes(pairs):
    images, masks, arrays = pairs
    dataset = folder.folder_dataset(
        images,
        masks,
        num_classes=3,
        image_suffix=".png",
        mask_suffix="_mask.png",
        label_map={0: 0, 128: 1, 255: 2},
        ignore_label=-1,
    )
    examples = as_numpy(dataset)
    assert len(examples) == 2  # sorted: a, b; notes.txt is not an image
    for (image, mask), name in zip(examples, ["a", "b"]):
        source_image, source_mask = arrays[name]
        np.testing.assert_array_equal(image, source_image)
        expected = {0: 0, 128: 1, 255: 2, 77: -1}
        np.testing.assert_array_equal(mask, np.vectorize(expected.get)(source_mask))


def test_without_label_map_values_beyond_num_classes_are_ignored(pairs):
    images, masks, _ = pairs
    dataset = folder.folder_dataset(
        images, masks, num_classes=100, image_suffix=".png", mask_suffix="_mask.png"
    )
    (_, mask), _ = as_numpy(dataset)
    assert set(np.unique(mask)) == {0, 77, 255}  # 128 and 255 -> ignore (255)
    assert not (mask == 128).any()


def test_recursive_pairs_keep_the_sub_directory(tmp_path):
    rng = np.random.default_rng(1)
    for city in ("x", "y"):
        write(tmp_path / f"img/{city}/f.jpg", encode(blocky_image(rng, 4, 4), "JPEG"))
        write(
            tmp_path / f"gt/{city}/f.png",
            encode(striped_mask([ord(city)], 4, 4), "PNG"),
        )
    dataset = folder.folder_dataset(
        tmp_path / "img",
        tmp_path / "gt",
        num_classes=200,
        recursive=True,
    )
    masks = [mask for _, mask in as_numpy(dataset)]
    assert [int(m[0, 0]) for m in masks] == [ord("x"), ord("y")]


def test_sixteen_bit_masks_keep_their_values(tmp_path):
    mask = striped_mask([0, 1], 4, 6).astype(np.uint16) * 1000 + 300
    write(
        tmp_path / "i/a.png",
        encode(blocky_image(np.random.default_rng(0), 4, 6), "PNG"),
    )
    write(tmp_path / "m/a.png", encode(mask, "PNG"))
    dataset = folder.folder_dataset(
        tmp_path / "i",
        tmp_path / "m",
        num_classes=2,
        image_suffix=".png",
        label_map={300: 0, 1300: 1},
    )
    (_, out), *_ = as_numpy(dataset)
    np.testing.assert_array_equal(out, (mask == 1300).astype(np.int32))


def test_rgb_masks_with_equal_channels_are_accepted(tmp_path):
    grey = striped_mask([1, 2], 4, 4)
    write(
        tmp_path / "i/a.jpg",
        encode(blocky_image(np.random.default_rng(0), 4, 4), "JPEG"),
    )
    write(tmp_path / "m/a.png", encode(np.stack([grey] * 3, -1), "PNG"))
    dataset = folder.folder_dataset(tmp_path / "i", tmp_path / "m", num_classes=3)
    (_, mask), *_ = as_numpy(dataset)
    np.testing.assert_array_equal(mask, grey)


def _single_pair(tmp_path, mask_bytes, image_shape=(4, 4)):
    image = blocky_image(np.random.default_rng(0), *image_shape)
    write(tmp_path / "i/a.jpg", encode(image, "JPEG"))
    mask = write(tmp_path / "m/a.png", mask_bytes)
    return folder.folder_dataset(tmp_path / "i", tmp_path / "m", num_classes=3), mask


def test_palette_mask_is_refused_by_name(tmp_path):
    palette = Image.fromarray(striped_mask([0, 1, 2], 4, 4), mode="L").convert("P")
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    dataset, mask = _single_pair(tmp_path, buffer.getvalue())
    with pytest.raises(tf.errors.InvalidArgumentError, match="palette PNG") as error:
        as_numpy(dataset)
    assert str(mask) in str(error.value)


def test_colour_mask_is_refused_by_name(tmp_path):
    colours = np.zeros((4, 4, 3), np.uint8)
    colours[..., 0] = 200
    dataset, mask = _single_pair(tmp_path, encode(colours, "PNG"))
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(str(mask))):
        as_numpy(dataset)


def test_size_mismatch_names_both_files(tmp_path):
    dataset, mask = _single_pair(
        tmp_path, encode(striped_mask([0], 5, 4), "PNG"), image_shape=(4, 4)
    )
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        as_numpy(dataset)
    message = str(error.value)
    assert str(mask) in message and str(tmp_path / "i/a.jpg") in message
    assert "4x4" in message and "5x4" in message


def test_unreadable_mask_is_named(tmp_path):
    dataset, mask = _single_pair(tmp_path, b"")
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(str(mask))):
        as_numpy(dataset)


def test_missing_and_empty_directories(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="Directory of images not found"):
        folder.folder_dataset(tmp_path / "nope", tmp_path / "empty", num_classes=2)
    with pytest.raises(FileNotFoundError, match="Directory of masks not found"):
        folder.folder_dataset(tmp_path / "empty", tmp_path / "nope", num_classes=2)
    with pytest.raises(FileNotFoundError, match=r"No image file ending in '\.jpg'"):
        folder.folder_dataset(tmp_path / "empty", tmp_path / "empty", num_classes=2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_classes=0), "num_classes"),
        (dict(num_classes=2, label_map=[0, 1]), "label_map"),
        (dict(num_classes=2, label_map={-1: 0}), "key -1"),
        (dict(num_classes=2, ignore_label=1), "ignore_label"),
        (dict(num_classes=2, image_suffix=""), "image_suffix"),
        (dict(num_classes=2, on_missing_mask="ignore"), "on_missing_mask"),
    ],
)
def test_bad_arguments_name_themselves(pairs, kwargs, match):
    images, masks, _ = pairs
    with pytest.raises(ValueError, match=match):
        folder.folder_dataset(images, masks, **kwargs)


def test_default_suffixes_find_the_usual_image_formats(tmp_path):
    rng = np.random.default_rng(0)
    formats = {"a.jpg": "JPEG", "b.jpeg": "JPEG", "c.png": "PNG", "d.JPG": "JPEG"}
    for name, format in formats.items():
        write(tmp_path / "i" / name, encode(blocky_image(rng, 4, 4), format))
        stem = name.split(".")[0]
        write(tmp_path / f"m/{stem}.png", encode(striped_mask([1], 4, 4), "PNG"))
    write(tmp_path / "i/notes.txt", b"not an image")
    dataset = folder.folder_dataset(tmp_path / "i", tmp_path / "m", num_classes=2)
    assert len(as_numpy(dataset)) == 4


def test_images_and_masks_may_share_a_directory(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write(tmp_path / f"{name}.png", encode(blocky_image(rng, 4, 4), "PNG"))
        write(tmp_path / f"{name}_mask.png", encode(striped_mask([1], 4, 4), "PNG"))
    dataset = folder.folder_dataset(
        tmp_path, tmp_path, num_classes=2, mask_suffix="_mask.png"
    )
    assert len(as_numpy(dataset)) == 2


def _tiny_model():
    import keras

    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(3, 1)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda i, m: write(i, b"\x89PNG\r\n\x1a\n half a header"), "image"),
        (lambda i, m: write(i, b"plain text, not an image"), "image"),
        (lambda i, m: write(m, encode(striped_mask([0], 5, 4), "PNG")), "mask"),
    ],
)
def test_a_damaged_file_is_one_line_naming_it_even_inside_fit(tmp_path, damage, named):
    from keras_srcrm.data import file_error_message

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write(tmp_path / f"i/{name}.png", encode(blocky_image(rng, 4, 4), "PNG"))
        write(tmp_path / f"m/{name}.png", encode(striped_mask([1], 4, 4), "PNG"))
    image, mask = tmp_path / "i/b.png", tmp_path / "m/b.png"
    damage(image, mask)
    dataset = folder.folder_dataset(tmp_path / "i", tmp_path / "m", num_classes=3)
    with pytest.raises(Exception) as error:  # as each backend's fit raises it
        _tiny_model().fit(dataset.batch(1), epochs=1, verbose=0)
    message = file_error_message(error.value)
    assert message is not None and "\n" not in message
    assert f"'{image if named == 'image' else mask}'" in message
    assert "{{" not in message and "Traceback" not in message
