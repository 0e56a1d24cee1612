"""ADE20K (SceneParse150), from the extracted files or through TFDS.

The official `ADEChallengeData2016` masks hold 0 ("other", not evaluated) and
1..150; they become the ignore label and train ids 0..149.

TFDS `scene_parse150` is a different annotation: it downloads the Places
Challenge 2017 *instance* masks (`annotations_instance.tar`), RGB PNGs whose
red channel is one of 100 object categories and whose green channel is an
instance id. `ade20k_tfds_dataset` maps those 100 categories to their ids
among the 150 classes; the 50 "stuff" classes (wall, sky, floor, road, ...)
are absent from that annotation and come out as the ignore label. Use
`ade20k_dataset` for the 150-class benchmark.
"""

import os

from keras_srcrm.data import decode
from keras_srcrm.data import files
from keras_srcrm.data import tfds_builders
from keras_srcrm.data.labels import DEFAULT_IGNORE_LABEL
from keras_srcrm.data.labels import ade20k_instance_lookup_table
from keras_srcrm.data.labels import ade20k_lookup_table
from keras_srcrm.utils.backend import import_optional
from keras_srcrm.utils.validation import argument_name
from keras_srcrm.utils.validation import spell

tf = import_optional("tensorflow", "keras_srcrm.data pipelines")

_SPLIT_DIRS = {
    "train": "training",
    "training": "training",
    "val": "validation",
    "validation": "validation",
}
_TFDS_SPLITS = {
    "train": "train",
    "training": "train",
    "val": "test",
    "validation": "test",
}
_TFDS_NAME = "scene_parse150"
_TFDS_ARCHIVES = ("images.tar", "annotations_instance.tar")


def _check_split(split, splits):
    if split not in splits:
        name = argument_name("split")
        message = f"`{name}` must be one of {tuple(splits)}. Received: {name}={split!r}"
        if split == "test":
            message += (
                ". ADE20K's test images have no public annotations (TFDS "
                f"calls the validation images 'test'; pass {spell('split', 'val')})."
            )
        raise ValueError(message)


def ade20k_files(root, split="train"):
    """Lists the image/mask pairs of a split of `ADEChallengeData2016`.

    Args:
        root: The `ADEChallengeData2016` directory (holding `images/` and
            `annotations/`), or the directory that contains it.
        split: `"train"` (or `"training"`) or `"val"` (or `"validation"`).

    Returns:
        A sorted list of `(image_path, mask_path)`, e.g.
        `(".../images/validation/ADE_val_00000001.jpg",
        ".../annotations/validation/ADE_val_00000001.png")`.

    Raises:
        ValueError: If `split` is unknown.
        FileNotFoundError: If a split directory is missing or an image has
            no mask; the message names the path.
    """
    _check_split(split, _SPLIT_DIRS)
    root = files.require_directory(root, "ADE20K (argument `root`)")
    nested = os.path.join(root, "ADEChallengeData2016")
    if not os.path.isdir(os.path.join(root, "images")) and os.path.isdir(nested):
        root = nested
    directory = _SPLIT_DIRS[split]
    image_dir = files.require_directory(
        os.path.join(root, "images", directory),
        f"ADE20K images of split '{split}' (from `root`)",
    )
    mask_dir = files.require_directory(
        os.path.join(root, "annotations", directory),
        f"ADE20K annotations of split '{split}' (from `root`)",
    )
    return files.find_pairs(
        image_dir, mask_dir, image_suffix=".jpg", mask_suffix=".png"
    )


