"""Tests of `SRCRMSegmenter` on every supported backbone family."""

from pathlib import Path

import keras
import numpy as np
import pytest

from keras_srcrm.layers import ContextualRefinementModule
from keras_srcrm.layers import FPNFusion
from keras_srcrm.layers import SemanticRefinementModule
from keras_srcrm.layers import conv_and_norm
from keras_srcrm.losses import SegmentationCrossEntropy
from keras_srcrm.losses import deep_supervision_losses
from keras_srcrm.losses import deep_supervision_targets
from keras_srcrm.models import SRCRMSegmenter
from keras_srcrm.models import backbone_from_config
from tests.helpers import training_gradients
from tests.models.backbone_cases import CASES

BACKEND = keras.backend.backend()
NUM_CLASSES = 3
# XLA compiles the train step on TensorFlow and JAX; torch stays eager (its
# `jit_compile=True` is `torch.compile`, not tested here).
JIT = BACKEND != "torch"
# The cheapest way to run a training step without compiling it: eagerly on
# TensorFlow and torch. On JAX an eager step compiles every operation on its
# own, which costs more than compiling the step once.
NOT_COMPILED = {"run_eagerly": BACKEND != "jax", "jit_compile": BACKEND == "jax"}


def images_of(rng, size, batch=2):
    return rng.uniform(0, 255, size=(batch, *size, 3)).astype("float32")


def labels_of(rng, size, batch=2):
    return rng.integers(0, NUM_CLASSES, size=(batch, *size)).astype("int32")


