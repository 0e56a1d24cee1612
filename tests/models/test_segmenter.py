"""Tests of `SRCRMSegmenter` on every supported backbone family."""

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pytest
from keras.src.applications import resnet

from keras_srcrm.layers import ContextualRefinementModule
from keras_srcrm.layers import FPNFusion
from keras_srcrm.layers import SemanticRefinementModule
from keras_srcrm.losses import SegmentationCrossEntropy
from keras_srcrm.losses import deep_supervision_losses
from keras_srcrm.losses import deep_supervision_targets
from keras_srcrm.models import SRCRMSegmenter
from keras_srcrm.models import backbone_from_config
from tests.models.backbone_cases import CASES

NUM_CLASSES = 3
JIT = keras.backend.backend() != "torch"


def _mini_application_resnet(preact):
    """A small keras.applications ResNet (ResNetV2 with `preact`).

    The full ResNet50/ResNet50V2 are tested as backbones; here the same
    families (same layer names, same adapter) are built small, because
    compiling a training step through 50 layers costs minutes on a 2-core CPU.
    V1 strides in the first block of a stage, V2 in the last, as Keras's own
    ResNet50 and ResNet50V2 do.
    """

    def stack_fn(x):
        for index, filters in enumerate((8, 16, 24, 32)):
            if preact:
                stride = 1 if index == 3 else 2
                x = resnet.stack_residual_blocks_v2(
                    x, filters, 2, stride1=stride, name=f"conv{index + 2}"
                )
            else:
                stride = 1 if index == 0 else 2
                x = resnet.stack_residual_blocks_v1(
                    x, filters, 1, stride1=stride, name=f"conv{index + 2}"
                )
        return x

    return lambda: resnet.ResNet(
        stack_fn,
        preact,
        not preact,
        include_top=False,
        weights=None,
        input_shape=(None, None, 3),
        name="resnet50v2" if preact else "resnet50",
    )


# The full-size keras.applications ResNets are replaced by one-block-per-stage
# builds of the same family for the segmenter tests.
SEGMENTER_CASES = tuple(
    dataclasses.replace(case, build=_mini_application_resnet(case.id == "ResNet50V2"))
    if case.id in ("ResNet50", "ResNet50V2")
    else case
    for case in CASES
)


def images_of(rng, size, batch=2):
    return rng.uniform(0, 255, size=(batch, *size, 3)).astype("float32")


def labels_of(rng, size, batch=2):
    return rng.integers(0, NUM_CLASSES, size=(batch, *size)).astype("int32")


