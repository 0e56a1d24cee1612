"""BDD100K semantic segmentation (the 10K images), from the extracted files.

The masks of `labels/sem_seg/masks/` already hold the 19 Cityscapes train ids
(0 = road, ..., 18 = bicycle) and 255 for "unknown"; values outside 0..18
become the ignore label.
"""

import os

from keras_srcrm.data import decode
from keras_srcrm.data import files
from keras_srcrm.data.labels import BDD100K_CLASS_NAMES
from keras_srcrm.data.labels import DEFAULT_IGNORE_LABEL
from keras_srcrm.data.labels import label_lookup_table
from keras_srcrm.utils.validation import argument_name

_SPLITS = ("train", "val")


def bdd100k_files(root, split="train", *, on_missing_mask="raise"):
    """Lists the image/mask pairs of a split of BDD100K semantic segmentation.

    Args:
        root: The `bdd100k` directory, holding `images/10k/` and
            `labels/sem_seg/masks/`.
        split: `"train"` or `"val"`.
        on_missing_mask: `"raise"`, or `"skip"` to leave out images without
            a mask (older `10k` image zips hold a few).

    Returns:
        A sorted list of `(image_path, mask_path)`, e.g.
        `(".../images/10k/val/7d06fefd-f7be05a6.jpg",
        ".../labels/sem_seg/masks/val/7d06fefd-f7be05a6.png")`.

    Raises:
        ValueError: If `split` is unknown.
        FileNotFoundError: If a split directory is missing or an image has
            no mask; the message names the path.
    """
    if split not in _SPLITS:
        name = argument_name("split")
        raise ValueError(
            f"`{name}` must be one of {_SPLITS} (the test split has no public "
            f"masks). Received: {name}={split!r}"
        )
    root = files.require_directory(root, "BDD100K (argument `root`)")
    image_dir = files.require_directory(
        os.path.join(root, "images", "10k", split),
        f"BDD100K 10K images of split '{split}' (from `root`)",
    )
    mask_dir = files.require_directory(
        os.path.join(root, "labels", "sem_seg", "masks", split),
        f"BDD100K semantic segmentation masks of split '{split}' (from `root`)",
    )
    return files.find_pairs(
        image_dir,
        mask_dir,
        image_suffix=".jpg",
        mask_suffix=".png",
        on_missing_mask=on_missing_mask,
    )


def bdd100k_dataset(
    root,
    split="train",
    *,
    ignore_label=DEFAULT_IGNORE_LABEL,
    on_missing_mask="raise",
    shuffle=False,
    seed=None,
):
    """Reads BDD100K semantic segmentation from the official layout.

    Expects `root/images/10k/{train,val}/NAME.jpg` and
    `root/labels/sem_seg/masks/{train,val}/NAME.png`.

    Args:
        root: The `bdd100k` directory.
        split: `"train"` (7000 images) or `"val"` (1000).
        ignore_label: The label of "unknown" (255) and out-of-range pixels.
        on_missing_mask: `"raise"`, or `"skip"` to leave out images without
            a mask, with a warning.
        shuffle: Whether to shuffle the file order on each pass.
        seed: Seed of the shuffle.

    Returns:
        A `tf.data.Dataset` of `(image, mask)`: float32 `(720, 1280, 3)` in
        [0, 255] and int32 `(720, 1280)` train ids 0..18 or `ignore_label`.

    Raises:
        ValueError: If `split` or `ignore_label` is invalid.
        FileNotFoundError: If a directory or a mask is missing.

    Example:

    ```python
    val = keras_srcrm.data.bdd100k_dataset("/data/bdd100k", "val")
    ```
    """
    table = label_lookup_table(None, len(BDD100K_CLASS_NAMES), ignore_label)
    return decode.pairs_dataset(
        bdd100k_files(root, split, on_missing_mask=on_missing_mask),
        lookup_table=table,
        ignore_label=ignore_label,
        shuffle=shuffle,
        seed=seed,
    )
