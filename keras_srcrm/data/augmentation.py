"""Augmentations that keep masks exact, as TensorFlow ops for `tf.data`.

Every function takes one example, an image `(H, W, 3)` and a mask `(H, W)`,
and a `seed` of shape `(2,)` (as TensorFlow's stateless random ops do), so
the same seed gives the same result however the pipeline is parallelised.
Masks are never interpolated: resizing uses nearest neighbour, padding uses
the ignore label (Keras's preprocessing layers would pad masks with the
image's fill value), and photometric changes touch the image only.
"""

import numpy as np

from keras_srcrm.data.labels import DEFAULT_IGNORE_LABEL
from keras_srcrm.utils.backend import import_optional
from keras_srcrm.utils.validation import check_ignore_label
from keras_srcrm.utils.validation import check_interval
from keras_srcrm.utils.validation import check_pair
from keras_srcrm.utils.validation import is_int

tf = import_optional("tensorflow", "keras_srcrm.data pipelines")


def _seed(seed):
    """Accepts an int or a shape (2,) seed; returns an int64 (2,) tensor."""
    if is_int(seed):
        seed = (int(seed), 0)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if seed.shape.rank is not None and seed.shape != (2,):
        raise ValueError(
            f"`seed` must be an int or have shape (2,). Received shape {seed.shape}"
        )
    return seed


def pad_value_tensor(image_pad_value):
    """Checks `image_pad_value` (a number or 3); returns it as a float32 tensor."""
    value = np.asarray(image_pad_value, dtype=np.float32)
    if value.shape not in ((), (3,)):
        raise ValueError(
            "`image_pad_value` must be a number or 3 numbers (one per "
            f"channel). Received: image_pad_value={image_pad_value!r}"
        )
    return tf.constant(value)


def _check_example(image, mask):
    image = tf.convert_to_tensor(image)
    mask = tf.convert_to_tensor(mask)
    if image.shape.rank is not None and image.shape.rank != 3:
        raise ValueError(
            f"`image` must have shape (H, W, 3). Received shape {image.shape}"
        )
    if mask.shape.rank is not None and mask.shape.rank != 2:
        raise ValueError(f"`mask` must have shape (H, W). Received shape {mask.shape}")
    return tf.cast(image, tf.float32), tf.cast(mask, tf.int32)


def random_scale(image, mask, seed, scale_range=(0.5, 2.0)):
    """Resizes an example by a random factor drawn from `scale_range`.

    The image is resized bilinearly, the mask by nearest neighbour, so the
    mask's values are a subset of the input's.

    Args:
        image: `(H, W, 3)` image.
        mask: `(H, W)` integer mask.
        seed: An int or a shape `(2,)` integer seed.
        scale_range: `(min, max)` of the uniform scale factor.

    Returns:
        A tuple `(image, mask)`: float32 and int32, both
        `(round(H * s), round(W * s))`.

    Example:

    ```python
    image, mask = random_scale(image, mask, seed=(1, 2), scale_range=(0.5, 2.0))
    ```
    """
    low, high = check_interval("scale_range", scale_range, minimum=1e-3)
    image, mask = _check_example(image, mask)
    scale = tf.random.stateless_uniform([], _seed(seed), minval=low, maxval=high)
    size = tf.cast(tf.shape(image)[:2], tf.float32) * scale
    size = tf.maximum(tf.cast(tf.round(size), tf.int32), 1)
    image = tf.image.resize(image, size, method="bilinear")
    mask = tf.image.resize(mask[..., None], size, method="nearest")[..., 0]
    return image, mask


