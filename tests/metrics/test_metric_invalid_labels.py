"""Labels outside [0, num_classes): an error (or a warning), never a wrong count."""

import warnings

import keras
import numpy as np
import pytest
from keras import ops

from keras_srcrm.losses import SegmentationCrossEntropy
from keras_srcrm.metrics import BoundaryIoU
from keras_srcrm.metrics import MeanIoU
from keras_srcrm.metrics import PixelAccuracy

BACKEND = keras.backend.backend()
# Keras compiles steps with XLA on TF and JAX; torch runs them eagerly.
JIT = BACKEND in ("tensorflow", "jax")
NUM_CLASSES = 3
SHAPE = (2, 8, 8)


def _metrics(**kwargs):
    return [
        MeanIoU(NUM_CLASSES, **kwargs),
        PixelAccuracy(NUM_CLASSES, **kwargs),
        BoundaryIoU(NUM_CLASSES, band_width=1, **kwargs),
    ]


def _data(rng):
    labels = rng.integers(0, NUM_CLASSES, SHAPE).astype("int32")
    labels[:, :2] = 255
    invalid = labels.copy()
    invalid[0, 3, 3], invalid[1, 4, 5], invalid[1, 6, 6] = 7, -5, 7
    cleaned = np.where((invalid < 0) | (invalid >= NUM_CLASSES), 255, invalid)
    predictions = rng.integers(0, NUM_CLASSES, SHAPE).astype("int32")
    return invalid, cleaned, predictions


def _state(metric):
    return [ops.convert_to_numpy(v).copy() for v in metric.variables]


