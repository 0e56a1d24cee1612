"""Finds image/mask file pairs on disk and checks them before any decoding.

Everything that can be checked without decoding is checked here, eagerly, so
that a missing directory or a missing mask is reported with its path when the
dataset is built rather than deep inside a `tf.data` iterator.
"""

import os
import re
import warnings

from keras_srcrm.utils.validation import spell

_MISSING_MASK_POLICIES = ("raise", "skip")

# What `tf.io.decode_image` reads, in the case cameras and tools write.
IMAGE_SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".JPG",
    ".JPEG",
    ".PNG",
    ".BMP",
    ".GIF",
)


class DataFileError(ValueError):
    """A dataset file that cannot be read: corrupt, of the wrong kind, or of
    another size than its pair. The message is one line that names the file.

    Raised inside `tf.data` pipelines, where TensorFlow turns it into a
    `tf.errors.InvalidArgumentError` whose (long) message contains this one;
    `file_error_message` gets it back.
    """


def file_error_message(error):
    """The one-line `DataFileError` message inside `error`, or None.

    Looks at `error`, its causes and contexts, and the text of TensorFlow
    errors raised while a `tf.data` pipeline read a file.

    Args:
        error: An exception.

    Returns:
        The message, e.g. `"Could not read image file 'a.png': Invalid
        PNG."`, or None if `error` does not come from a dataset file.
    """
    marker = f"{DataFileError.__name__}: "
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DataFileError):
            return str(error)
        text = str(error)
        index = text.find(marker)
        if index >= 0:
            lines = text[index + len(marker) :].splitlines()
            return lines[0].strip() if lines else None
        error = error.__cause__ or error.__context__
    return None


def tensorflow_error_text(message):
    """Strips TensorFlow's op and device decoration from an error message."""
    message = re.sub(r"\{\{[^}]*\}\}\s*", "", message)
    message = re.sub(r"\s*\[Op:[^\]]*\].*$", "", message, flags=re.S)
    return " ".join(message.split()).rstrip(". ") + "."


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
            `"_leftImg8bit.png"`, or a tuple of such ends (e.g.
            `IMAGE_SUFFIXES`); other files are not images. When `image_dir`
            and `mask_dir` are the same directory, files that end in
            `mask_suffix` are masks, not images.
        mask_suffix: What replaces the image's suffix in the mask's file
            name.
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
    image_suffixes = _check_suffixes("image_suffix", image_suffix)
    (mask_suffix,) = _check_suffixes("mask_suffix", mask_suffix, several=False)
    image_dir = require_directory(image_dir, "images")
    mask_dir = require_directory(mask_dir, "masks")
    shared = os.path.realpath(image_dir) == os.path.realpath(mask_dir)

    images = []
    for path in sorted(_list_files(image_dir, recursive)):
        name = os.path.basename(path)
        if shared and name.endswith(mask_suffix):
            continue
        suffix = next(
            (s for s in image_suffixes if name.endswith(s) and name != s), None
        )
        if suffix is not None:
            images.append((path, suffix))
    if not images:
        where = f"'{image_dir}'" + (" or its sub-directories" if recursive else "")
        ends = ", ".join(f"'{s}'" for s in image_suffixes)
        raise FileNotFoundError(f"No image file ending in {ends} found in {where}.")
    pairs, missing = [], []
    for image_path, suffix in images:
        relative = os.path.relpath(image_path, image_dir)
        stem = relative[: -len(suffix)]
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
            f"Pass {spell('on_missing_mask', 'skip')} to leave such images out."
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


def _check_suffixes(name, suffixes, several=True):
    values = (suffixes,) if isinstance(suffixes, str) else suffixes
    valid = (
        isinstance(values, (tuple, list))
        and values
        and (several or len(values) == 1)
        and all(isinstance(s, str) and s for s in values)
    )
    if not valid:
        expected = (
            "a non-empty string or a tuple of them" if several else "a non-empty string"
        )
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={suffixes!r}")
    return tuple(values)


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