def pad_to_size(
    image, mask, size, *, ignore_label=DEFAULT_IGNORE_LABEL, image_pad_value=0.0
):
    """Pads an example at the bottom and right to at least `size`.

    Args:
        image: `(H, W, 3)` image.
        mask: `(H, W)` integer mask.
        size: An int or `(height, width)`; sides already larger are kept.
        ignore_label: Value of the padded mask pixels.
        image_pad_value: Value of the padded image pixels: a number, or one
            per channel (e.g. the dataset's mean colour).

    Returns:
        A tuple `(image, mask)`: float32 and int32, of height
        `max(H, height)` and width `max(W, width)`.
    """
    height, width = check_pair("size", size)
    check_ignore_label(ignore_label, num_classes=0)
    image, mask = _check_example(image, mask)
    pad_value = pad_value_tensor(image_pad_value)
    shape = tf.shape(mask)
    pad_h = tf.maximum(height - shape[0], 0)
    pad_w = tf.maximum(width - shape[1], 0)
    valid = tf.pad(tf.ones_like(mask, dtype=tf.bool), [[0, pad_h], [0, pad_w]])
    image = tf.pad(image, [[0, pad_h], [0, pad_w], [0, 0]])
    image = tf.where(valid[..., None], image, pad_value)
    mask = tf.pad(mask, [[0, pad_h], [0, pad_w]], constant_values=ignore_label)
    return image, mask


def random_crop(
    image,
    mask,
    seed,
    crop_size,
    *,
    ignore_label=DEFAULT_IGNORE_LABEL,
    image_pad_value=0.0,
):
    """Crops the same random window of `crop_size` from image and mask.

    An example smaller than `crop_size` is first padded at the bottom and
    right (see `pad_to_size`): the mask with `ignore_label`, the image with
    `image_pad_value`.

    Args:
        image: `(H, W, 3)` image.
        mask: `(H, W)` integer mask.
        seed: An int or a shape `(2,)` integer seed.
        crop_size: An int or `(height, width)`.
        ignore_label: Value of padded mask pixels.
        image_pad_value: Value of padded image pixels, a number or one per
            channel.

    Returns:
        A tuple `(image, mask)`: float32 `(height, width, 3)` and int32
        `(height, width)`.

    Example:

    ```python
    image, mask = random_crop(image, mask, seed=(0, 7), crop_size=512)
    ```
    """
    height, width = check_pair("crop_size", crop_size)
    image, mask = pad_to_size(
        image,
        mask,
        (height, width),
        ignore_label=ignore_label,
        image_pad_value=image_pad_value,
    )
    seeds = tf.random.experimental.stateless_split(_seed(seed), 2)
    shape = tf.shape(mask)
    top = tf.random.stateless_uniform(
        [], seeds[0], minval=0, maxval=shape[0] - height + 1, dtype=tf.int32
    )
    left = tf.random.stateless_uniform(
        [], seeds[1], minval=0, maxval=shape[1] - width + 1, dtype=tf.int32
    )
    image = image[top : top + height, left : left + width]
    mask = mask[top : top + height, left : left + width]
    image.set_shape((height, width, 3))
    mask.set_shape((height, width))
    return image, mask