def _compiled_update(metric):
    """`metric.update_state` compiled by the backend, or None if it has none."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(metric.update_state, jit_compile=True)
    if BACKEND == "jax":
        import jax

        stateless = jax.jit(metric.stateless_update_state)

        def update(y_true, y_pred):
            values = stateless([v.value for v in metric.variables], y_true, y_pred)
            for variable, value in zip(metric.variables, values):
                variable.assign(value)

        return update
    if BACKEND == "torch":
        import torch

        # Dynamo's graph capture, without code generation: the same tracing
        # as Keras's torch `jit_compile=True`, where a raise is impossible.
        return torch.compile(metric.update_state, backend="eager")
    return None


@pytest.mark.parametrize("metric", _metrics(), ids=lambda m: m.name)
def test_eager_update_raises_naming_the_values(rng, metric):
    invalid, _, predictions = _data(rng)
    before = _state(metric)
    with pytest.raises(
        ValueError, match=r"`y_true` has 3 pixel\(s\).*values \[-5, 7\]"
    ):
        metric.update_state(invalid, predictions)
    for old, new in zip(before, _state(metric)):
        np.testing.assert_array_equal(old, new)


def test_invalid_class_map_predictions_raise(rng):
    labels = rng.integers(0, NUM_CLASSES, SHAPE).astype("int32")
    predictions = labels.copy()
    predictions[0, 0, 0] = 255
    with pytest.raises(ValueError, match=r"`y_pred` has 1 pixel\(s\).*values \[255\]"):
        MeanIoU(NUM_CLASSES).update_state(labels, predictions)


def test_ignore_label_none_rejects_255(rng):
    labels = rng.integers(0, NUM_CLASSES, SHAPE).astype("int32")
    labels[0, 0, 0] = 255
    with pytest.raises(ValueError, match=r"labels outside \[0, num_classes=3\)"):
        MeanIoU(NUM_CLASSES, ignore_label=None).update_state(labels, labels % 3)


def test_zero_weight_pixels_are_not_checked(rng):
    invalid, cleaned, predictions = _data(rng)
    weight = ((invalid >= 0) & (invalid < NUM_CLASSES)) | (invalid == 255)
    metric = MeanIoU(NUM_CLASSES)
    metric.update_state(invalid, predictions, sample_weight=weight.astype("float32"))
    reference = MeanIoU(NUM_CLASSES)
    reference.update_state(cleaned, predictions)
    np.testing.assert_array_equal(
        metric.confusion_matrix(), reference.confusion_matrix()
    )


@pytest.mark.parametrize("index", [0, 1, 2], ids=["mean_iou", "accuracy", "boundary"])
def test_ignore_mode_warns_once_and_counts_like_the_ignore_label(rng, index):
    invalid, cleaned, predictions = _data(rng)
    metric = _metrics(invalid_labels="ignore")[index]
    reference = _metrics()[index]
    with pytest.warns(UserWarning, match=r"values \[-5, 7\].*treated as ignored"):
        metric.update_state(invalid, predictions)
    reference.update_state(cleaned, predictions)
    assert metric.invalid_pixel_counts() == {"y_true": 3, "y_pred": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # warned once already
        np.testing.assert_allclose(
            ops.convert_to_numpy(metric.result()),
            ops.convert_to_numpy(reference.result()),
        )
        np.testing.assert_array_equal(metric.per_class_iou(), reference.per_class_iou())


@pytest.mark.parametrize(
    "index",
    [
        pytest.param(0, id="mean_iou"),
        # Dynamo needs ~40 s on CPU to trace the boundary band; the deferred
        # error is base-class logic, covered by the mean_iou case on torch.
        pytest.param(
            2, id="boundary", marks=[pytest.mark.slow] if BACKEND == "torch" else []
        ),
    ],
)
def test_compiled_update_raises_at_the_first_eager_read(rng, index):
    invalid, cleaned, predictions = _data(rng)
    metric = _metrics()[index]
    update = _compiled_update(metric)
    update(invalid, predictions)  # a compiled step cannot raise
    assert metric.invalid_pixel_counts() == {"y_true": 3, "y_pred": 0}
    message = r"`y_true` had 3 pixel\(s\).*from -5 to 7.*compiled step"
    with pytest.raises(ValueError, match=message):
        metric.result()
    with pytest.raises(ValueError, match=message):
        metric.per_class_iou()  # and it keeps raising until a reset
    # The invalid pixels never reached the counts.
    reference = _metrics()[index]
    reference.update_state(cleaned, predictions)
    metric._invalid_lo.assign(ops.zeros((2,), "int32"))
    np.testing.assert_array_equal(metric.per_class_iou(), reference.per_class_iou())
    metric.reset_state()
    update(cleaned, predictions)
    np.testing.assert_array_equal(metric.per_class_iou(), reference.per_class_iou())


def _tiny_model():
    inputs = keras.Input(SHAPE[1:] + (2,))
    return keras.Model(inputs, keras.layers.Conv2D(NUM_CLASSES, 1)(inputs))


@pytest.mark.parametrize("invalid_labels", ["raise", "ignore"])
def test_model_evaluate_reports_invalid_labels(rng, invalid_labels):
    invalid, cleaned, _ = _data(rng)
    x = rng.normal(size=SHAPE + (2,)).astype("float32")
    model = _tiny_model()
    model.compile(
        loss=SegmentationCrossEntropy(),
        metrics=[
            MeanIoU(NUM_CLASSES, invalid_labels=invalid_labels),
            BoundaryIoU(NUM_CLASSES, band_width=1, invalid_labels=invalid_labels),
        ],
        jit_compile=JIT,
    )
    if invalid_labels == "raise":
        # In one compiled step on TF/JAX, so the error comes from the eager
        # result() at the end of evaluate; on torch from update_state.
        message = (
            r"`y_true` had 3 pixel\(s\).*compiled step"
            if JIT
            else r"`y_true` has 3 pixel\(s\).*values \[-5, 7\]"
        )
        with pytest.raises(ValueError, match=message):
            model.evaluate(x, invalid, batch_size=2, verbose=0)
        return
    with pytest.warns(UserWarning, match="treated as ignored"):
        logs = model.evaluate(x, invalid, batch_size=2, verbose=0, return_dict=True)
    clean_logs = model.evaluate(x, cleaned, batch_size=2, verbose=0, return_dict=True)
    assert logs["mean_iou"] == pytest.approx(clean_logs["mean_iou"])
    assert logs["boundary_iou"] == pytest.approx(clean_logs["boundary_iou"])
