"""A procedural segmentation dataset that needs no download.

Each scene has seven classes, drawn back to front with sharp (not
anti-aliased) boundaries:

| id | class | shape | appearance |
| --- | --- | --- | --- |
| 0 | background | everything else | smooth vertical colour gradient |
| 1 | ground | region below a tilted horizon | horizontal stripes |
| 2 | polygon | star-shaped polygons | diagonal stripes |
| 3 | disc | ellipses | speckle, same colours as "box" |
| 4 | box | rotated rectangles | speckle, same colours as "disc" |
| 5 | pole | near-vertical lines, 1-3 px wide | flat, same colours as "wire" |
| 6 | wire | slanted lines across the image, 1-3 px | flat, same colours as "pole" |

Colours vary per object and per scene, a random gain and offset changes the
lighting of each scene, and Gaussian noise is added, so no class can be read
off a pixel's colour: discs and boxes differ only in shape, poles and wires
only in orientation, and the thin structures are what a model that blurs
boundaries loses first.

This module imports only NumPy; `synthetic_dataset` imports TensorFlow when
it is called.
"""

import numpy as np

from keras_srcrm.data.labels import DEFAULT_IGNORE_LABEL
from keras_srcrm.data.labels import SYNTHETIC_CLASS_NAMES
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_ignore_label
from keras_srcrm.utils.validation import check_int
from keras_srcrm.utils.validation import check_number
from keras_srcrm.utils.validation import check_pair

NUM_CLASSES = len(SYNTHETIC_CLASS_NAMES)
_BACKGROUND, _GROUND, _POLYGON, _DISC, _BOX, _POLE, _WIRE = range(NUM_CLASSES)

# Each split draws from its own seed stream, so train and val never share a
# scene.
_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}

_BASE_COLOURS = {
    _GROUND: (125.0, 105.0, 85.0),
    _POLYGON: (70.0, 150.0, 80.0),
    _DISC: (190.0, 80.0, 70.0),
    _BOX: (190.0, 80.0, 70.0),
    _POLE: (215.0, 200.0, 70.0),
    _WIRE: (215.0, 200.0, 70.0),
}


def _normalize_size(image_size):
    return check_pair("image_size", image_size, minimum=8)


def _check_args(num_samples, seed, split, ignore_probability, ignore_label):
    check_int("num_samples", num_samples, minimum=0)
    check_int("seed", seed, minimum=0)
    check_choice("split", split, tuple(_SPLIT_CODES))
    check_number("ignore_probability", ignore_probability, minimum=0.0, maximum=1.0)
    check_ignore_label(ignore_label, NUM_CLASSES)


def _jitter_colour(rng, cls, spread=30.0):
    return np.asarray(_BASE_COLOURS[cls]) + rng.uniform(-spread, spread, size=3)


def _paint(image, labels, region, cls, colour, shade=None):
    """Paints `colour` (times `1 + shade`) on `region` and labels it `cls`."""
    if shade is None:
        image[region] = colour
    else:
        image[region] = colour * (1.0 + shade[region])[:, None]
    labels[region] = cls


def _line_region(yy, xx, start, end, width):
    """Pixels within `width / 2` of the segment from `start` to `end`."""
    (y0, x0), (y1, x1) = start, end
    dy, dx = y1 - y0, x1 - x0
    length = max(np.hypot(dy, dx), 1e-6)
    along = ((yy - y0) * dy + (xx - x0) * dx) / length
    across = np.abs((yy - y0) * dx - (xx - x0) * dy) / length
    return (across <= width / 2.0) & (along >= 0.0) & (along <= length)