def predict(model, images):
    """The model's outputs for `images`, as NumPy arrays.

    TensorFlow and torch: an eager call. `predict_on_batch` would trace a
    graph function for each model and shape (and again after `compile`),
    which costs more than running these small models eagerly. JAX: the
    other way round, eager JAX compiles each operation for each shape, one
    compilation of the whole model is cheaper.
    """
    if BACKEND == "jax":
        return model.predict_on_batch(images)
    outputs = model(keras.ops.convert_to_tensor(images), training=False)
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def compile_for_segmentation(model, **kwargs):
    model.compile(
        keras.optimizers.SGD(0.01, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        **kwargs,
    )


def assert_trains(model, images, labels):
    """One training step: finite float32 logits, and a finite gradient that is
    non-zero from the classifier through the decoder to the backbone's first
    layer.

    Returns:
        The logits of the step (training mode).
    """
    loss, gradients, logits = training_gradients(
        model,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        images,
        labels,
    )
    assert logits.shape == (*labels.shape, NUM_CLASSES)
    assert logits.dtype == np.float32
    assert np.all(np.isfinite(logits))
    assert np.isfinite(loss) and loss > 0.0, loss
    gradient_of = {}
    for variable, gradient in zip(model.trainable_variables, gradients):
        assert np.all(np.isfinite(gradient)), variable.path
        gradient_of[id(variable)] = gradient

    def magnitude(variables):
        assert variables
        return sum(float(np.abs(gradient_of[id(v)]).sum()) for v in variables)

    # The stem: the gradient crosses every stage of the backbone.
    stem = model.backbone.trainable_variables[0]
    assert magnitude([stem]) > 0.0, stem.path
    assert magnitude(model.backbone.trainable_variables) > 0.0
    assert magnitude(model.get_layer("decoder").trainable_variables) > 0.0
    classifier = model.get_layer("segmentation_classifier")
    assert magnitude(classifier.trainable_variables) > 0.0
    return logits


def family_sizes(case):
    """Two input sizes, one that 32 does not divide; static backbones: one."""
    return case.sizes[:1] * 2 if case.static_size else ((64, 64), (100, 70))


# Reloading a segmenter rebuilds its backbone, which costs as much as the
# rest of the test for some families (MiT traces its blocks twice). One
# family per library is reloaded here; every family's backbone and pyramid
# extractor are reloaded by `test_backbones.py::test_keras_file_round_trip`,
# and every family's segmenter by the slow test below.
ROUND_TRIP_FAMILIES = ("hub_resnet_v2_mini", "cv_csp_darknet_mini", "resnet_mini")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_backbone_family(rng, tmp_path, case):
    """A training step's gradient at one size, inference at another (that 32
    does not divide), and for one family per library a `.keras` round trip.

    No `fit` here: XLA takes 20-90 s to compile a train step with its
    optimizer per family on a small CPU. `tests/training/test_fit.py` fits
    one compiled; `test_every_backbone_family_compiled_fit` every family
    (--run-slow). The gradient is computed eagerly on TensorFlow and torch,
    in one compilation on JAX (see `training_gradients`).
    """
    model = SRCRMSegmenter(case.build(), NUM_CLASSES, decoder_filters=8)
    first, second = family_sizes(case)
    # A training step at the first size (its logits checked there too)...
    assert_trains(model, images_of(rng, first), labels_of(rng, first))
    # ...and inference at the second.
    logits = predict(model, images_of(rng, second))
    assert logits.shape == (2, *second, NUM_CLASSES)
    assert logits.dtype == np.float32
    assert np.all(np.isfinite(logits))

    assert set(ROUND_TRIP_FAMILIES) <= {c.id for c in CASES}
    if case.id in ROUND_TRIP_FAMILIES:
        images = images_of(rng, second)
        expected = predict(model, images)
        model.save(tmp_path / "model.keras")
        restored = keras.saving.load_model(tmp_path / "model.keras")
        np.testing.assert_allclose(predict(restored, images), expected, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_backbone_family_compiled_fit(rng, tmp_path, case):
    """A compiled `fit` step (XLA on TensorFlow and JAX) on every family."""
    model = SRCRMSegmenter(case.build(), NUM_CLASSES, decoder_filters=8)
    size = family_sizes(case)[0]
    compile_for_segmentation(model, jit_compile=JIT)
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(images_of(rng, size), labels_of(rng, size), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert history.history["loss"][0] > 0.0
    after = model.get_weights()
    assert all(np.all(np.isfinite(w)) for w in after)
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))

    images = images_of(rng, size)
    expected = predict(model, images)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(predict(restored, images), expected, atol=1e-5)


@pytest.fixture(scope="module")
def small_backbone_name():
    return "hub_resnet_v2_mini"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize(
    "compiled", [False, pytest.param(True, marks=pytest.mark.slow)]
)
def test_mixed_precision(rng, small_backbone_name, policy, compiled):
    """Float32 logits and one finite training step under mixed precision
    (with `compiled`: XLA's, on TensorFlow and JAX)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = SRCRMSegmenter(
            backbone_from_config(small_backbone_name), NUM_CLASSES, decoder_filters=8
        )
        logits = predict(model, images_of(rng, (64, 48)))
        assert logits.dtype == np.float32
        assert np.all(np.isfinite(logits))
        compile_for_segmentation(
            model, **({"jit_compile": JIT} if compiled else NOT_COMPILED)
        )
        history = model.fit(
            images_of(rng, (64, 48)), labels_of(rng, (64, 48)), epochs=1, verbose=0
        )
        loss = history.history["loss"][0]
        assert np.isfinite(loss) and loss > 0.0
        assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    finally:
        keras.config.set_dtype_policy(previous)


def test_copy_free_layers_give_keras_results(rng, small_backbone_name):
    """On PyTorch the backbone's convolutions and batch norms are switched to
    the copy-free classes; the segmenter's logits and training gradients are
    Keras's own path's, on every backend."""
    backbone = backbone_from_config(small_backbone_name)
    model = SRCRMSegmenter(backbone, NUM_CLASSES, decoder_filters=8, dropout=0.0)
    switched = [
        layer
        for layer in backbone._flatten_layers()
        if type(layer) in (conv_and_norm.Conv2D, conv_and_norm.BatchNormalization)
    ]
    assert bool(switched) == (BACKEND == "torch")
    images = images_of(rng, (64, 48))
    labels = labels_of(rng, (64, 48))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    # Inference first: the training calls update the moving statistics.
    logits = predict(model, images)
    with conv_and_norm.keras_path():
        np.testing.assert_allclose(predict(model, images), logits, atol=1e-4)
    loss, gradients, _ = training_gradients(model, loss_fn, images, labels)
    with conv_and_norm.keras_path():
        keras_loss, keras_gradients, _ = training_gradients(
            model, loss_fn, images, labels
        )
    np.testing.assert_allclose(loss, keras_loss, rtol=1e-5)
    for ours, theirs in zip(gradients, keras_gradients):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)


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
        keras.optimizers.SGD(0.01), losses, loss_weights=loss_weights, **NOT_COMPILED
    )
    history = model.fit(
        images, deep_supervision_targets(labels, model), epochs=1, verbose=0
    )
    assert np.isfinite(history.history["loss"][0]) and history.history["loss"][0] > 0
    for name in ("segmentation", "aux_1", "aux_2", "aux_3"):
        assert np.isfinite(history.history[f"{name}_loss"][0]), name

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
