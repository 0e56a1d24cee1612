"""`srm_offsets`: what the SRMs of a segmenter predict."""

import keras
import numpy as np
import pytest

from keras_srcrm.inference import srm_offsets
from keras_srcrm.models import SRCRMSegmenter
from keras_srcrm.models import backbone_from_config


@pytest.fixture(scope="module")
def backbone():
    return backbone_from_config("hub_resnet_mini")


def test_one_field_per_srm_at_its_stride_zero_before_training(backbone):
    model = SRCRMSegmenter(backbone, 3, decoder_filters=8)
    images = np.full((2, 64, 48, 3), 128.0, "float32")
    fields = srm_offsets(model, images)
    assert [field.shape for field in fields] == [
        (2, 4, 3, 2),  # stride 16
        (2, 8, 6, 2),  # stride 8
        (2, 16, 12, 2),  # stride 4
    ]
    assert all(field.dtype == np.float32 for field in fields)
    for field in fields:
        np.testing.assert_array_equal(field, 0.0)  # the predictors start at zero


def test_fields_follow_the_trained_weights(backbone):
    model = SRCRMSegmenter(backbone, 3, decoder_filters=8, use_crm=False)
    # A constant predicted offset; the neighbour aggregation is a convex
    # combination of neighbouring offsets, so it stays that constant.
    steps = model.get_layer("decoder").top_down
    steps[0].offset_predictor.bias.assign(np.array([0.25, 0.0], "float32"))
    steps[-1].offset_predictor.bias.assign(np.array([1.5, -0.5], "float32"))
    images = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3))
    coarse, middle, fine = srm_offsets(model, images.astype("float32"))
    np.testing.assert_allclose(coarse[..., 0], 0.25, atol=1e-5)
    np.testing.assert_allclose(middle, 0.0, atol=1e-6)
    np.testing.assert_allclose(fine[..., 0], 1.5, atol=1e-5)
    np.testing.assert_allclose(fine[..., 1], -0.5, atol=1e-5)


def test_a_model_without_srms_is_refused(backbone):
    fpn = SRCRMSegmenter(backbone, 3, decoder_filters=8, use_srm=False)
    with pytest.raises(ValueError, match="SRCRMDecoder with SRMs"):
        srm_offsets(fpn, np.zeros((1, 32, 32, 3), "float32"))


def test_the_replay_is_the_decoder_itself(backbone):
    """Smoothing and fusing the replayed steps gives the decoder's output, so
    the offsets shown are those the model used."""
    from keras_srcrm.inference.offsets import replay_top_down
    from keras_srcrm.ops.resize import resize_bilinear

    model = SRCRMSegmenter(backbone, 3, decoder_filters=8)
    decoder = model.get_layer("decoder")
    rng = np.random.default_rng(1)
    for step in decoder.top_down:  # non-zero offsets
        bias = step.offset_predictor.bias
        bias.assign(rng.normal(0, 1.0, bias.shape).astype("float32"))
    images = rng.uniform(0, 255, (1, 40, 56, 3)).astype("float32")
    stages, outputs, _ = replay_top_down(model, images)
    levels = [outputs[0]] + [
        smooth(x, training=False) for smooth, x in zip(decoder.smoothing, outputs[1:])
    ]
    size = tuple(levels[-1].shape[1:3])
    fused = keras.ops.concatenate(
        [levels[-1]]
        + [
            resize_bilinear(level, size, align_corners=decoder.align_corners)
            for level in levels[-2::-1]
        ],
        axis=-1,
    )
    replayed = decoder.fusion(fused, training=False)
    expected = decoder(stages, training=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(replayed),
        keras.ops.convert_to_numpy(expected),
        rtol=1e-5,
        atol=1e-5,
    )
