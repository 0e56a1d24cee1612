"""`segment`, and the checks that every inference function shares."""

import numpy as np
import pytest

from keras_srcrm.inference import predict_multiscale
from keras_srcrm.inference import predict_sliding_window
from keras_srcrm.inference import predict_whole
from keras_srcrm.inference import segment
from tests.inference.models import identity
from tests.inference.models import pointwise_model

FUNCTIONS = {
    "whole": (predict_whole, {}),
    "sliding": (predict_sliding_window, {"tile_size": 8}),
    "multiscale": (predict_multiscale, {"scales": (1.0,)}),
}


@pytest.mark.parametrize("mode", sorted(FUNCTIONS))
def test_segment_returns_the_argmax_of_each_mode(images, mode):
    model = pointwise_model()
    function, options = FUNCTIONS[mode]
    classes = segment(model, images, mode=mode, **options)
    assert classes.shape == (2, 13, 17) and classes.dtype == np.int32
    np.testing.assert_array_equal(
        classes, function(model, images, output="classes", **options)
    )


def test_segment_defaults_to_whole_images(images):
    model = pointwise_model()
    np.testing.assert_array_equal(
        segment(model, images), predict_whole(model, images).argmax(-1)
    )


def test_segment_every_mode_on_a_real_model(tiny_segmenter, rng):
    images = rng.uniform(0, 255, size=(1, 45, 61, 3)).astype("float32")
    for mode, options in [
        ("whole", {}),
        ("sliding", {"tile_size": 48, "batch_size": 2}),
        ("multiscale", {"scales": (0.75, 1.0), "flip": True}),
    ]:
        classes = segment(tiny_segmenter, images, mode=mode, **options)
        assert classes.shape == (1, 45, 61), mode
        assert classes.min() >= 0 and classes.max() < 3, mode


def test_segment_rejects_an_unknown_mode_and_an_output(images):
    with pytest.raises(ValueError, match=r"`mode` must be one of.*mode='tiles'"):
        segment(identity, images, mode="tiles")
    with pytest.raises(ValueError, match=r"class ids.*output='logits'"):
        segment(identity, images, output="logits")


@pytest.mark.parametrize("mode", sorted(FUNCTIONS))
@pytest.mark.parametrize(
    "shape, match",
    [
        ((13, 17, 3), r"rank-4.*images.shape=\(13, 17, 3\)"),
        ((1, 1, 13, 17, 3), r"rank-4.*images.shape=\(1, 1, 13, 17, 3\)"),
        ((2, 13, 17, 1), r"3 \(RGB\) channels.*images.shape=\(2, 13, 17, 1\)"),
        ((2, 13, 17, 4), r"3 \(RGB\) channels.*images.shape=\(2, 13, 17, 4\)"),
        ((0, 13, 17, 3), r"non-zero.*images.shape=\(0, 13, 17, 3\)"),
    ],
)
def test_invalid_images_raise(mode, shape, match):
    function, options = FUNCTIONS[mode]
    with pytest.raises(ValueError, match=match):
        function(identity, np.zeros(shape, "float32"), **options)


@pytest.mark.parametrize("mode", sorted(FUNCTIONS))
def test_unknown_output_raises(images, mode):
    function, options = FUNCTIONS[mode]
    with pytest.raises(ValueError, match=r"`output` must be one of.*output='argmax'"):
        function(identity, images, output="argmax", **options)


@pytest.mark.parametrize("mode", sorted(FUNCTIONS))
def test_invalid_batch_size_raises(images, mode):
    function, options = FUNCTIONS[mode]
    with pytest.raises(ValueError, match=r"`batch_size`.*batch_size=0"):
        function(identity, images, batch_size=0, **options)