def predict(model, images):
    # An eager call, not `predict_on_batch`: these tests call each model at
    # a few shapes once, and TensorFlow would trace a new graph function for
    # each shape (and again after `compile`), which costs more than running
    # the small models eagerly. `fit` covers the compiled path.
    outputs = model(keras.ops.convert_to_tensor(images), training=False)
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def compile_for_segmentation(model, **kwargs):
    model.compile(
        keras.optimizers.SGD(0.01, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=JIT,
        **kwargs,
    )


@pytest.mark.parametrize("case", SEGMENTER_CASES, ids=[c.id for c in SEGMENTER_CASES])
def test_every_backbone_family(rng, tmp_path, case):
    """Builds, runs at two sizes, trains a (jit) step, round-trips `.keras`."""
    model = SRCRMSegmenter(case.build(), NUM_CLASSES, decoder_filters=8)
    sizes = case.sizes[:1] * 2 if case.static_size else ((64, 64), (100, 70))
    for size in sizes:
        logits = predict(model, images_of(rng, size))
        assert logits.shape == (2, *size, NUM_CLASSES)
        assert logits.dtype == np.float32
        assert np.all(np.isfinite(logits))

    size = sizes[0]
    compile_for_segmentation(model)
    history = model.fit(images_of(rng, size), labels_of(rng, size), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    images = images_of(rng, size)
    expected = predict(model, images)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(predict(restored, images), expected, atol=1e-5)


@pytest.fixture(scope="module")
def small_backbone_name():
    return "hub_resnet_v2_mini"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(rng, small_backbone_name, policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = SRCRMSegmenter(
            backbone_from_config(small_backbone_name), NUM_CLASSES, decoder_filters=8
        )
        logits = predict(model, images_of(rng, (64, 48)))
        assert logits.dtype == np.float32
        assert np.all(np.isfinite(logits))
        compile_for_segmentation(model)
        history = model.fit(
            images_of(rng, (64, 48)), labels_of(rng, (64, 48)), epochs=1, verbose=0
        )
        assert np.isfinite(history.history["loss"][0])
        assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize(
    "use_srm,use_crm", [(True, True), (True, False), (False, True), (False, False)]
)
def test_ablation_switches(small_backbone_name, use_srm, use_crm):
    model = SRCRMSegmenter(
        backbone_from_config(small_backbone_name),
        NUM_CLASSES,
        decoder_filters=8,
        use_srm=use_srm,
        use_crm=use_crm,
    )
    decoder = model.get_layer("decoder")
    step_type = SemanticRefinementModule if use_srm else FPNFusion
    assert all(type(step) is step_type for step in decoder.top_down)
    assert isinstance(decoder.top, ContextualRefinementModule) == use_crm


def test_auxiliary_heads_and_inference_model(rng, small_backbone_name):
    model = SRCRMSegmenter(
        backbone_from_config(small_backbone_name),
        NUM_CLASSES,
        decoder_filters=8,
        auxiliary_heads=True,
    )
    images = images_of(rng, (64, 48))
    outputs = predict(model, images)
    assert sorted(outputs) == ["aux_1", "aux_2", "aux_3", "segmentation"]
    for value in outputs.values():
        assert value.shape == (2, 64, 48, NUM_CLASSES)
    labels = labels_of(rng, (64, 48))
    losses, loss_weights = deep_supervision_losses(
        model, SegmentationCrossEntropy(), aux_weight=0.4
    )
    model.compile(
        keras.optimizers.SGD(0.01), losses, loss_weights=loss_weights, jit_compile=JIT
    )
    history = model.fit(
        images, deep_supervision_targets(labels, model), epochs=1, verbose=0
    )
    assert np.isfinite(history.history["loss"][0])

    inference = model.inference_model()
    assert not inference.auxiliary_heads
    np.testing.assert_allclose(
        predict(inference, images), predict(model, images)["segmentation"], atol=1e-5
    )


def test_softmax_output(rng, small_backbone_name):
    model = SRCRMSegmenter(
        backbone_from_config(small_backbone_name),
        NUM_CLASSES,
        decoder_filters=8,
        output_activation="softmax",
    )
    probabilities = predict(model, images_of(rng, (32, 32)))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)


def test_preprocessing_choices(rng, small_backbone_name):
    backbone = backbone_from_config(small_backbone_name)
    automatic = SRCRMSegmenter(backbone, NUM_CLASSES, decoder_filters=8)
    assert automatic.preprocessing is not None
    raw = SRCRMSegmenter(
        backbone_from_config(small_backbone_name),
        NUM_CLASSES,
        decoder_filters=8,
        preprocessing=None,
    )
    assert raw.preprocessing is None
    custom = SRCRMSegmenter(
        backbone_from_config(small_backbone_name),
        NUM_CLASSES,
        decoder_filters=8,
        preprocessing=keras.layers.Rescaling(1 / 255.0, name="custom"),
    )
    assert custom.get_layer("custom") is custom.preprocessing


class TestErrors:
    def test_invalid_arguments(self, small_backbone_name):
        backbone = backbone_from_config(small_backbone_name)
        with pytest.raises(ValueError, match="num_classes"):
            SRCRMSegmenter(backbone, 0)
        with pytest.raises(ValueError, match="output_activation"):
            SRCRMSegmenter(backbone, 3, output_activation="sigmoid")
        with pytest.raises(ValueError, match="preprocessing"):
            SRCRMSegmenter(backbone, 3, preprocessing="imagenet")

    def test_backbone_without_pyramid(self):
        inputs = keras.Input((None, None, 3))
        flat = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs), name="flat")
        with pytest.raises(ValueError, match="flat"):
            SRCRMSegmenter(flat, 3)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def documented_parameters():
    """`{name: params (M)}` of the named-configuration table of docs/models.md."""
    lines = iter(DOCS.read_text().splitlines())
    for line in lines:
        header = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if "params (M)" in header:
            break
    else:
        raise AssertionError(f"no 'params (M)' table in {DOCS}")
    column = header.index("params (M)")
    next(lines)  # | --- | --- |
    documented = {}
    for line in lines:
        if not line.startswith("|"):
            break
        row = [cell.strip() for cell in line.strip().strip("|").split("|")]
        documented[row[0].strip("`")] = float(row[column])
    return documented


