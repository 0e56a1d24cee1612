"""compile_segmenter: one fit step of a tiny segmenter, metric names, jit."""

import keras
import numpy as np
import pytest

import keras_srcrm
from keras_srcrm.data import synthetic_arrays
from keras_srcrm.losses import SegmentationCrossEntropy
from keras_srcrm.losses import deep_supervision_targets
from keras_srcrm.training import build_optimizer
from keras_srcrm.training import checkpoint_monitor
from keras_srcrm.training import compile_segmenter
from keras_srcrm.training import resolve_jit_compile

BACKEND = keras.backend.backend()
NUM_CLASSES = 7  # the synthetic classes


def _segmenter(**kwargs):
    backbone = keras_srcrm.models.backbone_from_config("hub_resnet_mini")
    return keras_srcrm.models.SRCRMSegmenter(
        backbone, NUM_CLASSES, decoder_filters=8, **kwargs
    )


def test_one_fit_step_with_metrics():
    images, masks = synthetic_arrays(8, 32, dtype="float32", ignore_probability=0.5)
    # The FPN ablation: XLA takes 20-30 s more to compile the SRM and CRM on
    # these CPUs, and they have their own tests.
    model = compile_segmenter(_segmenter(use_srm=False, use_crm=False), NUM_CLASSES)
    assert model.jit_compile is resolve_jit_compile("auto")
    assert isinstance(model.loss, SegmentationCrossEntropy)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    traces = []
    train_step = model.train_step
    model.train_step = lambda *args: traces.append(1) or train_step(*args)
    history = model.fit(images, masks, batch_size=4, epochs=1, verbose=0).history
    # Compiled backends trace the step once: on TensorFlow the optimizer is
    # built before the first trace (a trace that creates variables repeats).
    assert len(traces) == (2 if BACKEND == "torch" else 1)
    assert {"loss", "mean_iou", "pixel_accuracy"} <= set(history)
    assert checkpoint_monitor(model) == "val_mean_iou"
    assert checkpoint_monitor(model, validation=False) in history
    # Seven classes from random weights: the cross-entropy is about log(7).
    assert np.isfinite(history["loss"][0]) and history["loss"][0] > 0.0
    assert 0.0 <= history["mean_iou"][0] <= 1.0
    assert 0.0 <= history["pixel_accuracy"][0] <= 1.0


@pytest.mark.skipif(
    BACKEND != "tensorflow", reason="only TensorFlow's 'auto' depends on the devices"
)
@pytest.mark.parametrize(
    "device_types, expected",
    [(("CPU",), False), (("CPU", "GPU"), True), (("CPU", "TPU"), True)],
)
def test_auto_uses_xla_on_tensorflow_only_with_an_accelerator(
    monkeypatch, device_types, expected
):
    # As Keras's own "auto": on a CPU, TensorFlow's graph executor trains
    # faster than XLA.
    import tensorflow as tf

    devices = [
        tf.config.PhysicalDevice(f"/physical_device:{kind}:0", kind)
        for kind in device_types
    ]
    monkeypatch.setattr(
        tf.config, "list_physical_devices", lambda device_type=None: devices
    )
    assert resolve_jit_compile("auto") is expected


def test_auxiliary_heads_get_weighted_losses_and_prefixed_metrics():
    images, masks = synthetic_arrays(4, 16, dtype="float32")
    # A stand-in with the output dict of `SRCRMSegmenter(auxiliary_heads=True)`
    # (whose compile time the other test already pays).
    inputs = keras.Input((16, 16, 3))
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    model = keras.Model(
        inputs,
        {
            name: keras.layers.Conv2D(NUM_CLASSES, 1, name=name)(hidden)
            for name in ("segmentation", "aux_1", "aux_2", "aux_3")
        },
    )
    loss = SegmentationCrossEntropy(ohem_threshold=0.7, ohem_min_kept=100)
    compile_segmenter(
        model,
        NUM_CLASSES,
        optimizer=build_optimizer("adamw", 1e-3),
        loss=loss,
        aux_loss_weight=0.25,
    )
    targets = deep_supervision_targets(masks, model)
    history = model.fit(images, targets, batch_size=4, epochs=1, verbose=0).history
    assert "segmentation_mean_iou" in history
    assert "segmentation_pixel_accuracy" in history
    assert "aux_1_mean_iou" not in history
    assert checkpoint_monitor(model, validation=False) == "segmentation_mean_iou"
    assert np.isfinite(history["loss"][0]) and history["loss"][0] > 0.0
    assert 0.0 <= history["segmentation_mean_iou"][0] <= 1.0

    outputs = model(images, training=False)
    total = model.compute_loss(x=images, y=targets, y_pred=outputs, training=False)
    per_output = {
        name: float(keras.ops.convert_to_numpy(loss(masks, value)))
        for name, value in outputs.items()
    }
    # Positive and finite, so that the weighting below is visible.
    assert all(np.isfinite(v) and v > 0.0 for v in per_output.values()), per_output
    expected = per_output["segmentation"] + 0.25 * sum(
        per_output[f"aux_{i}"] for i in (1, 2, 3)
    )
    assert float(keras.ops.convert_to_numpy(total)) == pytest.approx(expected, 1e-5)


def test_resolve_jit_compile():
    if BACKEND != "tensorflow":
        # TensorFlow's "auto" depends on its devices: the test below.
        assert resolve_jit_compile("auto") is (BACKEND == "jax")
    assert resolve_jit_compile(False) is False
    with pytest.raises(ValueError, match="`jit_compile`"):
        resolve_jit_compile("yes")


def test_invalid_num_classes():
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 1)])
    with pytest.raises(ValueError, match="`num_classes`"):
        compile_segmenter(model, 2.0)
