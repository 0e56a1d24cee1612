"""deep_supervision_losses / deep_supervision_targets and their use in compile."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_srcrm.losses import SegmentationCrossEntropy
from keras_srcrm.losses import deep_supervision_losses
from keras_srcrm.losses import deep_supervision_targets

NUM_CLASSES = 3


def _deeply_supervised_model():
    inputs = keras.Input((8, 8, 2))
    outputs = {
        "segmentation": keras.layers.Conv2D(NUM_CLASSES, 1, name="head")(inputs),
        "aux_1": keras.layers.Conv2D(NUM_CLASSES, 3, padding="same", name="a1")(inputs),
        "aux_2": keras.layers.Conv2D(NUM_CLASSES, 1, name="a2")(inputs),
    }
    return keras.Model(inputs, outputs)


def test_weights_and_losses_from_names():
    main, aux = SegmentationCrossEntropy(), SegmentationCrossEntropy(name="aux")
    losses, weights = deep_supervision_losses(
        ["aux_2", "segmentation", "aux_1"], main, aux_weight=0.25, aux_loss=aux
    )
    assert weights == {"aux_2": 0.25, "segmentation": 1.0, "aux_1": 0.25}
    assert losses["segmentation"] is main
    assert losses["aux_1"] is aux and losses["aux_2"] is aux


def test_names_from_a_model_with_dict_outputs():
    model = _deeply_supervised_model()
    loss = SegmentationCrossEntropy()
    losses, weights = deep_supervision_losses(model, loss)
    assert set(losses) == {"segmentation", "aux_1", "aux_2"}
    assert all(value is loss for value in losses.values())
    assert weights == {"segmentation": 1.0, "aux_1": 0.4, "aux_2": 0.4}


def test_targets_repeat_the_labels():
    labels = np.zeros((1, 8, 8), "int32")
    targets = deep_supervision_targets(labels, ["segmentation", "aux_1"])
    assert set(targets) == {"segmentation", "aux_1"}
    assert all(value is labels for value in targets.values())


class _Unbuilt(keras.Model):
    def call(self, x):
        return {"segmentation": x}


@pytest.mark.parametrize(
    "names, kwargs, match",
    [
        (["aux_1"], {}, "main output 'segmentation' is not among"),
        (["segmentation", "edges"], {}, r"unexpected output names \['edges'\]"),
        (["segmentation", "aux_0"], {}, r"unexpected output names \['aux_0'\]"),
        ("segmentation", {}, "must be a model or a sequence"),
        (["segmentation"], {"aux_weight": -0.1}, "aux_weight"),
        (["segmentation"], {"aux_weight": "0.4"}, "aux_weight"),
        (["out", "aux_1"], {"main_output": "seg"}, "main output 'seg'"),
    ],
)
def test_bad_arguments_raise(names, kwargs, match):
    with pytest.raises(ValueError, match=match):
        deep_supervision_losses(names, SegmentationCrossEntropy(), **kwargs)


def test_models_without_known_dict_outputs_raise():
    inputs = keras.Input((4, 4, 1))
    single = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match="returns a KerasTensor"):
        deep_supervision_losses(single, SegmentationCrossEntropy())
    with pytest.raises(ValueError, match="has not been called yet"):
        deep_supervision_losses(_Unbuilt(), SegmentationCrossEntropy())


def test_compiled_model_adds_weighted_auxiliary_losses(rng):
    model = _deeply_supervised_model()
    loss = SegmentationCrossEntropy()
    losses, loss_weights = deep_supervision_losses(model, loss, aux_weight=0.4)
    model.compile(loss=losses, loss_weights=loss_weights)
    x = rng.normal(size=(4, 8, 8, 2)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, (4, 8, 8)).astype("int32")
    y[:, :3] = 255
    logs = model.evaluate(
        x, deep_supervision_targets(y, model), batch_size=4, verbose=0, return_dict=True
    )
    outputs = model.predict(x, verbose=0)
    per_output = {
        name: float(ops.convert_to_numpy(loss(y, outputs[name]))) for name in outputs
    }
    expected = per_output["segmentation"] + 0.4 * (
        per_output["aux_1"] + per_output["aux_2"]
    )
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-5)
    np.testing.assert_allclose(logs["aux_1_loss"], per_output["aux_1"], rtol=1e-5)
