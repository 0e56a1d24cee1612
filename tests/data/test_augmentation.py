"""Augmentation invariants: masks stay exact, image and mask move together."""

import numpy as np
import pytest
import tensorflow as tf

from keras_srcrm.data import augmentation

IGNORE = 255


def example(height=20, width=28, seed=0):
    """An image whose pixels encode their position, and a blocky mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([yy * 9 % 256, xx * 7 % 256, rng.integers(0, 256, yy.shape)], -1)
    mask = (yy // 5 * 3 + xx // 7) % 5  # values 0..4 in blocks
    mask[0, 0] = 17  # a value outside the blocks' pattern
    return image.astype(np.float32), mask.astype(np.int32)


@pytest.mark.parametrize("seed", range(6))
def test_random_scale_keeps_mask_values_and_resizes_both(seed):
    image, mask = example()
    out_image, out_mask = augmentation.random_scale(image, mask, (seed, 1))
    out_image, out_mask = out_image.numpy(), out_mask.numpy()
    assert out_image.shape[:2] == out_mask.shape
    scale = out_mask.shape[0] / 20
    assert 0.5 - 1 / 20 <= scale <= 2.0 + 1 / 20
    assert abs(out_mask.shape[1] / 28 - scale) < 0.1
    assert set(np.unique(out_mask)) <= set(np.unique(mask))
    assert out_mask.dtype == np.int32 and out_image.dtype == np.float32
    assert 0.0 <= out_image.min() and out_image.max() <= 255.0


def test_random_scale_mask_is_nearest_neighbour_of_the_input():
    image, mask = example()
    _, doubled = augmentation.random_scale(image, mask, (0, 0), scale_range=(2.0, 2.0))
    np.testing.assert_array_equal(doubled.numpy(), np.kron(mask, np.ones((2, 2), int)))


def test_random_crop_pads_masks_with_the_ignore_label_and_images_with_the_value():
    image, mask = example(10, 12)
    mean = (1.0, 2.0, 3.0)
    out_image, out_mask = augmentation.random_crop(
        image, mask, (4, 2), (16, 15), ignore_label=IGNORE, image_pad_value=mean
    )
    out_image, out_mask = out_image.numpy(), out_mask.numpy()
    assert out_image.shape == (16, 15, 3) and out_mask.shape == (16, 15)
    # The example is smaller than the crop: it sits at the top left.
    np.testing.assert_array_equal(out_mask[:10, :12], mask)
    np.testing.assert_array_equal(out_image[:10, :12], image)
    assert np.all(out_mask[10:] == IGNORE) and np.all(out_mask[:, 12:] == IGNORE)
    np.testing.assert_array_equal(out_image[10:].reshape(-1, 3)[0], mean)
    assert np.all(out_image[10:] == np.asarray(mean)) and np.all(
        out_image[:, 12:] == np.asarray(mean)
    )


@pytest.mark.parametrize("seed", range(5))
def test_random_crop_takes_the_same_window_of_image_and_mask(seed):
    image, mask = example()
    out_image, out_mask = augmentation.random_crop(image, mask, (seed, 3), (8, 9))
    out_image, out_mask = out_image.numpy(), out_mask.numpy()
    # The image's first two channels encode the source position.
    top = int(np.argmax((np.arange(20) * 9 % 256) == out_image[0, 0, 0]))
    left = int(np.argmax((np.arange(28) * 7 % 256) == out_image[0, 0, 1]))
    np.testing.assert_array_equal(out_image, image[top : top + 8, left : left + 9])
    np.testing.assert_array_equal(out_mask, mask[top : top + 8, left : left + 9])


def test_random_flip_flips_image_and_mask_together():
    image, mask = example()
    outcomes = set()
    for seed in range(12):
        out_image, out_mask = augmentation.random_flip(image, mask, (seed, 5))
        flipped = np.array_equal(out_mask.numpy(), mask[:, ::-1])
        assert flipped or np.array_equal(out_mask.numpy(), mask)
        expected = image[:, ::-1] if flipped else image
        np.testing.assert_array_equal(out_image.numpy(), expected)
        outcomes.add(flipped)
    assert outcomes == {True, False}


def test_photometric_jitter_changes_colours_within_range():
    image, _ = example()
    out = augmentation.photometric_jitter(image, (1, 2), probability=1.0).numpy()
    assert out.shape == image.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 255.0
    assert not np.allclose(out, image, atol=1.0)
    unchanged = augmentation.photometric_jitter(image, (1, 2), probability=0.0).numpy()
    np.testing.assert_allclose(unchanged, image, atol=1e-3)


def test_augment_keeps_masks_exact_and_is_deterministic():
    image, mask = example(30, 40)
    first = augmentation.augment(image, mask, (7, 7), crop_size=(24, 24))
    second = augmentation.augment(image, mask, (7, 7), crop_size=(24, 24))
    other = augmentation.augment(image, mask, (7, 8), crop_size=(24, 24))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(first[0].numpy(), other[0].numpy())
    values = set(np.unique(first[1].numpy())) | set(np.unique(other[1].numpy()))
    assert values <= set(np.unique(mask)) | {IGNORE}


def test_augment_in_a_dataset_map():
    image, mask = example(30, 40)
    dataset = tf.data.Dataset.from_tensors((image, mask)).repeat(4).enumerate()
    dataset = dataset.map(
        lambda i, ex: augmentation.augment(*ex, (0, i), crop_size=16, photometric=False)
    )
    crops = [(x.numpy(), y.numpy()) for x, y in dataset]
    assert all(x.shape == (16, 16, 3) and y.shape == (16, 16) for x, y in crops)
    assert len({x.tobytes() for x, _ in crops}) == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(crop_size=0), "crop_size"),
        (dict(crop_size=(8, 8, 3)), "crop_size"),
        (dict(crop_size=8, scale_range=(2.0, 1.0)), "scale_range"),
        (dict(crop_size=8, image_pad_value=(1, 2)), "image_pad_value"),
        (dict(crop_size=8, photometric="strong"), "photometric"),
        (dict(crop_size=8, photometric=dict(hue_delta=0.9)), "hue_delta"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, match):
    image, mask = example()
    with pytest.raises(ValueError, match=match):
        augmentation.augment(image, mask, 0, **kwargs)


def test_rank_errors_name_the_tensor():
    image, mask = example()
    with pytest.raises(ValueError, match="`mask` must have shape"):
        augmentation.random_flip(image, mask[..., None], 0)
    with pytest.raises(ValueError, match="`image` must have shape"):
        augmentation.random_flip(image[None], mask, 0)
