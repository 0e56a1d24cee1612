"""BDD100K semantic segmentation from the official layout, on written files."""

import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from keras_srcrm.data import bdd100k
from tests.data.data_layouts import as_numpy
from tests.data.data_layouts import bdd100k_files
from tests.data.data_layouts import write_tree


@pytest.fixture
def layout(tmp_path):
    files = bdd100k_files(np.random.default_rng(0))
    return write_tree(tmp_path / "bdd100k", files), files


def test_reads_train_ids_and_ignores_the_rest(layout):
    root, files = layout
    examples = as_numpy(bdd100k.bdd100k_dataset(root, "train"))
    assert len(examples) == 2
    for (image, mask), stem in zip(
        examples, ["0a0a0b1a-7c39d841", "0a0ba14e-98a0df9c"]
    ):
        reference = tf.io.decode_jpeg(files[f"images/10k/train/{stem}.jpg"], channels=3)
        np.testing.assert_array_equal(image, reference.numpy())
        raw = tf.io.decode_png(files[f"labels/sem_seg/masks/train/{stem}.png"])
        raw = raw.numpy()[..., 0].astype(np.int32)
        np.testing.assert_array_equal(mask, np.where(raw < 19, raw, 255))
        # 255 stays ignored; the stray 19 and 200 are ignored too.
        assert set(np.unique(mask)) == set(range(19)) | {255}
        assert (raw == 200).any() and (raw == 19).any()


def test_missing_mask_raises_or_is_skipped(layout):
    root, _ = layout
    missing = root / "labels/sem_seg/masks/train/0a0ba14e-98a0df9c.png"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        bdd100k.bdd100k_dataset(root, "train")
    with pytest.warns(UserWarning, match="Skipped 1 images without a mask"):
        dataset = bdd100k.bdd100k_dataset(root, "train", on_missing_mask="skip")
    assert len(as_numpy(dataset)) == 1


def test_missing_split_and_bad_split(layout):
    root, _ = layout
    with pytest.raises(ValueError, match="split='test'"):
        bdd100k.bdd100k_dataset(root, "test")
    masks = root / "labels/sem_seg/masks/val"
    shutil.rmtree(masks)
    with pytest.raises(FileNotFoundError, match=re.escape(str(masks))):
        bdd100k.bdd100k_dataset(root, "val")
