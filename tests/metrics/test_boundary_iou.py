"""BoundaryIoU against hand-built masks and a direct NumPy reference."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_srcrm.metrics import BoundaryIoU
from keras_srcrm.metrics.boundary_iou import inner_boundary_band

BACKEND = keras.backend.backend()
SHAPE = (2, 8, 8)


def _reference_band(class_map, radius):
    """Pixels with another value in their (2r+1)^2 window, clipped to the image."""
    band = np.zeros(class_map.shape, bool)
    batch, height, width = class_map.shape
    for b in range(batch):
        for i in range(height):
            for j in range(width):
                window = class_map[
                    b,
                    max(0, i - radius) : i + radius + 1,
                    max(0, j - radius) : j + radius + 1,
                ]
                band[b, i, j] = np.any(window != class_map[b, i, j])
    return band


def _reference_boundary_iou(labels, predictions, num_classes, radius, ignore=255):
    scored = (labels != ignore) & (labels >= 0) & (labels < num_classes)
    true_band = _reference_band(np.where(scored, labels, -1), radius) & scored
    pred_band = _reference_band(predictions, radius) & scored
    iou = np.full(num_classes, np.nan)
    for c in range(num_classes):
        true_c = true_band & (labels == c)
        pred_c = pred_band & (predictions == c)
        union = (true_c | pred_c).sum()
        if union:
            iou[c] = (true_c & pred_c).sum() / union
    return iou


def _squares():
    """A 4x4 true square and a 4x5 predicted one, class 1 on class 0.

    Both images of the batch are the same, so counts double and IoUs do not
    change (one image shape for all tests keeps eager JAX from recompiling).
    """
    labels = np.zeros(SHAPE, "int32")
    labels[:, 2:6, 2:6] = 1
    predictions = np.zeros(SHAPE, "int32")
    predictions[:, 2:6, 2:7] = 1
    return labels, predictions


# Radius 5 gives a window wider than the image.
@pytest.mark.parametrize("radius", [1, 2, 5])
def test_band_matches_reference(rng, radius):
    class_map = rng.integers(-1, 3, SHAPE).astype("int32")
    # Large uniform blocks, so that the band is not simply everything.
    class_map[0, :, :4] = 2
    class_map[1, 2:, 3:] = 0
    band = inner_boundary_band(ops.convert_to_tensor(class_map), radius)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(band), _reference_band(class_map, radius)
    )


def test_hand_built_squares():
    labels, predictions = _squares()
    metric = BoundaryIoU(num_classes=2, band_width=1)
    metric.update_state(labels, predictions)
    # Class 1: true ring 12 px, predicted ring 14 px, shared 10 px (rows 2 and
    # 5 of columns 2-5, and column 2 of rows 3-4): 10 / (12 + 14 - 10).
    # Class 0: outer rings of 20 and 22 px, sharing 16: 16 / 26.
    expected = np.array([16 / 26, 10 / 16])
    np.testing.assert_allclose(metric.per_class_iou(), expected)
    np.testing.assert_allclose(
        ops.convert_to_numpy(metric.result()), expected.mean(), rtol=1e-6
    )


def test_identical_and_disjoint_masks():
    labels, predictions = _squares()
    metric = BoundaryIoU(num_classes=3, band_width=2)
    metric.update_state(labels, labels)
    np.testing.assert_allclose(metric.per_class_iou(), [1.0, 1.0, np.nan])
    metric.reset_state()
    metric.update_state(labels, np.full_like(labels, 2))
    # The prediction has no contour at all, so nothing matches.
    np.testing.assert_allclose(metric.per_class_iou(), [0.0, 0.0, np.nan])


def test_edges_next_to_ignored_pixels_are_contours():
    labels = np.ones(SHAPE, "int32")
    labels[:, :, 4:] = 255
    predictions = np.ones(SHAPE, "int32")
    predictions[:, 1:7, 6] = 0  # a contour inside the ignored region: not scored
    metric = BoundaryIoU(num_classes=2, band_width=1)
    metric.update_state(labels, predictions)
    # The true band of class 1 is column 3 (next to the void); the predicted
    # map has no contour at any scored pixel.
    np.testing.assert_allclose(metric.per_class_iou(), [np.nan, 0.0])


@pytest.mark.parametrize("radius", [1, 3])
def test_streaming_with_logits_matches_reference(rng, radius):
    metric = BoundaryIoU(num_classes=3, band_width=radius, ignore_label=-1)
    totals = []
    for _ in range(2):
        labels = np.zeros(SHAPE, "int32")
        labels[:, 2:6, 1:5] = 1
        labels[:, 4:, 5:] = 2
        labels[:, :1, :] = -1
        scores = rng.normal(size=labels.shape + (3,)).astype("float32")
        scores += 3 * np.eye(3, dtype="float32")[np.maximum(labels, 0)]
        metric.update_state(labels, scores)
        totals.append((labels, scores.argmax(-1)))
    labels = np.concatenate([t[0] for t in totals])
    predictions = np.concatenate([t[1] for t in totals])
    expected = _reference_boundary_iou(labels, predictions, 3, radius, ignore=-1)
    np.testing.assert_allclose(metric.per_class_iou(), expected)
    np.testing.assert_allclose(
        ops.convert_to_numpy(metric.result()), np.nanmean(expected), rtol=1e-6
    )


def test_band_fraction_of_the_diagonal():
    metric = BoundaryIoU(num_classes=19)
    assert metric.band_fraction == 0.02
    assert metric.band_radius(1024, 2048) == round(0.02 * np.hypot(1024, 2048))
    assert metric.band_radius(8, 8) == 1
    assert BoundaryIoU(num_classes=2, band_width=3).band_radius(1024, 2048) == 3


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="only TensorFlow traces with unknown spatial sizes; JAX and torch "
    "always see concrete shapes.",
)
def test_band_fraction_needs_a_static_image_size():
    import tensorflow as tf

    metric = BoundaryIoU(num_classes=2)
    update = tf.function(
        metric.update_state,
        input_signature=[
            tf.TensorSpec((None, None, None), tf.int32),
            tf.TensorSpec((None, None, None), tf.int32),
        ],
    )
    with pytest.raises(ValueError, match="Use `band_width`"):
        update(np.zeros((1, 4, 4), "int32"), np.zeros((1, 4, 4), "int32"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"band_width": 2, "band_fraction": 0.1}, "not both"),
        ({"band_width": 0}, "band_width"),
        ({"band_width": 1.5}, "band_width"),
        ({"band_fraction": 0.0}, "band_fraction"),
        ({"band_fraction": 2.0}, "band_fraction"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BoundaryIoU(num_classes=3, **kwargs)


def test_serialization_round_trip():
    metric = BoundaryIoU(num_classes=4, band_width=3, ignore_label=-1, name="b")
    config = metric.get_config()
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(metric)
    )
    assert type(restored) is BoundaryIoU
    assert restored.get_config() == config
    assert config["band_width"] == 3 and config["band_fraction"] is None
