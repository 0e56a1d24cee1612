"""The synthetic dataset: determinism, splits, thin structures, balance."""

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from keras_srcrm.data import synthetic
from keras_srcrm.data.labels import SYNTHETIC_INFO

POLE, WIRE = (
    SYNTHETIC_INFO.class_names.index("pole"),
    SYNTHETIC_INFO.class_names.index("wire"),
)


@pytest.fixture(scope="module")
def train_batch():
    return synthetic.synthetic_arrays(48, 64, seed=3)


def test_shapes_dtypes_and_value_ranges(train_batch):
    images, masks = train_batch
    assert images.shape == (48, 64, 64, 3) and images.dtype == np.uint8
    assert masks.shape == (48, 64, 64) and masks.dtype == np.int32
    assert set(np.unique(masks)) <= set(range(7))


def test_same_seed_same_scenes_and_scene_independent_of_count():
    images, masks = synthetic.synthetic_arrays(5, (40, 56), seed=11)
    again_images, again_masks = synthetic.synthetic_arrays(3, (40, 56), seed=11)
    np.testing.assert_array_equal(images[:3], again_images)
    np.testing.assert_array_equal(masks[:3], again_masks)
    image, mask = synthetic.synthetic_example(4, (40, 56), seed=11)
    np.testing.assert_array_equal(image, images[4])
    np.testing.assert_array_equal(mask, masks[4])


def test_seeds_and_splits_give_different_scenes():
    train, _ = synthetic.synthetic_arrays(4, 32, seed=0, split="train")
    val, _ = synthetic.synthetic_arrays(4, 32, seed=0, split="val")
    other, _ = synthetic.synthetic_arrays(4, 32, seed=1, split="train")
    for i in range(4):
        for j in range(4):
            assert not np.array_equal(train[i], val[j])
            assert not np.array_equal(train[i], other[j])


def test_float32_holds_the_uint8_values():
    as_uint8, _ = synthetic.synthetic_arrays(2, 24, seed=5)
    as_float, _ = synthetic.synthetic_arrays(2, 24, seed=5, dtype="float32")
    assert as_float.dtype == np.float32
    np.testing.assert_array_equal(as_float, as_uint8.astype(np.float32))


@pytest.mark.parametrize("size", [(17, 90), (128, 48)])
def test_any_image_size(size):
    images, masks = synthetic.synthetic_arrays(2, size, seed=0)
    assert images.shape == (2, *size, 3) and masks.shape == (2, *size)


def test_thin_structures_are_present_and_at_most_3_px_wide(train_batch):
    _, masks = train_batch
    for cls in (POLE, WIRE):
        present = (masks == cls).any(axis=(1, 2))
        assert present.mean() > 0.9, SYNTHETIC_INFO.class_names[cls]
    # A line at most 3 px wide never covers a whole 5x5 window; poles never
    # touch, wires may cross (and cover one where they do).
    blocks = sliding_window_view(masks == POLE, (5, 5), axis=(1, 2))
    assert not blocks.all(axis=(-2, -1)).any()
    blocks = sliding_window_view(masks == WIRE, (5, 5), axis=(1, 2))
    assert blocks.all(axis=(-2, -1)).sum() < 0.01 * (masks == WIRE).sum()
    # A near-vertical pole is crossed by any row in 1 to 4 pixels.
    pole_runs = _longest_runs(masks == POLE)
    assert 1 <= pole_runs.max() <= 4


def _longest_runs(region):
    """Longest horizontal run of True in each row of each image."""
    longest = np.zeros(region.shape[:2], dtype=int)
    current = np.zeros(region.shape[:2], dtype=int)
    for column in range(region.shape[2]):
        current = np.where(region[:, :, column], current + 1, 0)
        longest = np.maximum(longest, current)
    return longest


def test_class_balance_is_sane(train_batch):
    _, masks = train_batch
    share = np.bincount(masks.ravel(), minlength=7) / masks.size
    assert np.all(share > 0.005), share
    assert np.all(share < 0.6), share
    # Every class appears in most scenes.
    presence = np.array([(masks == c).any(axis=(1, 2)).mean() for c in range(7)])
    assert np.all(presence > 0.6), presence


def test_classes_are_not_separable_by_colour(train_batch):
    # Discs and boxes share a colour distribution: their mean colours are
    # closer to each other than to any other class's.
    images, masks = train_batch
    means = np.array([images[masks == c].mean(axis=0) for c in range(7)])
    disc, box = 3, 4
    gap = np.linalg.norm(means[disc] - means[box])
    others = [np.linalg.norm(means[disc] - means[c]) for c in (0, 1, 2, 5)]
    assert gap < 0.5 * min(others)


