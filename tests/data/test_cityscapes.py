"""Cityscapes from the extracted layout and through TFDS, on written files."""

import importlib.util
import io
import re
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_srcrm.data import cityscapes
from tests.data.data_layouts import CITYSCAPES_EVALUATED
from tests.data.data_layouts import CITYSCAPES_FRAMES
from tests.data.data_layouts import as_numpy
from tests.data.data_layouts import cityscapes_files
from tests.data.data_layouts import map_values
from tests.data.data_layouts import write_cityscapes_zips
from tests.data.data_layouts import write_tree

Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def layout(tmp_path):
    files = cityscapes_files(np.random.default_rng(0))
    return write_tree(tmp_path / "cityscapes", files), files


def decoded(data):
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_reads_every_split_pixel_for_pixel(layout, split):
    root, files = layout
    examples = as_numpy(cityscapes.cityscapes_dataset(root, split))
    frames = sorted(CITYSCAPES_FRAMES[split])
    assert len(examples) == len(frames)
    for (image, mask), (city, sequence, frame) in zip(examples, frames):
        stem = f"{split}/{city}/{city}_{sequence:06d}_{frame:06d}"
        source = decoded(files[f"leftImg8bit/{stem}_leftImg8bit.png"])
        label_ids = decoded(files[f"gtFine/{stem}_gtFine_labelIds.png"])
        assert image.dtype == np.float32 and mask.dtype == np.int32
        np.testing.assert_array_equal(image, source)
        np.testing.assert_array_equal(mask, map_values(label_ids, CITYSCAPES_EVALUATED))
        # All 34 label ids were present: 19 classes and the ignore label.
        assert set(np.unique(mask)) == set(range(19)) | {255}


def test_lists_only_the_label_id_masks(layout):
    root, _ = layout
    pairs = cityscapes.cityscapes_files(root, "train")
    assert [p[0].split("/")[-1] for p in pairs] == [
        "aachen_000000_000019_leftImg8bit.png",
        "bochum_000000_000313_leftImg8bit.png",
    ]
    assert all(m.endswith("_gtFine_labelIds.png") for _, m in pairs)


def test_custom_ignore_label(layout):
    root, _ = layout
    (_, mask), *_ = as_numpy(
        cityscapes.cityscapes_dataset(root, "val", ignore_label=-1)
    )
    assert set(np.unique(mask)) == set(range(19)) | {-1}


def test_missing_mask_names_the_image_and_the_expected_mask(layout):
    root, _ = layout
    mask = root / "gtFine/train/bochum/bochum_000000_000313_gtFine_labelIds.png"
    mask.unlink()
    with pytest.raises(FileNotFoundError) as error:
        cityscapes.cityscapes_dataset(root, "train")
    message = str(error.value)
    assert "bochum_000000_000313_leftImg8bit.png" in message
    assert str(mask) in message


@pytest.mark.parametrize("missing", ["leftImg8bit/val", "gtFine/val"])
def test_missing_split_directory_is_named(layout, missing):
    root, _ = layout
    shutil.rmtree(root / missing)
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / missing))):
        cityscapes.cityscapes_dataset(root, "val")


def test_missing_root_and_bad_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="argument `root`"):
        cityscapes.cityscapes_dataset(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="split='training'"):
        cityscapes.cityscapes_dataset(tmp_path, "training")


@pytest.mark.parametrize("which", ["image", "mask"])
def test_corrupt_file_is_named_at_iteration(layout, which):
    root, _ = layout
    stem = "val/frankfurt/frankfurt_000000_000294"
    if which == "image":
        path = root / f"leftImg8bit/{stem}_leftImg8bit.png"
    else:
        path = root / f"gtFine/{stem}_gtFine_labelIds.png"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # truncated
    dataset = cityscapes.cityscapes_dataset(root, "val")
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(str(path))):
        as_numpy(dataset)


# --- TFDS -----------------------------------------------------------------

