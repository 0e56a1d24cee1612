"""Training and evaluation pipelines, and feeding them to a Keras model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_srcrm.data import pipeline
from keras_srcrm.data import synthetic

IGNORE = 255


def small_dataset(num=6, size=(20, 26)):
    return synthetic.synthetic_dataset(num, size, seed=4)


def batches(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_training_pipeline_shapes_and_contract():
    train = pipeline.training_pipeline(
        small_dataset(), batch_size=4, crop_size=(16, 24), seed=0
    )
    out = batches(train)
    assert len(out) == 1  # 6 examples, drop_remainder
    images, masks = out[0]
    assert images.shape == (4, 16, 24, 3) and images.dtype == np.float32
    assert masks.shape == (4, 16, 24) and masks.dtype == np.int32
    assert images.min() >= 0.0 and images.max() <= 255.0
    assert set(np.unique(masks)) <= set(range(7)) | {IGNORE}


def test_training_pipeline_is_deterministic_per_seed():
    def run(seed):
        return batches(
            pipeline.training_pipeline(
                small_dataset(8), batch_size=2, crop_size=16, seed=seed
            )
        )

    first, second, other = run(3), run(3), run(4)
    for (x1, y1), (x2, y2) in zip(first, second):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))


def test_training_pipeline_pads_small_images_with_the_ignore_label():
    # Scale at most 1.0 of a 12x12 image into 20x20 crops: always padded.
    train = pipeline.training_pipeline(
        small_dataset(4, 12),
        batch_size=4,
        crop_size=20,
        scale_range=(0.9, 1.0),
        flip=False,
        photometric=False,
        image_pad_value=7.0,
        seed=1,
    )
    images, masks = batches(train)[0]
    assert np.all(masks[:, 12:, :] == IGNORE) and np.all(masks[:, :, 12:] == IGNORE)
    assert np.all(images[:, 12:, :] == 7.0)


def test_evaluation_pipeline_keeps_full_images_one_by_one():
    val = pipeline.evaluation_pipeline(small_dataset(3))
    out = batches(val)
    source = batches(small_dataset(3).batch(1))
    assert len(out) == 3
    for (x, y), (sx, sy) in zip(out, source):
        np.testing.assert_array_equal(x, sx)
        np.testing.assert_array_equal(y, sy)


def test_evaluation_pipeline_pads_batches_with_the_ignore_label():
    sizes = [(10, 14), (13, 9)]
    examples = [
        (np.full((h, w, 3), 100.0, np.float32), np.ones((h, w), np.int32))
        for h, w in sizes
    ]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(examples),
        output_signature=(
            tf.TensorSpec((None, None, 3), tf.float32),
            tf.TensorSpec((None, None), tf.int32),
        ),
    )
    val = pipeline.evaluation_pipeline(
        dataset, batch_size=2, pad_to_multiple_of=8, image_pad_value=(1.0, 2.0, 3.0)
    )
    images, masks = batches(val)[0]
    assert images.shape == (2, 16, 16, 3) and masks.shape == (2, 16, 16)
    for index, (h, w) in enumerate(sizes):
        assert np.all(masks[index, :h, :w] == 1)
        assert (masks[index] == IGNORE).sum() == 16 * 16 - h * w
        assert np.all(images[index, :h, :w] == 100.0)
        np.testing.assert_array_equal(
            images[index][masks[index] == IGNORE][0], [1, 2, 3]
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=0, crop_size=8), "batch_size"),
        (dict(batch_size=2, crop_size=-8), "crop_size"),
        (dict(batch_size=2, crop_size=8, shuffle_buffer=-1), "shuffle_buffer"),
        (dict(batch_size=2, crop_size=8, ignore_label=2.5), "ignore_label"),
    ],
)
def test_training_pipeline_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pipeline.training_pipeline(small_dataset(), **kwargs)


def test_evaluation_pipeline_bad_arguments():
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        pipeline.evaluation_pipeline(small_dataset(), pad_to_multiple_of=0)


def test_pipelines_feed_a_keras_model_on_the_active_backend():
    train = pipeline.training_pipeline(
        small_dataset(8, 24), batch_size=4, crop_size=16, seed=0
    )
    val = pipeline.evaluation_pipeline(small_dataset(2, 24))
    model = keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.Conv2D(7, 3, padding="same"),
        ]
    )
    model.compile(
        "sgd",
        keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=IGNORE
        ),
    )
    history = model.fit(train, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert np.isfinite(model.evaluate(val, verbose=0))
