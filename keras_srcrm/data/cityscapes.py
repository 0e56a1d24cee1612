"""Cityscapes (fine annotations), from the extracted files or through TFDS.

Label ids of the `*_gtFine_labelIds.png` masks are mapped to the 19 train ids
of cityscapesScripts (road = 7 -> 0, ..., bicycle = 33 -> 18); the other
label ids, including 0 ("unlabeled") and license plate (-1), become the
ignore label.
"""

import os

from keras_srcrm.data import decode
from keras_srcrm.data import files
from keras_srcrm.data import tfds_builders
from keras_srcrm.data.labels import DEFAULT_IGNORE_LABEL
from keras_srcrm.data.labels import cityscapes_lookup_table
from keras_srcrm.utils.backend import import_optional
from keras_srcrm.utils.validation import check_choice

tf = import_optional("tensorflow", "keras_srcrm.data pipelines")

_SPLITS = ("train", "val", "test")
_TFDS_SPLITS = {
    "train": "train",
    "val": "validation",
    "validation": "validation",
    "test": "test",
}
_TFDS_NAME = "cityscapes/semantic_segmentation"
_TFDS_ARCHIVES = ("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip")


def cityscapes_files(root, split="train"):
    """Lists the image/mask pairs of a split of the extracted Cityscapes.

    Args:
        root: Directory holding `leftImg8bit/` and `gtFine/`.
        split: `"train"`, `"val"` or `"test"`.

    Returns:
        A sorted list of `(image_path, mask_path)`, e.g.
        `(".../leftImg8bit/val/lindau/lindau_000000_000019_leftImg8bit.png",
        ".../gtFine/val/lindau/lindau_000000_000019_gtFine_labelIds.png")`.

    Raises:
        ValueError: If `split` is unknown.
        FileNotFoundError: If a split directory is missing or an image has
            no `_gtFine_labelIds.png` mask; the message names the path.
    """
    check_choice("split", split, _SPLITS)
    root = files.require_directory(root, "Cityscapes (argument `root`)")
    image_dir = files.require_directory(
        os.path.join(root, "leftImg8bit", split),
        f"Cityscapes images of split '{split}' (from `root`)",
    )
    mask_dir = files.require_directory(
        os.path.join(root, "gtFine", split),
        f"Cityscapes fine annotations of split '{split}' (from `root`)",
    )
    return files.find_pairs(
        image_dir,
        mask_dir,
        image_suffix="_leftImg8bit.png",
        mask_suffix="_gtFine_labelIds.png",
        recursive=True,
    )


def cityscapes_dataset(
    root, split="train", *, ignore_label=DEFAULT_IGNORE_LABEL, shuffle=False, seed=None
):
    """Reads Cityscapes from the extracted official layout.

    Expects `root/leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png`
    and `root/gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png`,
    as unzipped from `leftImg8bit_trainvaltest.zip` and
    `gtFine_trainvaltest.zip`. The file list is checked when the dataset is
    built; a file that cannot be decoded fails iteration with a message
    naming it. The test split's public masks are all void (ignore label).

    Args:
        root: Directory holding `leftImg8bit/` and `gtFine/`.
        split: `"train"` (2975 images), `"val"` (500) or `"test"` (1525).
        ignore_label: The label of pixels that are not evaluated.
        shuffle: Whether to shuffle the file order on each pass.
        seed: Seed of the shuffle.

    Returns:
        A `tf.data.Dataset` of `(image, mask)`: float32 `(1024, 2048, 3)` in
        [0, 255] and int32 `(1024, 2048)` train ids 0..18 or `ignore_label`.

    Raises:
        ValueError: If `split` or `ignore_label` is invalid.
        FileNotFoundError: If a directory or a mask is missing.

    Example:

    ```python
    val = keras_srcrm.data.cityscapes_dataset("/data/cityscapes", "val")
    val = keras_srcrm.data.evaluation_pipeline(val)
    ```
    """
    table = cityscapes_lookup_table(ignore_label)
    return decode.pairs_dataset(
        cityscapes_files(root, split),
        lookup_table=table,
        ignore_label=ignore_label,
        shuffle=shuffle,
        seed=seed,
    )


def cityscapes_tfds_dataset(
    split="train",
    *,
    data_dir=None,
    manual_dir=None,
    download=True,
    ignore_label=DEFAULT_IGNORE_LABEL,
    shuffle=False,
    seed=None,
    shuffle_buffer=16,
):
    """Reads Cityscapes through TFDS `cityscapes/semantic_segmentation`.

    Cityscapes needs registration, so TFDS cannot download it: put
    `leftImg8bit_trainvaltest.zip` and `gtFine_trainvaltest.zip` in
    `manual_dir` and the first call prepares the dataset into `data_dir`
    (offline; about 11 GB on disk), later calls read it.

    Args:
        split: `"train"`, `"val"` (or `"validation"`) or `"test"`.
        data_dir: TFDS data directory, or `None` for TFDS's default
            (`~/tensorflow_datasets`).
        manual_dir: Directory of the two zips, or `None` for TFDS's default
            (`<data_dir>/downloads/manual`).
        download: Whether to prepare the dataset if it is not prepared.
        ignore_label: The label of pixels that are not evaluated.
        shuffle: Whether to shuffle the shards and a buffer of examples.
        seed: Seed of the shuffle.
        shuffle_buffer: Number of (still encoded) examples in the buffer.

    Returns:
        A `tf.data.Dataset` of `(image, mask)` like `cityscapes_dataset`.

    Raises:
        ValueError: If `split` or `ignore_label` is invalid.
        FileNotFoundError: If the dataset is not prepared and a zip is
            missing (the message names it), or `download` is false.
        ImportError: If `tensorflow_datasets` is not installed.

    Example:

    ```python
    train = keras_srcrm.data.cityscapes_tfds_dataset(
        "train", data_dir="/data/tfds", manual_dir="/data/cityscapes_zips"
    )
    ```
    """
    if split not in _TFDS_SPLITS:
        raise ValueError(
            f"`split` must be one of {tuple(_TFDS_SPLITS)}. Received: split={split!r}"
        )
    table = cityscapes_lookup_table(ignore_label)
    builder = tfds_builders.prepared_builder(
        _TFDS_NAME,
        data_dir=data_dir,
        manual_dir=manual_dir,
        download=download,
        manual_files=_TFDS_ARCHIVES,
        manual_files_required=True,
    )
    dataset = tfds_builders.read_split(
        builder,
        _TFDS_SPLITS[split],
        keys=("image_left", "segmentation_label"),
        shuffle=shuffle,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
    )

    def to_example(example):
        image = tf.io.decode_png(example["image_left"], channels=3)
        raw = tf.io.decode_png(example["segmentation_label"], channels=1)[..., 0]
        mask = decode.apply_lookup_table(raw, table, ignore_label)
        return tf.cast(image, tf.float32), mask

    return dataset.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
