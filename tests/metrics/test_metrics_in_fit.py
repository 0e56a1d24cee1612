"""The loss and metrics in model.compile / fit / evaluate, saving included."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_srcrm.losses import SegmentationCrossEntropy
from keras_srcrm.metrics import BoundaryIoU
from keras_srcrm.metrics import MeanIoU
from keras_srcrm.metrics import PixelAccuracy

BACKEND = keras.backend.backend()
# Keras compiles train/test steps with XLA on TF and JAX; torch runs eagerly.
JIT = BACKEND in ("tensorflow", "jax")
NUM_CLASSES = 3


@pytest.fixture
def dtype_policy(request):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy(previous)


def _data(rng):
    x = rng.normal(size=(8, 12, 12, 3)).astype("float32")
    weights = np.array([[2.0, -1.0, 0.0], [0.0, 2.0, -1.0], [-1.0, 0.0, 2.0]])
    y = (x @ weights).argmax(-1).astype("int32")
    y[:, :2] = 255
    return x, y


def _model():
    inputs = keras.Input((12, 12, 3))
    hidden = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    # Logits in the policy's compute dtype: float16/bfloat16 under mixed
    # precision, which the loss and the metrics must take as they are.
    logits = keras.layers.Conv2D(NUM_CLASSES, 1)(hidden)
    return keras.Model(inputs, logits)


def _compile(model, mean_iou=None):
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=SegmentationCrossEntropy(ohem_threshold=0.7, ohem_min_kept=200),
        metrics=[
            mean_iou or MeanIoU(NUM_CLASSES),
            PixelAccuracy(NUM_CLASSES),
            BoundaryIoU(NUM_CLASSES, band_width=1),
        ],
        jit_compile=JIT,
    )


@pytest.mark.parametrize(
    "dtype_policy", ["float32", "mixed_float16", "mixed_bfloat16"], indirect=True
)
def test_fit_and_evaluate(rng, dtype_policy):
    x, y = _data(rng)
    model = _model()
    expected_dtype = keras.config.dtype_policy().compute_dtype
    assert keras.backend.standardize_dtype(model.output.dtype) == expected_dtype
    mean_iou = MeanIoU(NUM_CLASSES)
    _compile(model, mean_iou)
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    for name in ("loss", "mean_iou", "pixel_accuracy", "boundary_iou"):
        assert np.all(np.isfinite(history[name])), name
    assert history["mean_iou"][-1] > 0.5  # it learned something
    if dtype_policy != "float32":
        # Low-precision logits of `predict` and `evaluate` may differ in the
        # last bit and flip near-tied argmaxes: compare in float32 only.
        return

    logs = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    # The compiled, streamed metrics agree with one eager pass over all data.
    logits = model.predict(x, batch_size=4, verbose=0)
    for metric in (MeanIoU(NUM_CLASSES), BoundaryIoU(NUM_CLASSES, band_width=1)):
        metric.update_state(y, logits)
        expected = float(ops.convert_to_numpy(metric.result()))
        assert logs[metric.name] == pytest.approx(expected, abs=1e-6), metric.name
    # The compiled metric object holds the evaluation's state afterwards.
    per_class = mean_iou.per_class_iou()
    assert np.nanmean(per_class) == pytest.approx(logs["mean_iou"], abs=1e-6)


def test_keras_file_round_trip(rng, tmp_path):
    x, y = _data(rng)
    model = _model()
    _compile(model)
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.loss, SegmentationCrossEntropy)
    assert restored.loss.get_config() == model.loss.get_config()
    restored_logs = restored.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert restored_logs == pytest.approx(logs, abs=1e-6)
