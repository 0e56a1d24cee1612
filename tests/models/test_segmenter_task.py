"""SRCRMSegmenter as a task: `compile` defaults and preset directories."""

import json
import warnings

import keras
import numpy as np
import pytest

from keras_srcrm.losses import CombinedLoss
from keras_srcrm.losses import DiceLoss
from keras_srcrm.losses import SegmentationCrossEntropy
from keras_srcrm.metrics import MeanDice
from keras_srcrm.metrics import MeanIoU
from keras_srcrm.metrics import PixelAccuracy
from keras_srcrm.models import SRCRMSegmenter
from keras_srcrm.models import backbone_from_config
from keras_srcrm.models import load_preset_metadata
from keras_srcrm.training import build_optimizer
from keras_srcrm.training import compile_segmenter
from keras_srcrm.training import resolve_jit_compile

BACKEND = keras.backend.backend()
NUM_CLASSES = 3


def _segmenter(**kwargs):
    # The FPN ablation of the smallest backbone: the tests here build and
    # call models, they do not train them.
    kwargs = {"decoder_filters": 8, "use_srm": False, "use_crm": False, **kwargs}
    return SRCRMSegmenter(
        backbone_from_config("hub_resnet_mini"), kwargs.pop("num_classes", 3), **kwargs
    )


def _config(model):
    # As JSON: a round trip through the preset turns tuples into lists.
    return json.dumps(model.get_config(), sort_keys=True)


def _same_weights(a, b):
    # Same config and same weights: the same function, without paying for a
    # forward pass (JAX compiles the whole model for one).
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


class TestCompileDefaults:
    def test_auto_reads_the_model(self):
        model = _segmenter()
        model.compile()
        assert isinstance(model.optimizer, keras.optimizers.SGD)
        assert isinstance(model.loss, SegmentationCrossEntropy)
        assert model.loss.from_logits and model.loss.ignore_label == 255
        assert model.jit_compile is resolve_jit_compile("auto")
        names = [m.name for m in model._compile_metrics._user_metrics]
        assert names == ["mean_iou", "pixel_accuracy"]

    def test_softmax_model_gets_a_probability_loss(self):
        model = _segmenter(output_activation="softmax")
        model.compile()
        assert model.loss.from_logits is False
        # compile_segmenter, the thin wrapper, agrees.
        compile_segmenter(model, NUM_CLASSES)
        assert model.loss.from_logits is False

    def test_auxiliary_heads_get_deep_supervision(self):
        model = _segmenter(auxiliary_heads=True)
        model.compile(ignore_label=-1, aux_loss_weight=0.25)
        assert set(model.loss) == {"segmentation", "aux_1", "aux_2", "aux_3"}
        assert all(loss.ignore_label == -1 for loss in model.loss.values())
        assert model._compile_config.config["loss_weights"] == {
            "segmentation": 1.0,
            "aux_1": 0.25,
            "aux_2": 0.25,
            "aux_3": 0.25,
        }
        metrics = model._compile_config.config["metrics"]
        assert list(metrics) == ["segmentation"]
        assert [m.ignore_label for m in metrics["segmentation"]] == [-1, -1]

    def test_explicit_arguments_are_used_as_given(self):
        model = _segmenter(auxiliary_heads=True)
        loss = CombinedLoss([SegmentationCrossEntropy(), DiceLoss()])
        metrics = [MeanIoU(NUM_CLASSES), MeanDice(NUM_CLASSES)]
        model.compile(optimizer="adamw", loss=loss, metrics=metrics, jit_compile=False)
        assert isinstance(model.optimizer, keras.optimizers.AdamW)
        assert all(value is loss for value in model.loss.values())
        assert model._compile_config.config["metrics"] == {"segmentation": metrics}
        assert model.jit_compile is False
        optimizer = build_optimizer("adam", 1e-3)
        model.compile(optimizer=optimizer, metrics=None, steps_per_execution=2)
        assert model.optimizer is optimizer
        assert model.steps_per_execution == 2

    @pytest.mark.parametrize("activation", [None, "softmax"])
    def test_a_loss_that_contradicts_the_output_warns(self, activation):
        model = _segmenter(output_activation=activation)
        wrong = SegmentationCrossEntropy(from_logits=activation is not None)
        with pytest.warns(UserWarning, match="from_logits"):
            model.compile(loss=CombinedLoss([wrong, DiceLoss(from_logits=True)]))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model.compile(loss=SegmentationCrossEntropy(from_logits=not activation))

    def test_a_compiled_keras_file_loads_compiled(self, tmp_path):
        model = _segmenter()
        loss = SegmentationCrossEntropy(ignore_label=7)
        compile_segmenter(model, NUM_CLASSES, loss=loss, ignore_label=7)
        model.save(tmp_path / "model.keras")
        with warnings.catch_warnings():
            # Keras's warning for a custom `compile` it cannot call.
            warnings.filterwarnings("error", message=".*compile\\(\\)` was not called")
            loaded = keras.saving.load_model(tmp_path / "model.keras")
        assert loaded.compiled
        assert loaded.loss.ignore_label == 7
        assert isinstance(loaded.optimizer, keras.optimizers.SGD)

    def test_bad_arguments(self):
        model = _segmenter()
        with pytest.raises(ValueError, match="`jit_compile`"):
            model.compile(jit_compile="yes")
        with pytest.raises(ValueError, match="`ignore_label`"):
            model.compile(ignore_label=2.5)
        with pytest.raises(ValueError, match="`aux_weight`"):
            _segmenter(auxiliary_heads=True).compile(aux_loss_weight=-1.0)