def _polygon_region(yy, xx, ys, xs):
    """Even-odd rule point-in-polygon test for every pixel centre."""
    inside = np.zeros(yy.shape, dtype=bool)
    for k in range(len(ys)):
        ya, xa = ys[k], xs[k]
        yb, xb = ys[k - 1], xs[k - 1]
        if ya == yb:
            continue
        crosses = (ya > yy) != (yb > yy)
        x_at = xa + (yy - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (xx < x_at)
    return inside


def _dilate(region):
    """Grows a boolean region by one pixel (8-neighbourhood)."""
    padded = np.pad(region, 1)
    height, width = region.shape
    grown = np.zeros_like(region)
    for dy in range(3):
        for dx in range(3):
            grown |= padded[dy : dy + height, dx : dx + width]
    return grown


def _scene(rng, height, width, ignore_probability, ignore_label):
    """Draws one scene; returns float64 image (H, W, 3) and int32 labels."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    side = float(min(height, width))
    image = np.empty((height, width, 3))
    labels = np.full((height, width), _BACKGROUND, dtype=np.int32)

    # Background: a vertical gradient between two random colours.
    top = rng.uniform(60, 230, size=3)
    bottom = rng.uniform(60, 230, size=3)
    t = (yy / max(height - 1, 1))[..., None]
    image[:] = top * (1.0 - t) + bottom * t

    # Ground: below a tilted horizon, with horizontal stripes.
    horizon = rng.uniform(0.45, 0.75) * height
    tilt = rng.uniform(-0.25, 0.25)
    period = rng.uniform(5.0, 9.0)
    stripes = 0.15 * np.sin(2 * np.pi * yy / period)
    region = yy > horizon + tilt * (xx - width / 2.0)
    _paint(image, labels, region, _GROUND, _jitter_colour(rng, _GROUND), stripes)

    # Polygons: star-shaped, diagonal stripes.
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(0.1, 0.9) * height, rng.uniform(0.1, 0.9) * width
        n = rng.integers(3, 8)
        angles = np.sort(rng.uniform(0, 2 * np.pi, size=n))
        radii = rng.uniform(0.08, 0.28, size=n) * side
        region = _polygon_region(
            yy, xx, cy + radii * np.sin(angles), cx + radii * np.cos(angles)
        )
        period = rng.uniform(4.0, 7.0)
        stripes = 0.2 * np.sin(2 * np.pi * (xx + yy) / period)
        _paint(image, labels, region, _POLYGON, _jitter_colour(rng, _POLYGON), stripes)

    # Discs and boxes: one colour distribution and one speckle texture, so
    # only their outlines tell them apart.
    for _ in range(rng.integers(2, 6)):
        cls = _DISC if rng.random() < 0.5 else _BOX
        cy, cx = rng.uniform(0.05, 0.95) * height, rng.uniform(0.05, 0.95) * width
        dy, dx = yy - cy, xx - cx
        if cls == _DISC:
            ry = rng.uniform(0.05, 0.15) * side
            rx = ry * rng.uniform(0.7, 1.0)
            region = (dy / ry) ** 2 + (dx / rx) ** 2 <= 1.0
        else:
            angle = rng.uniform(0, np.pi)
            half_a, half_b = rng.uniform(0.05, 0.16, size=2) * side
            u = dx * np.cos(angle) + dy * np.sin(angle)
            v = -dx * np.sin(angle) + dy * np.cos(angle)
            region = (np.abs(u) <= half_a) & (np.abs(v) <= half_b)
        speckle = rng.normal(0.0, 0.12, size=(height, width))
        _paint(image, labels, region, cls, _jitter_colour(rng, cls), speckle)

    # Poles: near-vertical, standing on the ground. Wires: slanted, across
    # the whole image. Both 1-3 px wide and the same colours. Poles never
    # touch each other, so none is wider than 3 px; wires may cross.
    poles = np.zeros((height, width), dtype=bool)
    for _ in range(rng.integers(1, 4)):
        x0 = rng.uniform(0.05, 0.95) * width
        y0 = rng.uniform(max(horizon, 0.5 * height), height)
        length = rng.uniform(0.3, 0.7) * height
        lean = np.tan(np.deg2rad(rng.uniform(-8, 8)))
        start, end = (y0, x0), (y0 - length, x0 + lean * length)
        region = _line_region(yy, xx, start, end, rng.integers(1, 4))
        if (region & _dilate(poles)).any():
            continue
        poles |= region
        _paint(image, labels, region, _POLE, _jitter_colour(rng, _POLE))
    for _ in range(rng.integers(1, 3)):
        angle = np.deg2rad(rng.uniform(-55, 55))  # from the horizontal
        cy, cx = rng.uniform(0.1, 0.6) * height, rng.uniform(0.2, 0.8) * width
        reach = 2.0 * (height + width)
        start = (cy - reach * np.sin(angle), cx - reach * np.cos(angle))
        end = (cy + reach * np.sin(angle), cx + reach * np.cos(angle))
        region = _line_region(yy, xx, start, end, rng.integers(1, 4))
        _paint(image, labels, region, _WIRE, _jitter_colour(rng, _WIRE))

    # Lighting and sensor noise.
    image = image * rng.uniform(0.75, 1.2) + rng.uniform(-20, 20)
    image += rng.normal(0.0, rng.uniform(4.0, 10.0), size=image.shape)

    if rng.random() < ignore_probability:
        # An "unlabelled" patch of random pixels, as annotators leave them.
        h = max(2, int(rng.uniform(0.05, 0.12) * height))
        w = max(2, int(rng.uniform(0.05, 0.12) * width))
        y, x = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        image[y : y + h, x : x + w] = rng.uniform(0, 255, size=(h, w, 3))
        labels[y : y + h, x : x + w] = ignore_label
    return image, labels


def synthetic_example(
    index,
    image_size,
    *,
    seed=0,
    split="train",
    ignore_probability=0.0,
    ignore_label=DEFAULT_IGNORE_LABEL,
):
    """Draws scene number `index` of a synthetic stream.

    The scene depends only on `(seed, split, index)`, not on how many scenes
    are drawn or in what order.

    Args:
        index: Non-negative int, the scene's position in the stream.
        image_size: An int, or a tuple `(height, width)`.
        seed: Non-negative int seed of the stream.
        split: `"train"`, `"val"` or `"test"`; each has its own stream.
        ignore_probability: Chance that the scene has an unlabelled patch
            of random pixels, labelled `ignore_label`.
        ignore_label: The label of the unlabelled patch.

    Returns:
        A tuple `(image, mask)`: uint8 `(H, W, 3)` and int32 `(H, W)`.

    Example:

    ```python
    image, mask = synthetic_example(0, 64, seed=1)
    ```
    """
    height, width = _normalize_size(image_size)
    _check_args(1, seed, split, ignore_probability, ignore_label)
    check_int("index", index, minimum=0)
    rng = np.random.default_rng([int(seed), _SPLIT_CODES[split], int(index)])
    image, labels = _scene(rng, height, width, ignore_probability, ignore_label)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), labels


def synthetic_arrays(
    num_samples,
    image_size,
    *,
    seed=0,
    split="train",
    dtype="uint8",
    ignore_probability=0.0,
    ignore_label=DEFAULT_IGNORE_LABEL,
):
    """Draws a synthetic segmentation dataset as NumPy arrays.

    Needs only NumPy. See the module docstring for the seven classes; their
    names are `keras_srcrm.data.SYNTHETIC_INFO.class_names`.

    Args:
        num_samples: Number of scenes.
        image_size: An int, or a tuple `(height, width)`; any size from 8 up.
        seed: Non-negative int. The same seed gives the same scenes.
        split: `"train"`, `"val"` or `"test"`. Each split is its own stream
            of scenes, so the splits never share one.
        dtype: `"uint8"` or `"float32"` for the images (float32 holds the
            same integer values in [0, 255]).
        ignore_probability: Chance per scene of an unlabelled patch
            labelled `ignore_label`.
        ignore_label: The label of unlabelled pixels.

    Returns:
        A tuple `(images, masks)`: `(num_samples, H, W, 3)` images of
        `dtype` and `(num_samples, H, W)` int32 masks holding train ids
        0..6 (and `ignore_label` where unlabelled).

    Example:

    ```python
    images, masks = synthetic_arrays(16, (64, 96), seed=0, dtype="float32")
    images.shape, masks.shape  # (16, 64, 96, 3), (16, 64, 96)
    ```
    """
    height, width = _normalize_size(image_size)
    _check_args(num_samples, seed, split, ignore_probability, ignore_label)
    if dtype not in ("uint8", "float32"):
        raise ValueError(
            f"`dtype` must be 'uint8' or 'float32'. Received: dtype={dtype!r}"
        )
    images = np.empty((num_samples, height, width, 3), dtype=dtype)
    masks = np.empty((num_samples, height, width), dtype=np.int32)
    for index in range(num_samples):
        images[index], masks[index] = synthetic_example(
            index,
            (height, width),
            seed=seed,
            split=split,
            ignore_probability=ignore_probability,
            ignore_label=ignore_label,
        )
    return images, masks


def synthetic_dataset(
    num_samples,
    image_size,
    *,
    seed=0,
    split="train",
    ignore_probability=0.0,
    ignore_label=DEFAULT_IGNORE_LABEL,
    shuffle=False,
):
    """Streams the synthetic dataset as a `tf.data.Dataset`.

    Scenes are drawn on the fly (in parallel), so memory does not grow with
    `num_samples`; scene `i` equals `synthetic_arrays(...)[i]`.

    Args:
        num_samples: Number of scenes per pass.
        image_size: An int, or a tuple `(height, width)`.
        seed: Non-negative int seed of the scenes (and of the shuffle).
        split: `"train"`, `"val"` or `"test"`; disjoint streams.
        ignore_probability: Chance per scene of an unlabelled patch.
        ignore_label: The label of unlabelled pixels.
        shuffle: Whether to visit the scenes in a new random order on each
            pass (deterministic given `seed`).

    Returns:
        A `tf.data.Dataset` of `(image, mask)`: float32 `(H, W, 3)` in
        [0, 255] and int32 `(H, W)`.

    Example:

    ```python
    train = synthetic_dataset(512, 64, seed=0, split="train", shuffle=True)
    val = synthetic_dataset(64, 64, seed=0, split="val")
    ```
    """
    from keras_srcrm.utils.backend import import_optional

    tf = import_optional("tensorflow", "keras_srcrm.data pipelines")
    height, width = _normalize_size(image_size)
    _check_args(num_samples, seed, split, ignore_probability, ignore_label)

    def draw(index):
        image, mask = synthetic_example(
            int(index),
            (height, width),
            seed=seed,
            split=split,
            ignore_probability=ignore_probability,
            ignore_label=ignore_label,
        )
        return image.astype(np.float32), mask

    def to_example(index):
        image, mask = tf.numpy_function(
            draw, [index], (tf.float32, tf.int32), stateful=False
        )
        image.set_shape((height, width, 3))
        mask.set_shape((height, width))
        return image, mask

    indices = tf.data.Dataset.range(num_samples)
    if shuffle:
        indices = indices.shuffle(
            max(num_samples, 1), seed=seed, reshuffle_each_iteration=True
        )
    return indices.map(
        to_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