def random_flip(image, mask, seed, probability=0.5):
    """Flips image and mask left-right together, with `probability`.

    Args:
        image: `(H, W, 3)` image.
        mask: `(H, W)` integer mask.
        seed: An int or a shape `(2,)` integer seed.
        probability: Chance of flipping.

    Returns:
        A tuple `(image, mask)`, float32 and int32.
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(
            f"`probability` must be in [0, 1]. Received: probability={probability!r}"
        )
    image, mask = _check_example(image, mask)
    flip = tf.random.stateless_uniform([], _seed(seed)) < probability
    image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
    mask = tf.cond(flip, lambda: tf.reverse(mask, [1]), lambda: mask)
    return image, mask


def photometric_jitter(
    image,
    seed,
    *,
    brightness_delta=32.0,
    contrast_range=(0.5, 1.5),
    saturation_range=(0.5, 1.5),
    hue_delta=0.1,
    probability=0.5,
):
    """Randomly changes brightness, contrast, saturation and hue.

    Each change is applied with `probability`, in that order, on an image of
    raw pixel values in [0, 255]; the result is clipped to [0, 255]. The
    defaults are the common segmentation recipe (mmsegmentation's
    `PhotoMetricDistortion`; its hue delta of 18 on OpenCV's 0-180 scale is
    0.1 of the hue circle here).

    Args:
        image: `(H, W, 3)` image with values in [0, 255].
        seed: An int or a shape `(2,)` integer seed.
        brightness_delta: Maximum value added to or subtracted from every
            pixel.
        contrast_range: `(min, max)` factor that scales the distance of
            each pixel to the image's mean.
        saturation_range: `(min, max)` factor of the saturation.
        hue_delta: Maximum hue rotation, as a fraction of the hue circle.
        probability: Chance of applying each of the four changes.

    Returns:
        The float32 image.

    Example:

    ```python
    image = photometric_jitter(image, seed=(3, 4), hue_delta=0.05)
    ```
    """
    contrast_low, contrast_high = check_interval(
        "contrast_range", contrast_range, minimum=0.0
    )
    saturation_low, saturation_high = check_interval(
        "saturation_range", saturation_range, minimum=0.0
    )
    if brightness_delta < 0 or not 0 <= hue_delta <= 0.5:
        raise ValueError(
            "`brightness_delta` must be >= 0 and `hue_delta` in [0, 0.5]. "
            f"Received: brightness_delta={brightness_delta!r}, hue_delta={hue_delta!r}"
        )
    if not 0.0 <= probability <= 1.0:
        raise ValueError(
            f"`probability` must be in [0, 1]. Received: probability={probability!r}"
        )
    image = tf.cast(tf.convert_to_tensor(image), tf.float32)
    seeds = tf.random.experimental.stateless_split(_seed(seed), 8)

    def draw(index, low, high, neutral):
        value = tf.random.stateless_uniform([], seeds[index], minval=low, maxval=high)
        apply = tf.random.stateless_uniform([], seeds[index + 4]) < probability
        return tf.where(apply, value, neutral)

    image = image + draw(0, -brightness_delta, brightness_delta, 0.0)
    image = tf.clip_by_value(image, 0.0, 255.0)
    factor = draw(1, contrast_low, contrast_high, 1.0)
    mean = tf.reduce_mean(image, axis=(0, 1), keepdims=True)
    image = tf.clip_by_value((image - mean) * factor + mean, 0.0, 255.0)
    unit = image / 255.0
    unit = tf.image.adjust_saturation(
        unit, draw(2, saturation_low, saturation_high, 1.0)
    )
    unit = tf.image.adjust_hue(unit, draw(3, -hue_delta, hue_delta, 0.0))
    return tf.clip_by_value(unit * 255.0, 0.0, 255.0)


def augment(
    image,
    mask,
    seed,
    *,
    crop_size,
    scale_range=(0.5, 2.0),
    flip=True,
    photometric=True,
    ignore_label=DEFAULT_IGNORE_LABEL,
    image_pad_value=0.0,
):
    """The training augmentation: scale, crop (with padding), flip, colour.

    Args:
        image: `(H, W, 3)` image with values in [0, 255].
        mask: `(H, W)` integer mask.
        seed: An int or a shape `(2,)` integer seed.
        crop_size: An int or `(height, width)` of the output.
        scale_range: `(min, max)` random scale, or `None` for no scaling.
        flip: Whether to flip left-right with probability 0.5.
        photometric: `True` for the default `photometric_jitter`, `False`
            for none, or a dict of `photometric_jitter` keyword arguments.
        ignore_label: Value of padded mask pixels.
        image_pad_value: Value of padded image pixels, a number or one per
            channel.

    Returns:
        A tuple `(image, mask)`: float32 `(height, width, 3)` and int32
        `(height, width)`.

    Example:

    ```python
    dataset = dataset.enumerate().map(
        lambda i, example: augment(*example, seed=(0, i), crop_size=256)
    )
    ```
    """
    seeds = tf.random.experimental.stateless_split(_seed(seed), 4)
    if scale_range is not None:
        image, mask = random_scale(image, mask, seeds[0], scale_range)
    image, mask = random_crop(
        image,
        mask,
        seeds[1],
        crop_size,
        ignore_label=ignore_label,
        image_pad_value=image_pad_value,
    )
    if flip:
        image, mask = random_flip(image, mask, seeds[2])
    if photometric is True:
        photometric = {}
    if photometric is not False:
        if not isinstance(photometric, dict):
            raise ValueError(
                "`photometric` must be True, False or a dict of "
                f"photometric_jitter arguments. Received: photometric={photometric!r}"
            )
        image = photometric_jitter(image, seeds[3], **photometric)
    return image, mask
