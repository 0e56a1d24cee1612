"""MeanIoU, PixelAccuracy and the exact confusion matrix behind them."""

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from keras import ops

from keras_srcrm.metrics import MeanIoU
from keras_srcrm.metrics import PixelAccuracy
from keras_srcrm.metrics import _counting

NUM_CLASSES = 4
SHAPE = (2, 8, 8)


def _batch(rng, ignore_label=255, logits=True):
    labels = rng.integers(0, NUM_CLASSES, SHAPE).astype("int32")
    labels[rng.random(SHAPE) < 0.25] = ignore_label
    scores = rng.normal(size=SHAPE + (NUM_CLASSES,)).astype("float32")
    return labels, scores if logits else scores.argmax(-1).astype("int32")


def _reference_confusion_matrix(labels, predictions, ignore_label=255, mask=None):
    """NumPy reference: rows are true classes, columns predicted classes."""
    keep = (labels != ignore_label) & (labels >= 0) & (labels < NUM_CLASSES)
    if mask is not None:
        keep &= mask
    index = labels[keep] * NUM_CLASSES + predictions[keep]
    counts = np.bincount(index, minlength=NUM_CLASSES**2)
    return counts.reshape(NUM_CLASSES, NUM_CLASSES)


def _reference_iou(matrix):
    tp = np.diag(matrix).astype(float)
    union = matrix.sum(0) + matrix.sum(1) - tp
    with np.errstate(invalid="ignore"):
        return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


class TestAgainstNumPy:
    @pytest.mark.parametrize("ignore_label", [255, -1])
    @pytest.mark.parametrize("logits", [True, False])
    def test_streaming_over_batches(self, rng, ignore_label, logits):
        metric = MeanIoU(NUM_CLASSES, ignore_label=ignore_label)
        accuracy = PixelAccuracy(NUM_CLASSES, ignore_label=ignore_label)
        expected = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
        for _ in range(3):
            labels, y_pred = _batch(rng, ignore_label, logits)
            predictions = y_pred.argmax(-1) if logits else y_pred
            expected += _reference_confusion_matrix(labels, predictions, ignore_label)
            metric.update_state(labels[..., None], y_pred)
            accuracy.update_state(labels, y_pred)
        np.testing.assert_array_equal(metric.confusion_matrix(), expected)
        assert metric.confusion_matrix().dtype == np.int64
        iou = _reference_iou(expected)
        np.testing.assert_allclose(metric.per_class_iou(), iou)
        np.testing.assert_allclose(
            ops.convert_to_numpy(metric.result()), np.nanmean(iou), rtol=1e-6
        )
        np.testing.assert_allclose(
            ops.convert_to_numpy(accuracy.result()),
            np.trace(expected) / expected.sum(),
            rtol=1e-6,
        )

    def test_absent_classes_are_nan_and_left_out_of_the_mean(self):
        # Class 3 is in neither labels nor predictions; class 2 only in labels.
        labels = np.array([[[0, 0, 1], [1, 2, 255]]])
        predictions = np.array([[[0, 1, 1], [1, 1, 3]]])  # 3 is at an ignored pixel
        metric = MeanIoU(NUM_CLASSES)
        metric.update_state(labels, predictions)
        iou = metric.per_class_iou()
        np.testing.assert_allclose(iou[:3], [1 / 2, 2 / 4, 0.0])
        assert np.isnan(iou[3])
        np.testing.assert_allclose(
            ops.convert_to_numpy(metric.result()), 1 / 3, rtol=1e-6
        )

    @pytest.mark.parametrize("per_image", [True, False])
    def test_sample_weight_masks_pixels(self, rng, per_image):
        labels, scores = _batch(rng)
        if per_image:
            weight = np.array([0.0, 0.5], "float32")
            mask = np.broadcast_to(weight[:, None, None] != 0, SHAPE)
        else:
            weight = (rng.random(SHAPE) < 0.5).astype("float32") * 3
            mask = weight != 0
        metric = MeanIoU(NUM_CLASSES)
        metric.update_state(labels, scores, sample_weight=weight)
        expected = _reference_confusion_matrix(labels, scores.argmax(-1), mask=mask)
        np.testing.assert_array_equal(metric.confusion_matrix(), expected)

    @pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
    def test_low_precision_logits(self, rng, dtype):
        labels, scores = _batch(rng)
        scores = scores * 4  # well separated, so that rounding keeps the argmax
        low = ops.cast(scores, dtype)
        metric = MeanIoU(NUM_CLASSES)
        metric.update_state(labels, low)
        predictions = ops.convert_to_numpy(ops.argmax(ops.cast(low, "float32"), -1))
        expected = _reference_confusion_matrix(labels, predictions)
        np.testing.assert_array_equal(metric.confusion_matrix(), expected)

    def test_empty_metric_is_zero_and_reset_clears(self, rng):
        metric = MeanIoU(NUM_CLASSES)
        assert float(ops.convert_to_numpy(metric.result())) == 0.0
        assert np.all(np.isnan(metric.per_class_iou()))
        metric.update_state(*_batch(rng))
        assert metric.confusion_matrix().sum() > 0
        metric.reset_state()
        assert metric.confusion_matrix().sum() == 0
        assert float(ops.convert_to_numpy(metric.result())) == 0.0