def ade20k_dataset(
    root, split="train", *, ignore_label=DEFAULT_IGNORE_LABEL, shuffle=False, seed=None
):
    """Reads ADE20K from the extracted `ADEChallengeData2016` layout.

    Expects `images/{training,validation}/ADE_*.jpg` and
    `annotations/{training,validation}/ADE_*.png` (as unzipped from
    `ADEChallengeData2016.zip`). Images vary in size; a file that cannot be
    decoded fails iteration with a message naming it.

    Args:
        root: The `ADEChallengeData2016` directory, or its parent.
        split: `"train"` (20210 images) or `"val"` (2000).
        ignore_label: The label of "other" (value 0) pixels.
        shuffle: Whether to shuffle the file order on each pass.
        seed: Seed of the shuffle.

    Returns:
        A `tf.data.Dataset` of `(image, mask)`: float32 `(H, W, 3)` in
        [0, 255] and int32 `(H, W)` train ids 0..149 or `ignore_label`.

    Raises:
        ValueError: If `split` or `ignore_label` is invalid.
        FileNotFoundError: If a directory or a mask is missing.

    Example:

    ```python
    train = keras_srcrm.data.ade20k_dataset("/data/ADEChallengeData2016")
    ```
    """
    table = ade20k_lookup_table(ignore_label)
    return decode.pairs_dataset(
        ade20k_files(root, split),
        lookup_table=table,
        ignore_label=ignore_label,
        shuffle=shuffle,
        seed=seed,
    )


def ade20k_tfds_dataset(
    split="train",
    *,
    data_dir=None,
    manual_dir=None,
    download=True,
    ignore_label=DEFAULT_IGNORE_LABEL,
    shuffle=False,
    seed=None,
    shuffle_buffer=64,
):
    """Reads TFDS `scene_parse150`: ADE20K images, 100 object classes labelled.

    Not the 150-class benchmark (see the module docstring): TFDS holds the
    Places Challenge 2017 instance masks, so only the 100 object ("thing")
    classes are labelled, with their train ids among the 150 classes of
    `ade20k_dataset`; all other pixels, the 50 stuff classes included, are
    `ignore_label`. The class names and count are those of ADE20K (150).

    TFDS downloads `images.tar` and `annotations_instance.tar` (about 1 GB)
    on the first call. To prepare offline, put those two files (with the
    checksums TFDS registers) in `manual_dir`.

    Args:
        split: `"train"` (20210 images) or `"val"` (2000; TFDS's `"test"`).
        data_dir: TFDS data directory, or `None` for TFDS's default.
        manual_dir: Directory holding the two tars, or `None` to download.
        download: Whether to prepare the dataset if it is not prepared.
        ignore_label: The label of pixels without an object instance.
        shuffle: Whether to shuffle the shards and a buffer of examples.
        seed: Seed of the shuffle.
        shuffle_buffer: Number of (still encoded) examples in the buffer.

    Returns:
        A `tf.data.Dataset` of `(image, mask)`: float32 `(H, W, 3)` and
        int32 `(H, W)`.

    Raises:
        ValueError: If `split` or `ignore_label` is invalid.
        FileNotFoundError: If `manual_dir` lacks a tar, or the dataset is
            not prepared and `download` is false.
        ImportError: If `tensorflow_datasets` is not installed.

    Example:

    ```python
    train = keras_srcrm.data.ade20k_tfds_dataset("train", data_dir="/data/tfds")
    ```
    """
    _check_split(split, _TFDS_SPLITS)
    table = ade20k_instance_lookup_table(ignore_label)
    builder = tfds_builders.prepared_builder(
        _TFDS_NAME,
        data_dir=data_dir,
        manual_dir=manual_dir,
        download=download,
        manual_files=_TFDS_ARCHIVES,
        manual_files_required=manual_dir is not None,
    )
    dataset = tfds_builders.read_split(
        builder,
        _TFDS_SPLITS[split],
        keys=("image", "annotation"),
        shuffle=shuffle,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
    )

    def to_example(example):
        image = tf.io.decode_jpeg(example["image"], channels=3)
        category = tf.io.decode_png(example["annotation"], channels=3)[..., 0]
        mask = decode.apply_lookup_table(category, table, ignore_label)
        return tf.cast(image, tf.float32), mask

    return dataset.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