def test_boundaries_are_sharp(train_batch):
    # No anti-aliasing: where the label changes, so does the image, and
    # every labelled pixel is drawn (no blended fringe class).
    images, masks = train_batch
    edges = masks[:, :, 1:] != masks[:, :, :-1]
    assert edges.mean() > 0.02
    jump = np.abs(images[:, :, 1:].astype(int) - images[:, :, :-1].astype(int)).sum(-1)
    assert jump[edges].mean() > 2 * jump[~edges].mean()


def test_ignore_patches():
    _, masks = synthetic.synthetic_arrays(
        20, 48, seed=2, ignore_probability=1.0, ignore_label=255
    )
    ignored = masks == 255
    assert ignored.any(axis=(1, 2)).all()
    assert 0.001 < ignored.mean() < 0.05
    _, clean = synthetic.synthetic_arrays(20, 48, seed=2)
    assert not (clean == 255).any()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_samples=-1), "num_samples"),
        (dict(image_size=4), "image_size"),
        (dict(image_size=(32, 32, 3)), "image_size"),
        (dict(seed=-3), "seed"),
        (dict(split="dev"), "split='dev'"),
        (dict(dtype="float64"), "dtype"),
        (dict(ignore_probability=1.5), "ignore_probability"),
        (dict(ignore_label=3), "ignore_label"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, match):
    arguments = dict(num_samples=1, image_size=16) | kwargs
    with pytest.raises(ValueError, match=match):
        synthetic.synthetic_arrays(**arguments)


def test_tf_dataset_matches_numpy_and_shuffles_deterministically():
    images, masks = synthetic.synthetic_arrays(6, (24, 32), seed=9, split="val")
    dataset = synthetic.synthetic_dataset(6, (24, 32), seed=9, split="val")
    assert dataset.element_spec[0].shape == (24, 32, 3)
    assert dataset.element_spec[1].shape == (24, 32)
    for index, (image, mask) in enumerate(dataset):
        assert image.dtype.name == "float32" and mask.dtype.name == "int32"
        np.testing.assert_array_equal(image.numpy(), images[index])
        np.testing.assert_array_equal(mask.numpy(), masks[index])

    def order(dataset):
        return [int(mask.numpy().sum()) for _, mask in dataset]

    shuffled = synthetic.synthetic_dataset(
        6, (24, 32), seed=9, split="val", shuffle=True
    )
    first, second = order(shuffled), order(shuffled)
    assert sorted(first) == sorted(int(m.sum()) for m in masks)
    assert first != second  # a new order on each pass ...
    again = synthetic.synthetic_dataset(6, (24, 32), seed=9, split="val", shuffle=True)
    assert order(again) == first  # ... the same for the same seed


def test_numpy_part_works_without_tensorflow():
    # A fresh interpreter in which `import tensorflow` fails.
    code = (
        "import sys\n"
        "sys.modules['tensorflow'] = None\n"
        "sys.modules['tensorflow_datasets'] = None\n"
        "from keras_srcrm.data import synthetic_arrays, SYNTHETIC_INFO\n"
        "images, masks = synthetic_arrays(2, 16, seed=0)\n"
        "print(images.shape, masks.max() < SYNTHETIC_INFO.num_classes)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "(2, 16, 16, 3) True"


@pytest.mark.slow
def test_a_small_cnn_learns_it_far_above_chance():
    import keras

    images, masks = synthetic.synthetic_arrays(512, 64, seed=0, dtype="float32")
    val_images, val_masks = synthetic.synthetic_arrays(64, 64, seed=0, split="val")
    layers = keras.layers
    inputs = keras.Input((64, 64, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    fine = layers.Conv2D(24, 3, padding="same", activation="relu")(x)
    fine = layers.Conv2D(24, 3, padding="same", activation="relu")(fine)
    coarse = layers.Conv2D(48, 3, strides=2, padding="same", activation="relu")(fine)
    coarse = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(coarse)
    coarse = layers.Conv2D(64, 3, padding="same", activation="relu")(coarse)
    up = layers.UpSampling2D(4, interpolation="bilinear")(coarse)
    x = layers.Concatenate()([up, fine])
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    model = keras.Model(inputs, layers.Conv2D(7, 1)(x))
    model.compile(
        keras.optimizers.Adam(2e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(images, masks, batch_size=16, epochs=6, verbose=0)
    predicted = np.argmax(
        keras.ops.convert_to_numpy(model.predict(val_images, verbose=0)), -1
    )
    ious = [
        ((predicted == c) & (val_masks == c)).sum()
        / max(((predicted == c) | (val_masks == c)).sum(), 1)
        for c in range(7)
    ]
    # Always predicting the largest class scores a mIoU of about 0.07.
    assert np.mean(ious) > 0.4, np.round(ious, 3)
