"""ADE20K from `ADEChallengeData2016` and TFDS `scene_parse150`, on written files."""

import importlib.util
import io
import re

import numpy as np
import pytest
import tensorflow as tf

from keras_srcrm.data import ade20k
from keras_srcrm.data.labels import ADE20K_CLASS_NAMES
from tests.data.data_layouts import ADE20K_INSTANCE_NAMES
from tests.data.data_layouts import ade20k_files
from tests.data.data_layouts import as_numpy
from tests.data.data_layouts import write_scene_parse150_tars
from tests.data.data_layouts import write_tree

Image = pytest.importorskip("PIL.Image")


def decoded(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def decoded_jpeg(data):
    # TensorFlow's decoder as the reference: Pillow's rounds chroma
    # differently, and the readers must only not alter the pixels.
    return tf.io.decode_jpeg(data, channels=3).numpy()


@pytest.fixture
def layout(tmp_path):
    files = ade20k_files(np.random.default_rng(0))
    return write_tree(tmp_path / "ADEChallengeData2016", files), files


@pytest.mark.parametrize(
    "split, directory, prefix",
    [("train", "training", "ADE_train"), ("validation", "validation", "ADE_val")],
)
def test_reads_the_official_layout_pixel_for_pixel(layout, split, directory, prefix):
    root, files = layout
    examples = as_numpy(ade20k.ade20k_dataset(root, split))
    assert len(examples) == 2
    for number, (image, mask) in enumerate(examples, 1):
        stem = f"{prefix}_{number:08d}"
        source = decoded_jpeg(files[f"images/{directory}/{stem}.jpg"])
        raw = decoded(files[f"annotations/{directory}/{stem}.png"])
        np.testing.assert_array_equal(image, source)
        expected = np.where(raw == 0, 255, raw.astype(np.int32) - 1)
        np.testing.assert_array_equal(mask, expected)
        assert set(np.unique(mask)) == set(range(150)) | {255}


def test_root_may_be_the_parent_directory(layout):
    root, _ = layout
    pairs = ade20k.ade20k_files(root.parent, "val")
    assert [p[0].split("/")[-1] for p in pairs] == [
        "ADE_val_00000001.jpg",
        "ADE_val_00000002.jpg",
    ]


def test_errors_name_the_files(layout):
    root, _ = layout
    (root / "annotations/validation/ADE_val_00000002.png").unlink()
    with pytest.raises(FileNotFoundError, match="ADE_val_00000002.jpg"):
        ade20k.ade20k_dataset(root, "val")
    for image in (root / "images/training").iterdir():
        image.unlink()
    (root / "images/training").rmdir()
    with pytest.raises(
        FileNotFoundError, match=re.escape(str(root / "images/training"))
    ):
        ade20k.ade20k_dataset(root, "train")


def test_corrupt_jpeg_is_named_at_iteration(layout):
    root, _ = layout
    path = root / "images/validation/ADE_val_00000001.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(str(path))):
        as_numpy(ade20k.ade20k_dataset(root, "val"))


def test_test_split_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="no public annotations"):
        ade20k.ade20k_dataset(tmp_path, "test")
    with pytest.raises(ValueError, match="split='val'"):
        ade20k.ade20k_tfds_dataset("test")


# --- TFDS scene_parse150 ----------------------------------------------------


@pytest.fixture(scope="module")
def scene_parse150(tmp_path_factory):
    """Prepares TFDS scene_parse150 offline from two tars in a manual dir.

    TFDS takes registered URLs from `manual_dir` when a file of the
    registered name is there, and checks it against the registered
    checksum. These tars are small stand-ins, so their own checksums are
    registered for the duration of the test; everything else (finding the
    files, extracting, the builder's split and example generation) is
    TFDS's real code.
    """
    tfds = pytest.importorskip("tensorflow_datasets")
    if importlib.util.find_spec("importlib_resources") is None:
        pytest.skip(
            "tensorflow-datasets 4.9 needs importlib_resources to prepare a "
            "dataset; pip install importlib-resources"
        )
    from etils import epath
    from tensorflow_datasets.core.download import checksums

    base = tmp_path_factory.mktemp("tfds_ade20k")
    manual = base / "manual"
    manual.mkdir()
    contents = write_scene_parse150_tars(manual, np.random.default_rng(2))
    builder_cls = tfds.builder_cls("scene_parse150")
    registered = dict(builder_cls.url_infos)
    assert sorted(info.filename for info in registered.values()) == [
        "annotations_instance.tar",
        "images.tar",
    ]
    local = {}
    for url, info in registered.items():
        computed = checksums.compute_url_info(epath.Path(manual / info.filename))
        local[url] = checksums.UrlInfo(
            size=computed.size, checksum=computed.checksum, filename=info.filename
        )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builder_cls, "url_infos", property(lambda self: local))
        ade20k.ade20k_tfds_dataset("train", data_dir=base / "data", manual_dir=manual)
    return base / "data", contents


@pytest.mark.parametrize(
    "split, directory", [("train", "training"), ("val", "validation")]
)
def test_tfds_maps_instance_categories_to_the_150_classes(
    scene_parse150, split, directory
):
    data_dir, contents = scene_parse150
    examples = as_numpy(
        ade20k.ade20k_tfds_dataset(split, data_dir=data_dir, download=False)
    )
    expected = {
        decoded_jpeg(jpeg).tobytes(): annotation
        for (where, _), (jpeg, annotation) in contents.items()
        if where == directory
    }
    assert len(examples) == 2
    # Category c (1..100) is the object named ADE20K_INSTANCE_NAMES[c - 1];
    # its train id is that name's index among the 150 classes.
    train_id_of = {0: 255}
    for category, name in enumerate(ADE20K_INSTANCE_NAMES, 1):
        train_id_of[category] = ADE20K_CLASS_NAMES.index(name)
    for image, mask in examples:
        key = image.astype(np.uint8).tobytes()
        assert key in expected
        red = expected[key][..., 0]
        np.testing.assert_array_equal(mask, np.vectorize(train_id_of.get)(red))
    # Only the 100 object classes appear; "wall" (0), "sky" (2) never do.
    found = set(np.unique(np.concatenate([m.ravel() for _, m in examples])))
    assert len(found) == 101 and 0 not in found and 2 not in found


def test_tfds_manual_dir_must_hold_both_tars(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "images.tar").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="annotations_instance.tar"):
        ade20k.ade20k_tfds_dataset("train", data_dir=tmp_path / "d", manual_dir=manual)