class TestPresetDirectory:
    def test_round_trip_with_metadata(self, rng, tmp_path):
        model = _segmenter(num_classes=7, auxiliary_heads=True)
        palette = rng.integers(0, 256, (7, 3))
        model.save_to_preset(
            tmp_path / "preset",
            dataset="synthetic",
            palette=palette,
            metrics={"val_mean_iou": np.float32(0.5)},
        )
        assert sorted(p.name for p in (tmp_path / "preset").iterdir()) == [
            "metadata.json",
            "segmenter.json",
            "segmenter.weights.h5",
        ]
        loaded = SRCRMSegmenter.from_preset(tmp_path / "preset")
        assert type(loaded) is SRCRMSegmenter
        assert _config(loaded) == _config(model)
        assert len(loaded.weights) == len(model.weights)
        assert _same_weights(loaded, model)
        metadata = load_preset_metadata(tmp_path / "preset")
        assert metadata["num_classes"] == 7
        assert metadata["class_names"][0] == "background"  # from the dataset
        assert metadata["palette"] == palette.tolist()
        assert metadata["dataset"] == "synthetic"
        assert metadata["metrics"] == {"val_mean_iou": 0.5}
        assert metadata["backend"] == BACKEND
        assert metadata["parameter_count"] == model.count_params()
        # Plain JSON, readable without Keras.
        json.loads((tmp_path / "preset" / "segmenter.json").read_text())

    def test_metrics_default_to_the_last_fit(self, tmp_path):
        model = _segmenter()
        history = keras.callbacks.History()
        history.history = {"loss": [0.9, 0.5], "val_mean_iou": [0.1, 0.4]}
        model.history = history
        model.save_to_preset(tmp_path / "preset", class_names=["a", "b", "c"])
        metadata = load_preset_metadata(tmp_path / "preset")
        assert metadata["metrics"] == {"loss": 0.5, "val_mean_iou": 0.4}
        assert metadata["class_names"] == ["a", "b", "c"]
        assert metadata["dataset"] is None and metadata["palette"] is None

    def test_fine_tuning_start_keeps_every_matching_layer(self, tmp_path):
        model = _segmenter()
        model.save_to_preset(tmp_path / "preset")
        tuned = SRCRMSegmenter.from_preset(
            tmp_path / "preset", num_classes=5, auxiliary_heads=True
        )
        assert tuned.num_classes == 5 and tuned.auxiliary_heads
        trained = {layer.name: layer for layer in model.layers}
        for layer in tuned.layers:
            if not layer.weights or layer.name not in trained:
                continue
            same = all(
                np.array_equal(a, b)
                for a, b in zip(layer.get_weights(), trained[layer.name].get_weights())
            )
            assert same is (layer.name != "segmentation_classifier"), layer.name
        assert tuned.output["segmentation"].shape[-1] == 5

    def test_without_weights(self, tmp_path):
        model = _segmenter()
        model.save_to_preset(tmp_path / "preset")
        fresh = SRCRMSegmenter.from_preset(tmp_path / "preset", load_weights=False)
        assert _config(fresh) == _config(model)
        assert not _same_weights(fresh, model)

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"class_names": ["a", "b"]}, "one name per class"),
            ({"class_names": "abc"}, "class_names"),
            ({"palette": [[0, 0, 0]] * 3 + [[1, 2, 3]]}, "palette"),
            ({"palette": [[0, 0, 256]] * 3}, "palette"),
            ({"dataset": 3}, "dataset"),
            ({"metrics": {"miou": [0.1, 0.2]}}, "metrics"),
        ],
    )
    def test_bad_metadata(self, tmp_path, kwargs, match):
        with pytest.raises(ValueError, match=match):
            _segmenter().save_to_preset(tmp_path / "preset", **kwargs)

    def test_errors_when_loading(self, tmp_path):
        _segmenter().save_to_preset(tmp_path / "preset")
        with pytest.raises(ValueError, match="input_shape"):
            SRCRMSegmenter.from_preset(tmp_path / "preset", input_shape=(32, 32, 3))
        with pytest.raises(ValueError, match="num_classes"):
            SRCRMSegmenter.from_preset("srcrm_lite", load_weights=False)
        with pytest.raises(ValueError, match="not a segmenter preset"):
            load_preset_metadata(tmp_path)


def test_the_default_metrics_are_the_confusion_matrix_metrics():
    model = _segmenter()
    model.compile()
    assert [type(m) for m in model._compile_config.config["metrics"]] == [
        MeanIoU,
        PixelAccuracy,
    ]
