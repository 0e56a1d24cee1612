"""MeanAccuracy (mAcc), MeanDice and MeanFScore from the exact confusion matrix."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_srcrm.metrics import MeanAccuracy
from keras_srcrm.metrics import MeanDice
from keras_srcrm.metrics import MeanFScore
from keras_srcrm.metrics import MeanIoU

BACKEND = keras.backend.backend()
NUM_CLASSES = 4
SHAPE = (2, 8, 8)


def _batch(rng, ignore_label=255):
    labels = rng.integers(0, NUM_CLASSES, SHAPE).astype("int32")
    labels[rng.random(SHAPE) < 0.25] = ignore_label
    # Class 3 never labelled: its accuracy is undefined, its F-score is 0.
    labels[labels == 3] = 0
    scores = rng.normal(size=SHAPE + (NUM_CLASSES,)).astype("float32")
    return labels, scores


def _reference_scores(labels, predictions, ignore_label, beta):
    """Per-class accuracy and F-beta from pixel lists, NaN where undefined."""
    keep = labels != ignore_label
    labels, predictions = labels[keep], predictions[keep]
    accuracy, fscore = [], []
    for c in range(NUM_CLASSES):
        is_true, is_pred = labels == c, predictions == c
        tp = np.sum(is_true & is_pred)
        accuracy.append(tp / is_true.sum() if is_true.any() else np.nan)
        precision = tp / is_pred.sum() if is_pred.any() else 0.0
        recall = tp / is_true.sum() if is_true.any() else 0.0
        if not (is_true.any() or is_pred.any()):
            fscore.append(np.nan)
        elif precision + recall == 0:
            fscore.append(0.0)
        else:
            fscore.append(
                (1 + beta**2) * precision * recall / (beta**2 * precision + recall)
            )
    return np.array(accuracy), np.array(fscore)


@pytest.mark.parametrize("ignore_label", [255, -1])
@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_streaming_against_numpy(rng, ignore_label, beta):
    metrics = [
        MeanAccuracy(NUM_CLASSES, ignore_label=ignore_label),
        MeanFScore(NUM_CLASSES, beta=beta, ignore_label=ignore_label),
        MeanDice(NUM_CLASSES, ignore_label=ignore_label),
    ]
    all_labels, all_predictions = [], []
    for _ in range(3):
        labels, scores = _batch(rng, ignore_label)
        for metric in metrics:
            metric.update_state(labels, scores)
        all_labels.append(labels)
        all_predictions.append(scores.argmax(-1))
    labels, predictions = np.concatenate(all_labels), np.concatenate(all_predictions)
    accuracy, fscore = _reference_scores(labels, predictions, ignore_label, beta)
    _, dice = _reference_scores(labels, predictions, ignore_label, 1.0)
    assert np.isnan(accuracy[3]) and not np.isnan(fscore[3])
    mean_accuracy, mean_fscore, mean_dice = metrics
    np.testing.assert_allclose(mean_accuracy.per_class_accuracy(), accuracy)
    np.testing.assert_allclose(mean_fscore.per_class_fscore(beta), fscore)
    np.testing.assert_allclose(mean_dice.per_class_dice(), dice)
    for metric, expected in zip(metrics, (accuracy, fscore, dice)):
        np.testing.assert_allclose(
            ops.convert_to_numpy(metric.result()), np.nanmean(expected), rtol=1e-6
        )


def test_dice_and_iou_of_the_same_counts_agree(rng):
    iou, dice = MeanIoU(NUM_CLASSES), MeanDice(NUM_CLASSES)
    labels, scores = _batch(rng)
    iou.update_state(labels, scores)
    dice.update_state(labels, scores)
    per_class_iou = iou.per_class_iou()
    # F1 = 2 IoU / (1 + IoU), class by class, and every metric has every view.
    np.testing.assert_allclose(
        dice.per_class_dice(), 2 * per_class_iou / (1 + per_class_iou)
    )
    np.testing.assert_allclose(iou.per_class_dice(), dice.per_class_dice())
    np.testing.assert_array_equal(iou.confusion_matrix(), dice.confusion_matrix())


def test_class_absent_from_labels_and_predictions_is_left_out():
    labels = np.array([[[0, 0, 1], [1, 255, 255]]])
    predictions = np.array([[[0, 1, 1], [1, 2, 2]]])  # 2 only at ignored pixels
    accuracy, dice = MeanAccuracy(3), MeanDice(3)
    accuracy.update_state(labels, predictions)
    dice.update_state(labels, predictions)
    np.testing.assert_allclose(accuracy.per_class_accuracy()[:2], [0.5, 1.0])
    np.testing.assert_allclose(dice.per_class_dice()[:2], [2 / 3, 0.8])
    assert np.isnan(accuracy.per_class_accuracy()[2])
    assert np.isnan(dice.per_class_dice()[2])
    np.testing.assert_allclose(ops.convert_to_numpy(accuracy.result()), 0.75)
    np.testing.assert_allclose(ops.convert_to_numpy(dice.result()), (2 / 3 + 0.8) / 2)


def test_empty_metrics_are_zero():
    for metric in (MeanAccuracy(3), MeanDice(3), MeanFScore(3, beta=2.0)):
        assert float(ops.convert_to_numpy(metric.result())) == 0.0


def test_invalid_labels_are_reported():
    metric = MeanAccuracy(3)
    with pytest.raises(ValueError, match="values \\[7\\]"):
        metric.update_state(np.array([[[0, 7]]]), np.array([[[0, 1]]]))


@pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"),
    reason="XLA compilation applies to the TensorFlow and JAX backends; torch "
    "updates eagerly (tested everywhere else).",
)
def test_update_compiles_with_xla(rng):
    labels, scores = _batch(rng)
    metric = MeanDice(NUM_CLASSES)
    eager = MeanDice(NUM_CLASSES)
    eager.update_state(labels, scores)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tf.function(metric.update_state, jit_compile=True)(labels, scores)
        result = tf.function(metric.result, jit_compile=True)()
    else:
        import jax

        def update(variables, labels, scores):
            return metric.stateless_update_state(variables, labels, scores)

        variables = jax.jit(update)([v.value for v in metric.variables], labels, scores)
        for variable, value in zip(metric.variables, variables):
            variable.assign(value)
        result = metric.result()
    np.testing.assert_array_equal(metric.confusion_matrix(), eager.confusion_matrix())
    np.testing.assert_allclose(
        ops.convert_to_numpy(result), ops.convert_to_numpy(eager.result()), rtol=1e-6
    )


@pytest.mark.parametrize(
    "metric",
    [
        MeanAccuracy(5, ignore_label=-1, name="acc"),
        MeanFScore(5, beta=2.0, invalid_labels="ignore"),
        MeanDice(5, ignore_label=None),
    ],
    ids=lambda metric: metric.name,
)
def test_serialization_round_trip(metric):
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(metric)
    )
    assert type(restored) is type(metric)
    assert restored.get_config() == metric.get_config()


@pytest.mark.parametrize("beta", [0.0, -1.0, True, float("inf")])
def test_bad_beta(beta):
    with pytest.raises(ValueError, match="`beta`"):
        MeanFScore(3, beta=beta)