class TestExactCounting:
    def test_counts_beyond_int32_stay_exact(self, rng):
        metric = MeanIoU(NUM_CLASSES)
        expected = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
        big = np.full((NUM_CLASSES, NUM_CLASSES), 2**31 - 1, np.int64)
        increments = [big, big, big]
        increments += [
            rng.integers(0, 2**31, (NUM_CLASSES, NUM_CLASSES)) for _ in range(4)
        ]
        for counts in increments:
            metric.add_confusion_matrix(counts.astype("int32"))
            expected += counts
        np.testing.assert_array_equal(metric.confusion_matrix(), expected)
        assert expected.max() > 2**33  # far beyond int32
        iou = _reference_iou(expected)
        np.testing.assert_allclose(metric.per_class_iou(), iou, rtol=1e-12)
        np.testing.assert_allclose(
            ops.convert_to_numpy(metric.result()), iou.mean(), rtol=1e-5
        )

    def test_update_state_and_add_confusion_matrix_share_the_total(self, rng):
        labels, scores = _batch(rng)
        metric = MeanIoU(NUM_CLASSES)
        metric.add_confusion_matrix(np.full((NUM_CLASSES, NUM_CLASSES), 2**30, "int32"))
        metric.update_state(labels, scores)
        expected = _reference_confusion_matrix(labels, scores.argmax(-1)) + 2**30
        np.testing.assert_array_equal(metric.confusion_matrix(), expected)

    @given(st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=12))
    def test_carry_split_addition_is_exact(self, increments):
        hi = lo = ops.zeros((1,), "int32")
        for value in increments:
            hi, lo = _counting.add_exact(
                hi, lo, ops.convert_to_tensor([value], "int32")
            )
        assert int(_counting.to_int64(hi, lo)[0]) == sum(increments)
        assert 0 <= int(ops.convert_to_numpy(lo)[0]) < 2**30

    def test_histogram_is_exact_beyond_float32_precision(self):
        # 2**24 + 1 is the first integer float32 cannot hold; Keras's torch
        # segment_sum accumulates in float32 and would return 2**24.
        indices = ops.concatenate(
            [ops.zeros((2**24 + 1,), "int32"), ops.ones((3,), "int32")]
        )
        counts = ops.convert_to_numpy(_counting.histogram(indices, 3))
        np.testing.assert_array_equal(counts, [2**24 + 1, 3, 0])


class TestArgumentsAndShapes:
    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"num_classes": 1}, "num_classes"),
            ({"num_classes": 2.0}, "num_classes"),
            ({"num_classes": 3, "ignore_label": 2.5}, "ignore_label"),
            ({"num_classes": 3, "invalid_labels": "warn"}, "invalid_labels"),
        ],
    )
    def test_bad_arguments_raise(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            MeanIoU(**kwargs)

    @pytest.mark.parametrize(
        "y_true_shape, y_pred_shape, match",
        [
            ((2, 8), (2, 8, 4), r"y_true.shape=\(2, 8\)"),
            ((2, 8, 8), (2, 8, 8, 5), r"num_classes=4.*y_pred.shape=\(2, 8, 8, 5\)"),
            ((2, 8, 8), (2, 8, 7), r"y_pred.shape=\(2, 8, 7\)"),
        ],
    )
    def test_bad_shapes_name_the_argument(self, y_true_shape, y_pred_shape, match):
        metric = MeanIoU(NUM_CLASSES)
        with pytest.raises(ValueError, match=match):
            metric.update_state(np.zeros(y_true_shape, "int32"), np.zeros(y_pred_shape))

    def test_bad_sample_weight_shape(self):
        metric = MeanIoU(NUM_CLASSES)
        with pytest.raises(ValueError, match=r"sample_weight.shape=\(2, 8\)"):
            metric.update_state(
                np.zeros(SHAPE, "int32"), np.zeros(SHAPE, "int32"), np.ones((2, 8))
            )

    def test_add_confusion_matrix_checks_its_shape(self):
        with pytest.raises(ValueError, match=r"counts.shape=\(3, 3\)"):
            MeanIoU(NUM_CLASSES).add_confusion_matrix(np.zeros((3, 3), "int32"))


@pytest.mark.parametrize("cls", [MeanIoU, PixelAccuracy])
def test_serialization_round_trip(cls):
    metric = cls(5, ignore_label=-1, invalid_labels="ignore", name="m")
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(metric)
    )
    assert type(restored) is cls
    assert restored.get_config() == metric.get_config()
    assert restored.get_config()["ignore_label"] == -1
    assert restored.get_config()["invalid_labels"] == "ignore"
