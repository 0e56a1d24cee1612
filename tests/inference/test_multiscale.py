"""`predict_multiscale`: scales, flips, probability averaging."""

import numpy as np
import pytest

from keras_srcrm.inference import predict_multiscale
from keras_srcrm.inference import predict_whole
from tests.inference.models import Recorder
from tests.inference.models import column_in_input
from tests.inference.models import identity
from tests.inference.models import pointwise_model
from tests.inference.models import softmax


def test_scale_one_without_flip_equals_whole_image(images):
    model = pointwise_model()
    whole = predict_whole(model, images, output="probabilities")
    probabilities = predict_multiscale(
        model, images, scales=(1.0,), flip=False, output="probabilities"
    )
    np.testing.assert_allclose(probabilities, whole, rtol=1e-6, atol=1e-7)
    logits = predict_multiscale(model, images, scales=(1.0,), flip=False)
    np.testing.assert_allclose(np.exp(logits), whole, rtol=1e-5, atol=1e-7)
    classes = predict_multiscale(
        model, images, scales=(1.0,), flip=False, output="classes"
    )
    np.testing.assert_array_equal(
        classes, predict_whole(model, images, output="classes")
    )


def test_flip_changes_nothing_for_a_pointwise_model(images):
    model = pointwise_model()
    np.testing.assert_allclose(
        predict_multiscale(model, images, scales=(1.0,), flip=True),
        predict_multiscale(model, images, scales=(1.0,), flip=False),
        rtol=1e-5,
        atol=1e-6,
    )


def test_flipped_predictions_are_flipped_back(images):
    # The model's class-0 logit is the column index inside its input, so the
    # flipped image's logits, flipped back, run from W - 1 down to 0.
    probabilities = predict_multiscale(
        column_in_input, images, scales=(1.0,), flip=True, output="probabilities"
    )
    columns = np.arange(17, dtype="float32")
    zeros = np.zeros_like(columns)
    direct = softmax(np.stack([columns, zeros], axis=-1))
    mirrored = softmax(np.stack([columns[::-1], zeros], axis=-1))
    expected = np.broadcast_to((direct + mirrored) / 2, (2, 13, 17, 2))
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)


def test_each_scale_resizes_the_images_and_logits_come_back(images):
    model = Recorder(identity)
    probabilities = predict_multiscale(
        model,
        images,
        scales=(0.5, 1.5),
        flip=True,
        batch_size=2,
        output="probabilities",
    )
    # Sizes round halves up: 13 * 0.5 = 6.5 -> 7, 17 * 1.5 = 25.5 -> 26.
    assert model.shapes == [(2, 7, 9, 3)] * 2 + [(2, 20, 26, 3)] * 2
    assert probabilities.shape == (2, 13, 17, 3)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)


def test_probabilities_are_averaged_not_logits(images):
    # Two scales of a model whose logits double with the scale: the mean of
    # the two softmaxes differs from the softmax of the mean logits.
    def scaled_logits(x):
        return x * (x.shape[1] / 13.0) / 50.0

    flat = images[:, :1, :1].repeat(13, axis=1).repeat(17, axis=2)
    probabilities = predict_multiscale(
        scaled_logits, flat, scales=(1.0, 2.0), flip=False, output="probabilities"
    )
    logits = flat[:, :1, :1] / 50.0
    expected = (softmax(logits) + softmax(2.0 * logits)) / 2
    np.testing.assert_allclose(probabilities[:, :1, :1], expected, rtol=1e-5)


def test_sliding_window_at_each_scale(images):
    model = Recorder(pointwise_model())
    result = predict_multiscale(
        model, images, scales=(0.75, 1.25), flip=False, tile_size=8, stride=6
    )
    assert set(model.shapes) <= {(1, 8, 8, 3)}
    assert result.shape == (2, 13, 17, 4) and np.isfinite(result).all()


def test_real_model_on_an_odd_size(tiny_segmenter, rng):
    images = rng.uniform(0, 255, size=(1, 45, 61, 3)).astype("float32")
    logits = predict_multiscale(tiny_segmenter, images, scales=(0.75, 1.0))
    assert logits.shape == (1, 45, 61, 3) and np.isfinite(logits).all()
    np.testing.assert_allclose(np.exp(logits).sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scales": ()}, r"`scales` must be a non-empty.*scales=\(\)"),
        ({"scales": []}, r"`scales`.*scales=\[\]"),
        ({"scales": (1.0, 0.0)}, r"`scales`.*scales=\(1.0, 0.0\)"),
        ({"scales": (1.0, -0.5)}, r"`scales`.*Received"),
        ({"scales": 1.0}, r"`scales`.*scales=1.0"),
        ({"scales": (float("nan"),)}, r"`scales`"),
        ({"stride": 4}, r"`stride` applies to sliding-window.*tile_size=None"),
        ({"tile_size": 4, "stride": 5}, r"`stride` must not exceed"),
    ],
)
def test_invalid_arguments_raise(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        predict_multiscale(identity, images, **kwargs)
