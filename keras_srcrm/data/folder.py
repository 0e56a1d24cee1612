"""Any directory of images with a directory of matching masks."""

from keras_srcrm.data import decode
from keras_srcrm.data import files
from keras_srcrm.data.files import IMAGE_SUFFIXES
from keras_srcrm.data.labels import DEFAULT_IGNORE_LABEL
from keras_srcrm.data.labels import label_lookup_table
from keras_srcrm.utils.validation import check_num_classes


def folder_dataset(
    image_dir,
    mask_dir,
    *,
    num_classes,
    image_suffix=IMAGE_SUFFIXES,
    mask_suffix=".png",
    label_map=None,
    ignore_label=DEFAULT_IGNORE_LABEL,
    recursive=False,
    on_missing_mask="raise",
    shuffle=False,
    seed=None,
):
    """Reads image/mask pairs that share a file-name stem.

    The image `image_dir/REL/NAME{image_suffix}` is paired with the mask
    `mask_dir/REL/NAME{mask_suffix}` (`REL` is empty unless `recursive`).
    `image_dir` and `mask_dir` may be the same directory when the masks
    have a suffix of their own (e.g. `"_mask.png"`): files ending in
    `mask_suffix` are then not taken for images.
    Masks must be single-channel (8- or 16-bit PNG, or any format
    `tf.io.decode_image` reads); palette PNGs are refused, because
    TensorFlow decodes them to colours.

    Args:
        image_dir: Directory of the images.
        mask_dir: Directory of the masks.
        num_classes: Number of classes; train ids are `0 .. num_classes - 1`.
        image_suffix: End of the image file names, e.g. `".jpg"`, or a
            tuple of such ends. Defaults to `IMAGE_SUFFIXES`: `.jpg`,
            `.jpeg`, `.png`, `.bmp` and `.gif`, in lower or upper case.
            Case matters otherwise: `".JPG"` files are not matched by
            `".jpg"`.
        mask_suffix: End of the mask file names, e.g. `".png"` or
            `"_mask.png"`.
        label_map: Optional dict `{raw mask value: train id}`. Raw values
            not in it, or mapped outside `[0, num_classes)`, become
            `ignore_label`. `None` means the masks already hold train ids:
            values `0 .. num_classes - 1` are kept, all others ignored.
        ignore_label: The label of pixels that are not evaluated.
        recursive: Whether to pair images in sub-directories too.
        on_missing_mask: `"raise"`, or `"skip"` to leave out images without
            a mask, with a warning.
        shuffle: Whether to shuffle the file order on each pass.
        seed: Seed of the shuffle.

    Returns:
        A `tf.data.Dataset` of `(image, mask)`: float32 `(H, W, 3)` in
        [0, 255] and int32 `(H, W)`.

    Raises:
        ValueError: If an argument is invalid.
        FileNotFoundError: If a directory is missing, it holds no image, or
            an image has no mask; the message names the path.

    Example:

    ```python
    dataset = keras_srcrm.data.folder_dataset(
        "data/images", "data/masks", num_classes=3,
        mask_suffix="_mask.png", label_map={0: 0, 128: 1, 255: 2},
        ignore_label=-1,
    )
    ```
    """
    num_classes = check_num_classes(num_classes)
    if label_map is not None and not isinstance(label_map, dict):
        raise ValueError(
            "`label_map` must be a dict {raw mask value: train id} or None. "
            f"Received: label_map={label_map!r}"
        )
    # 16-bit masks need a table over 65536 raw values.
    largest = max(label_map, default=0) if label_map else num_classes - 1
    size = 256 if largest < 256 else 65536
    table = label_lookup_table(label_map, num_classes, ignore_label, size=size)
    pairs = files.find_pairs(
        image_dir,
        mask_dir,
        image_suffix=image_suffix,
        mask_suffix=mask_suffix,
        recursive=recursive,
        on_missing_mask=on_missing_mask,
    )
    return decode.pairs_dataset(
        pairs, lookup_table=table, ignore_label=ignore_label, shuffle=shuffle, seed=seed
    )
