"""Reads image/mask file pairs into a `tf.data.Dataset` of train-id masks.

TensorFlow's decoders report a corrupt file without its name, and `tf.data`
raises at iteration time, far from the file list. Here each pair is read
inside a `tf.py_function` that catches the decoder's error and re-raises it
as a `DataFileError` with the path: iteration then fails with a
`tf.errors.InvalidArgumentError` whose message names the file (and
`keras_srcrm.data.files.file_error_message` extracts the one line). The raw
mask values are mapped to train ids afterwards, in the graph, with
`tf.gather` on a lookup table.

`read_image` is the same image decoder, for one file outside a pipeline:
training, evaluation and inference read an image file the same way (16-bit
PNGs, for instance, are scaled to 8 bits, not clipped).
"""

import os

import numpy as np

from keras_srcrm.data.files import DataFileError
from keras_srcrm.data.files import tensorflow_error_text
from keras_srcrm.utils.backend import import_optional

tf = import_optional("tensorflow", "keras_srcrm.data pipelines")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PALETTE = 3


def apply_lookup_table(raw_mask, lookup_table, ignore_label):
    """Maps raw mask values to train ids with `tf.gather`.

    Values at or beyond `len(lookup_table)`, and negative values, become
    `ignore_label`.

    Args:
        raw_mask: Integer tensor of raw mask values, any shape.
        lookup_table: 1-D int array, `lookup_table[v]` is the train id of `v`.
        ignore_label: The label of values outside the table.

    Returns:
        An int32 tensor of the shape of `raw_mask`.
    """
    table = np.asarray(lookup_table, dtype=np.int32)
    size = table.shape[0]
    extended = tf.constant(np.append(table, np.int32(ignore_label)))
    raw = tf.cast(raw_mask, tf.int32)
    index = tf.where((raw < 0) | (raw >= size), size, raw)
    return tf.gather(extended, index)


def _decode_image(path):
    try:
        data = tf.io.read_file(path)
        return tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.OpError as error:
        raise DataFileError(
            f"Could not read image file '{path}': "
            f"{tensorflow_error_text(error.message)}"
        ) from None


def read_image(path):
    """Reads an image file as RGB, as the dataset pipelines do.

    The decoder of the pipelines (`tf.io.decode_image` with 3 channels):
    JPEG, PNG, BMP or GIF; grey and RGBA become RGB, and 16-bit PNGs are
    scaled to 8 bits.

    Args:
        path: The image file.

    Returns:
        A uint8 NumPy array `(H, W, 3)`.

    Raises:
        FileNotFoundError: If there is no file at `path`.
        DataFileError: If the file cannot be decoded; the message names it.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No image file at '{path}'.")
    return _decode_image(path).numpy()


def _decode_mask(path):
    try:
        data = tf.io.read_file(path)
        head = data.numpy()[:26]
        if head.startswith(_PNG_SIGNATURE) and len(head) == 26:
            if head[25] == _PNG_PALETTE:
                raise DataFileError(
                    f"Mask file '{path}' is a palette PNG. TensorFlow decodes "
                    "palette PNGs to colours, not to the label indices; save "
                    "the mask as a single-channel (mode 'L') PNG."
                )
            dtype = tf.uint16 if head[24] == 16 else tf.uint8
            mask = tf.io.decode_png(data, channels=0, dtype=dtype)
        else:
            mask = tf.io.decode_image(data, channels=0, expand_animations=False)
    except tf.errors.OpError as error:
        raise DataFileError(
            f"Could not read mask file '{path}': {tensorflow_error_text(error.message)}"
        ) from None
    mask = mask.numpy()
    if mask.shape[-1] == 2:  # grey + alpha
        mask = mask[..., :1]
    if mask.shape[-1] in (3, 4):
        rgb = mask[..., :3]
        if not (
            np.array_equal(rgb[..., 0], rgb[..., 1])
            and np.array_equal(rgb[..., 0], rgb[..., 2])
        ):
            raise DataFileError(
                f"Mask file '{path}' has {mask.shape[-1]} channels with "
                "different values; expected a single-channel mask of label "
                "values."
            )
        mask = rgb[..., :1]
    return mask[..., 0].astype(np.int32)


def _read_pair(image_path, mask_path):
    image_path = image_path.numpy().decode("utf-8")
    mask_path = mask_path.numpy().decode("utf-8")
    image = _decode_image(image_path)
    mask = _decode_mask(mask_path)
    if tuple(image.shape[:2]) != mask.shape:
        raise DataFileError(
            f"Image '{image_path}' is {image.shape[0]}x{image.shape[1]} "
            f"(height x width) but its mask '{mask_path}' is "
            f"{mask.shape[0]}x{mask.shape[1]}."
        )
    return image, mask


def read_image_and_mask(image_path, mask_path):
    """Reads one image and its raw mask, naming the file on failure.

    Usable in `tf.data.Dataset.map`. Images may be any format that
    `tf.io.decode_image` reads (JPEG, PNG, BMP, GIF; grey or RGBA become
    RGB). Masks must hold one label value per pixel: a single-channel 8- or
    16-bit PNG (or an RGB one with equal channels).

    Args:
        image_path: Scalar string tensor.
        mask_path: Scalar string tensor.

    Returns:
        A tuple `(image, raw_mask)`: uint8 `(H, W, 3)` and int32 `(H, W)`.

    Raises:
        tf.errors.InvalidArgumentError: At iteration time, if a file is
            missing, unreadable, corrupt, a palette PNG, multi-channel, or
            if the image and mask sizes differ; the message names the file.
    """
    image, mask = tf.py_function(
        _read_pair, [image_path, mask_path], [tf.uint8, tf.int32]
    )
    image.set_shape((None, None, 3))
    mask.set_shape((None, None))
    return image, mask


def pairs_dataset(pairs, *, lookup_table, ignore_label, shuffle=False, seed=None):
    """Builds the `(image, mask)` dataset of a list of file pairs.

    Args:
        pairs: List of `(image_path, mask_path)` strings.
        lookup_table: 1-D int array from raw mask values to train ids
            (see `keras_srcrm.data.labels.label_lookup_table`).
        ignore_label: The label of values outside `lookup_table`.
        shuffle: Whether to shuffle the file list on each pass, before
            decoding (cheap: only paths are held in the buffer).
        seed: Seed of the shuffle.

    Returns:
        A `tf.data.Dataset` of float32 `(H, W, 3)` images in [0, 255] and
        int32 `(H, W)` masks.
    """
    images = [image for image, _ in pairs]
    masks = [mask for _, mask in pairs]
    dataset = tf.data.Dataset.from_tensor_slices((images, masks))
    if shuffle:
        dataset = dataset.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)

    def load(image_path, mask_path):
        image, raw_mask = read_image_and_mask(image_path, mask_path)
        mask = apply_lookup_table(raw_mask, lookup_table, ignore_label)
        return tf.cast(image, tf.float32), mask

    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
