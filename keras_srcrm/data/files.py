"""Finds image/mask file pairs on disk and checks them before any decoding.

Everything that can be checked without decoding is checked here, eagerly, so
that a missing directory or a missing mask is reported with its path when the
dataset is built rather than deep inside a `tf.data` iterator.
"""

import os
import warnings

_MISSING_MASK_POLICIES = ("raise", "skip")


def require_directory(path, what):
    """Returns `path` as a string, or raises if it is not a directory.

    Args:
        path: The directory.
        what: What it should hold, for the message, e.g.
            `"Cityscapes images of split 'val'"`.

    Returns:
        `os.fspath(path)`.

    Raises:
        FileNotFoundError: If `path` is not an existing directory.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"Directory of {what} not found: '{path}'"
            + (" (it is a file)" if os.path.exists(path) else "")
        )
    return path


def find_pairs(
    image_dir,
    mask_dir,
    *,
    image_suffix,
    mask_suffix,
    recursive=False,
    on_missing_mask="raise",
):
    """Pairs every image in `image_dir` with its mask in `mask_dir`.

    An image `image_dir/REL/NAME{image_suffix}` is paired with the mask
    `mask_dir/REL/NAME{mask_suffix}`, where `REL` is its sub-directory
    (empty unless `recursive`). Masks without an image are ignored.

    Args:
        image_dir: Directory of the images.
        mask_dir: Directory of the masks.
        image_suffix: End of every image file name, e.g. `".jpg"` or
            `"_leftImg8bit.png"`; other files are not images.
        mask_suffix: What replaces `image_suffix` in the mask's file name.
        recursive: Whether to look for images in sub-directories too.
        on_missing_mask: `"raise"` to raise on an image without a mask,
            `"skip"` to leave such images out with a warning.

    Returns:
        A sorted list of `(image_path, mask_path)` string tuples.

    Raises:
        FileNotFoundError: If a directory is missing, no image ends in
            `image_suffix`, or an image has no mask (and
            `on_missing_mask="raise"`); the message names the path.
        ValueError: If a suffix is empty or `on_missing_mask` is unknown.
    """
    if on_missing_mask not in _MISSING_MASK_POLICIES:
        raise ValueError(
            f"`on_missing_mask` must be one of {_MISSING_MASK_POLICIES}. "
            f"Received: on_missing_mask={on_missing_mask!r}"
        )
    for name, suffix in (("image_suffix", image_suffix), ("mask_suffix", mask_suffix)):
        if not isinstance(suffix, str) or not suffix:
            raise ValueError(
                f"`{name}` must be a non-empty string. Received: {name}={suffix!r}"
            )
    image_dir = require_directory(image_dir, "images")
    mask_dir = require_directory(mask_dir, "masks")

    images = [
        path
        for path in sorted(_list_files(image_dir, recursive))
        if os.path.basename(path).endswith(image_suffix)
        and os.path.basename(path) != image_suffix
    ]
    if not images:
        where = f"'{image_dir}'" + (" or its sub-directories" if recursive else "")
        raise FileNotFoundError(
            f"No image file ending in '{image_suffix}' found in {where}."
        )
    pairs, missing = [], []
    for image_path in images:
        relative = os.path.relpath(image_path, image_dir)
        stem = relative[: -len(image_suffix)]
        mask_path = os.path.join(mask_dir, stem + mask_suffix)
        if os.path.isfile(mask_path):
            pairs.append((image_path, mask_path))
        else:
            missing.append((image_path, mask_path))

    if missing and on_missing_mask == "raise":
        image_path, mask_path = missing[0]
        more = (
            f" ({len(missing) - 1} more images have no mask)"
            if len(missing) > 1
            else ""
        )
        raise FileNotFoundError(
            f"No mask for image '{image_path}': expected '{mask_path}'{more}. "
            "Pass on_missing_mask='skip' to leave such images out."
        )
    if missing:
        warnings.warn(
            f"Skipped {len(missing)} images without a mask in '{mask_dir}', "
            f"e.g. '{missing[0][0]}'.",
            stacklevel=2,
        )
    if not pairs:
        raise FileNotFoundError(
            f"None of the {len(images)} images in '{image_dir}' has a mask "
            f"ending in '{mask_suffix}' in '{mask_dir}'."
        )
    return pairs


def _list_files(directory, recursive):
    if not recursive:
        return [
            os.path.join(directory, name)
            for name in os.listdir(directory)
            if os.path.isfile(os.path.join(directory, name))
        ]
    return [
        os.path.join(root, name)
        for root, _, names in os.walk(directory)
        for name in names
    ]
