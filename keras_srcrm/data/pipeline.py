"""Training and evaluation input pipelines for any `(image, mask)` dataset."""

import random

from keras_srcrm.data import augmentation
from keras_srcrm.data.labels import DEFAULT_IGNORE_LABEL
from keras_srcrm.utils.backend import import_optional
from keras_srcrm.utils.validation import check_int
from keras_srcrm.utils.validation import check_positive_int

tf = import_optional("tensorflow", "keras_srcrm.data pipelines")


def training_pipeline(
    dataset,
    *,
    batch_size,
    crop_size,
    scale_range=(0.5, 2.0),
    flip=True,
    photometric=True,
    ignore_label=DEFAULT_IGNORE_LABEL,
    image_pad_value=0.0,
    shuffle_buffer=64,
    seed=None,
    drop_remainder=True,
):
    """Augments, crops, shuffles and batches a dataset for training.

    Each example gets its own augmentation seed, derived from `seed` and its
    position in the stream, so a pipeline with a fixed `seed` yields the
    same batches on every run. Shuffling happens after the crop, so the
    buffer holds `shuffle_buffer` crops, not full images; shuffle the file
    list too (the readers' `shuffle=True`) for a full shuffle.

    Args:
        dataset: A `tf.data.Dataset` of `(image, mask)`: `(H, W, 3)` images
            with values in [0, 255] and `(H, W)` integer masks.
        batch_size: Examples per batch.
        crop_size: An int or `(height, width)` of the training crops.
        scale_range: `(min, max)` random scale before cropping, or `None`.
        flip: Whether to flip left-right with probability 0.5.
        photometric: `True`, `False` or a dict of `photometric_jitter`
            arguments.
        ignore_label: Label of mask pixels padded in (when a scaled image is
            smaller than the crop).
        image_pad_value: Value of padded image pixels, a number or one per
            channel (e.g. the mean colour).
        shuffle_buffer: Number of crops in the shuffle buffer; 0 or 1 for no
            shuffle.
        seed: Int seed of the augmentation and shuffle, or `None` for a
            random one.
        drop_remainder: Whether to drop the last, smaller batch.

    Returns:
        A `tf.data.Dataset` of `(images, masks)`: float32
        `(batch, height, width, 3)` and int32 `(batch, height, width)`.

    Example:

    ```python
    train = keras_srcrm.data.synthetic_dataset(512, 96, seed=0, shuffle=True)
    train = keras_srcrm.data.training_pipeline(
        train, batch_size=8, crop_size=64, seed=0
    )
    model.fit(train, epochs=5)
    ```
    """
    check_positive_int("batch_size", batch_size)
    check_int("shuffle_buffer", shuffle_buffer, minimum=0)
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    options = dict(
        crop_size=crop_size,
        scale_range=scale_range,
        flip=flip,
        photometric=photometric,
        ignore_label=ignore_label,
        image_pad_value=image_pad_value,
    )
    # Checks the arguments now rather than when tf.data traces the map.
    augmentation.augment(
        tf.zeros((2, 2, 3)), tf.zeros((2, 2), tf.int32), seed, **options
    )
    base_seed = tf.constant([seed, 0], dtype=tf.int64)

    def augment_example(index, example):
        image, mask = example
        example_seed = tf.random.experimental.stateless_fold_in(base_seed, index)
        return augmentation.augment(image, mask, example_seed, **options)

    dataset = dataset.enumerate().map(
        augment_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if shuffle_buffer > 1:
        dataset = dataset.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def evaluation_pipeline(
    dataset,
    *,
    batch_size=1,
    pad_to_multiple_of=None,
    ignore_label=DEFAULT_IGNORE_LABEL,
    image_pad_value=0.0,
):
    """Batches full-size examples for evaluation, without augmentation.

    Images of different sizes are batched by padding them at the bottom and
    right to the largest in the batch; `pad_to_multiple_of` also pads every
    side to a multiple (for models whose stride must divide the input).
    Padded mask pixels hold `ignore_label`, so metrics and losses that skip
    it are not changed by the padding.

    Args:
        dataset: A `tf.data.Dataset` of `(image, mask)`.
        batch_size: Examples per batch; 1 keeps every image at its size.
        pad_to_multiple_of: Optional int, e.g. 32.
        ignore_label: Label of padded mask pixels.
        image_pad_value: Value of padded image pixels, a number or one per
            channel.

    Returns:
        A `tf.data.Dataset` of `(images, masks)`: float32
        `(batch, H, W, 3)` and int32 `(batch, H, W)`.

    Example:

    ```python
    val = keras_srcrm.data.cityscapes_dataset("/data/cityscapes", "val")
    val = keras_srcrm.data.evaluation_pipeline(val, pad_to_multiple_of=32)
    model.evaluate(val)
    ```
    """
    check_positive_int("batch_size", batch_size)
    if pad_to_multiple_of is not None:
        check_positive_int("pad_to_multiple_of", pad_to_multiple_of)
    pad_value = augmentation.pad_value_tensor(image_pad_value)

    def with_valid(image, mask):
        image = tf.cast(image, tf.float32)
        mask = tf.cast(mask, tf.int32)
        valid = tf.ones_like(mask, dtype=tf.bool)
        if pad_to_multiple_of is not None:
            shape = tf.shape(mask)
            multiple = pad_to_multiple_of
            target = (shape + multiple - 1) // multiple * multiple
            paddings = [[0, target[0] - shape[0]], [0, target[1] - shape[1]]]
            image = tf.pad(image, paddings + [[0, 0]])
            mask = tf.pad(mask, paddings, constant_values=ignore_label)
            valid = tf.pad(valid, paddings)
        return image, mask, valid

    def fill(image, mask, valid):
        return tf.where(valid[..., None], image, pad_value), mask

    dataset = dataset.map(with_valid, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.padded_batch(
        batch_size,
        padded_shapes=([None, None, 3], [None, None], [None, None]),
        padding_values=(
            tf.constant(0.0, tf.float32),
            tf.constant(ignore_label, tf.int32),
            tf.constant(False),
        ),
    )
    dataset = dataset.map(fill, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