class TestFromPreset:
    def test_every_named_configuration_builds_offline(self, no_downloads):
        """Every preset builds with random weights and has its documented size.

        The variables are created without their initial values (deferred
        initialisation): drawing them under JAX compiles one XLA program per
        weight shape, a minute for the five presets on a small CPU, and what
        is checked here is the architecture. The next test runs a preset
        with initialised weights.
        """
        import keras_hub

        from keras_srcrm.models import BACKBONE_CONFIGS
        from keras_srcrm.models import SEGMENTER_PRESETS

        documented = documented_parameters()
        assert sorted(documented) == sorted(SEGMENTER_PRESETS)
        for name, preset in SEGMENTER_PRESETS.items():
            assert preset.description, name
            assert preset.offline_backbone in BACKBONE_CONFIGS, name
            assert preset.backbone in keras_hub.models.Backbone.presets, name
            with keras.StatelessScope(initialize_variables=False):
                model = SRCRMSegmenter.from_preset(name, 19, load_weights=False)
            assert model.decoder_filters == preset.decoder_filters, name
            decoder = model.get_layer("decoder")
            step_type = SemanticRefinementModule if preset.use_srm else FPNFusion
            assert all(type(step) is step_type for step in decoder.top_down), name
            crm = isinstance(decoder.top, ContextualRefinementModule)
            assert crm == preset.use_crm, name
            # docs/models.md counts with 19 classes, in millions, 2 decimals.
            assert round(model.count_params() / 1e6, 2) == documented[name], name
            logits = model.compute_output_spec(keras.KerasTensor((1, 100, 70, 3)))
            assert logits.shape == (1, 100, 70, 19), name
            assert keras.backend.standardize_dtype(logits.dtype) == "float32", name
            keras.backend.clear_session()

    def test_named_configuration_without_weights(self, rng):
        model = SRCRMSegmenter.from_preset(
            "srcrm_lite", NUM_CLASSES, load_weights=False, decoder_filters=8
        )
        assert model.decoder_filters == 8  # overrides win
        assert model.use_srm and model.use_crm
        logits = predict(model, images_of(rng, (64, 96), batch=1))
        assert logits.shape == (1, 64, 96, NUM_CLASSES)

    def test_local_keras_hub_preset_directory(self, rng, tmp_path):
        backbone = backbone_from_config("hub_resnet_v2_mini")
        backbone.save_to_preset(str(tmp_path / "preset"))
        model = SRCRMSegmenter.from_preset(
            str(tmp_path / "preset"), NUM_CLASSES, decoder_filters=8
        )
        for saved, loaded in zip(backbone.weights, model.backbone.weights):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(loaded)
            )

    def test_unknown_preset_fails_without_downloading(self):
        with pytest.raises(ValueError, match="srcrm_lit"):
            SRCRMSegmenter.from_preset("srcrm_lit", NUM_CLASSES)