needs_importlib_resources = pytest.mark.skipif(
    importlib.util.find_spec("importlib_resources") is None,
    reason="tensorflow-datasets 4.9 imports importlib_resources to prepare a "
    "dataset but does not declare it on Python >= 3.9; pip install "
    "importlib-resources",
)


@pytest.fixture(scope="module")
def tfds_prepared(tmp_path_factory):
    """Prepares TFDS cityscapes offline from two zips in a manual dir."""
    pytest.importorskip("tensorflow_datasets")
    if importlib.util.find_spec("importlib_resources") is None:
        pytest.skip("importlib_resources is not installed (see above)")
    base = tmp_path_factory.mktemp("tfds_cityscapes")
    files = cityscapes_files(np.random.default_rng(1), height=1024, width=2048)
    manual = base / "manual"
    manual.mkdir()
    write_cityscapes_zips(manual, files)
    data_dir = base / "data"
    train = cityscapes.cityscapes_tfds_dataset(
        "train", data_dir=data_dir, manual_dir=manual
    )
    return data_dir, files, train


@needs_importlib_resources
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_tfds_prepares_offline_from_the_zips_and_maps_labels(tfds_prepared, split):
    data_dir, files, _ = tfds_prepared
    # Already prepared: no manual_dir needed, and download=False is fine.
    dataset = cityscapes.cityscapes_tfds_dataset(
        split, data_dir=data_dir, download=False
    )
    examples = as_numpy(dataset)
    frames = CITYSCAPES_FRAMES[split]
    assert len(examples) == len(frames)
    expected = {}
    for city, sequence, frame in frames:
        stem = f"{split}/{city}/{city}_{sequence:06d}_{frame:06d}"
        image = decoded(files[f"leftImg8bit/{stem}_leftImg8bit.png"])
        label_ids = decoded(files[f"gtFine/{stem}_gtFine_labelIds.png"])
        expected[image.tobytes()] = map_values(label_ids, CITYSCAPES_EVALUATED)
    for image, mask in examples:
        assert image.shape == (1024, 2048, 3) and mask.shape == (1024, 2048)
        assert image.dtype == np.float32 and mask.dtype == np.int32
        key = image.astype(np.uint8).tobytes()
        assert key in expected  # the image is one of the written ones, exactly
        np.testing.assert_array_equal(mask, expected[key])


@needs_importlib_resources
def test_tfds_shuffles_deterministically(tfds_prepared):
    data_dir, _, _ = tfds_prepared

    def order(seed):
        dataset = cityscapes.cityscapes_tfds_dataset(
            "train", data_dir=data_dir, shuffle=True, seed=seed
        )
        return [float(image[0, 0, 0]) for image, _ in dataset]

    assert order(1) == order(1)


def test_tfds_names_the_missing_zips(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    (tmp_path / "manual").mkdir()
    with pytest.raises(FileNotFoundError) as error:
        cityscapes.cityscapes_tfds_dataset(
            "train", data_dir=tmp_path / "data", manual_dir=tmp_path / "manual"
        )
    message = str(error.value)
    assert str(tmp_path / "manual" / "leftImg8bit_trainvaltest.zip") in message
    assert str(tmp_path / "manual" / "gtFine_trainvaltest.zip") in message


def test_tfds_not_prepared_without_download(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(FileNotFoundError, match="download=True"):
        cityscapes.cityscapes_tfds_dataset("val", data_dir=tmp_path, download=False)


def test_tfds_bad_split():
    with pytest.raises(ValueError, match="split='training'"):
        cityscapes.cityscapes_tfds_dataset("training")


def test_tfds_explains_the_undeclared_importlib_resources(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    manual = tmp_path / "manual"
    manual.mkdir()
    write_cityscapes_zips(manual, cityscapes_files(np.random.default_rng(0)))
    monkeypatch.setitem(sys.modules, "importlib_resources", None)
    with pytest.raises(
        ImportError, match="Preparing a TFDS dataset.*importlib_resources"
    ):
        cityscapes.cityscapes_tfds_dataset(
            "train", data_dir=tmp_path / "data", manual_dir=manual
        )
