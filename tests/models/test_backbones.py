"""Backbone adapters: loading, P2-P5 extraction and input preprocessing.

Every family is built from a config with random weights; nothing is
downloaded. Each model is built once per module and shared between tests.
"""

import json

import keras
import numpy as np
import pytest
from keras.src import testing

from keras_srcrm.models import BACKBONE_CONFIGS
from keras_srcrm.models import PYRAMID_STRIDES
from keras_srcrm.models import ImageNormalization
from keras_srcrm.models import backbone_from_config
from keras_srcrm.models import backbone_preprocessing
from keras_srcrm.models import load_backbone
from keras_srcrm.models import pyramid_feature_extractor
from keras_srcrm.models.backbones import applications_family
from tests.models.backbone_cases import CASES
from tests.models.backbone_cases import IMAGENET_MEAN
from tests.models.backbone_cases import IMAGENET_STD
from tests.models.backbone_cases import efficientnet_v2_mini
from tests.models.backbone_cases import forward
from tests.models.backbone_cases import keras_hub_reference
from tests.models.backbone_cases import random_images

keras_hub = pytest.importorskip("keras_hub")
keras_cv = pytest.importorskip("keras_cv")

_BUILT = {}


def built(case):
    """`(backbone, extractor, preprocessing)` of a case, built once."""
    if case.id not in _BUILT:
        backbone = case.build()
        _BUILT[case.id] = (
            backbone,
            pyramid_feature_extractor(backbone),
            backbone_preprocessing(backbone),
        )
    return _BUILT[case.id]


def case_by_id(case_id):
    return next(case for case in CASES if case.id == case_id)


def _skip_if_static(case):
    if case.static_size:
        pytest.skip(
            f"{case.library}'s MiTBackbone reshapes its tokens to a "
            "sqrt(N) x sqrt(N) grid sized from the static input shape at "
            "build time, so it only runs at that one square size"
        )


# --- Pyramid extraction, every family ---------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_extractor_strides_and_channels(case, rng):
    backbone, extractor, _ = built(case)
    assert extractor.input is backbone.inputs[0]
    for height, width in case.sizes:
        features = forward(extractor, random_images(rng, height, width, batch=1))
        assert len(features) == 4
        for feature, stride, channels in zip(features, PYRAMID_STRIDES, case.channels):
            if case.size_rule is None:
                expected = (height // stride, width // stride)
            else:
                expected = (
                    case.size_rule(height, stride),
                    case.size_rule(width, stride),
                )
            assert tuple(feature.shape) == (1, *expected, channels), (
                f"stride {stride} at input {height}x{width}"
            )


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_extractor_accepts_unknown_height_and_width(case):
    _skip_if_static(case)
    _, extractor, _ = built(case)
    assert tuple(extractor.input.shape) == (None, None, None, 3)
    features = extractor(keras.Input((None, None, 3)))
    assert [tuple(f.shape) for f in features] == [
        (None, None, None, channels) for channels in case.channels
    ]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_preprocessing_matches_family_reference(case, rng):
    backbone, _, preprocessing = built(case)
    images = random_images(rng, 8, 8)
    expected = keras.ops.convert_to_numpy(case.reference(backbone, images))
    actual = keras.ops.convert_to_numpy(preprocessing(images))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_keras_file_round_trip(case, rng, tmp_path):
    _, extractor, preprocessing = built(case)
    side = case.static_size
    inputs = keras.Input((side, side, 3))
    model = keras.Model(inputs, extractor(preprocessing(inputs)))
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    # The first size of the strides test: the extractor already ran at it,
    # which saves a compilation under JAX.
    height, width = case.sizes[0]
    images = random_images(rng, height, width, batch=1)
    expected = forward(extractor, keras.ops.convert_to_numpy(preprocessing(images)))
    # Same weights; XLA fuses the preprocessing into the restored graph, which
    # moves the last float32 digit.
    for before, after in zip(expected, forward(restored, images)):
        np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def test_full_size_resnet50_by_name():
    """The minis share layer names with the real model; check one for real."""
    backbone = load_backbone("ResNet50", load_weights=False)
    extractor = pyramid_feature_extractor(backbone)
    assert [output.name for output in extractor.outputs] == [
        backbone.get_layer(f"conv{stage}_block{blocks}_out").output.name
        for stage, blocks in ((2, 3), (3, 4), (4, 6), (5, 3))
    ]
    assert backbone_preprocessing(backbone).channel_order == "bgr"


def test_extractor_trains_inside_a_functional_model(rng):
    """Shared layers are counted once, and one `fit` step updates them."""
    backbone = backbone_from_config("hub_resnet_mini")
    extractor = pyramid_feature_extractor(backbone)
    assert {id(v) for v in extractor.trainable_weights} <= {
        id(v) for v in backbone.trainable_weights
    }
    assert len(extractor.trainable_weights) == len(
        {id(v) for v in extractor.trainable_weights}
    )
    inputs = keras.Input((None, None, 3))
    p2, _, _, p5 = extractor(backbone_preprocessing(backbone)(inputs))
    logits = keras.layers.Conv2D(2, 1)(p2)
    pooled = keras.layers.GlobalAveragePooling2D()(p5)
    model = keras.Model(inputs, [logits, pooled])
    model.compile(optimizer="sgd", loss=["mse", "mse"])
    images = random_images(rng, 32, 32)
    targets = [np.zeros((2, 8, 8, 2), "float32"), np.zeros((2, 32), "float32")]
    before = keras.ops.convert_to_numpy(backbone.get_layer("conv1_conv").kernel)
    model.fit(images, targets, epochs=1, batch_size=2, verbose=0)
    after = keras.ops.convert_to_numpy(backbone.get_layer("conv1_conv").kernel)
    assert not np.allclose(before, after)


# --- Preprocessing ------------------------------------------------------------


@pytest.mark.parametrize(
    "case_id",
    ["efficientnetv2_b0_mini", "convnext_mini", "MobileNetV3Small_minimalistic"],
)
def test_explicit_preprocessing_equals_built_in_layers(case_id, rng, monkeypatch):
    """Without `include_preprocessing`, the layer does what the model did."""
    backbone, _, _ = built(case_by_id(case_id))
    built_in = [
        layer
        for layer in backbone.layers
        if isinstance(layer, (keras.layers.Rescaling, keras.layers.Normalization))
    ]
    reference = keras.Model(backbone.inputs[0], built_in[-1].output)
    monkeypatch.setattr(
        applications_family, "_includes_preprocessing", lambda model: False
    )
    layer = backbone_preprocessing(backbone)
    assert not layer.is_identity
    images = random_images(rng, 8, 8)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(images)),
        keras.ops.convert_to_numpy(reference(images)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_efficientnet_v2_s_preprocessing_divides_by_128(rng, monkeypatch):
    # The S/M/L variants scale by 1/128, not 1/127.5 (efficientnet_v2.py).
    backbone = efficientnet_v2_mini("s", strides=(1, 2))
    assert backbone_preprocessing(backbone).is_identity
    monkeypatch.setattr(
        applications_family, "_includes_preprocessing", lambda model: False
    )
    (rescaling,) = [
        layer for layer in backbone.layers if isinstance(layer, keras.layers.Rescaling)
    ]
    images = random_images(rng, 4, 4)
    expected = keras.ops.convert_to_numpy(rescaling(images))
    np.testing.assert_allclose(expected, images / 128.0 - 1.0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(backbone_preprocessing(backbone)(images)),
        expected,
        rtol=1e-6,
        atol=1e-6,
    )


def test_keras_cv_without_rescaling_divides_by_255(rng):
    kwargs = dict(BACKBONE_CONFIGS["cv_csp_darknet_mini"].kwargs)
    kwargs["include_rescaling"] = False
    backbone = keras_cv.models.CSPDarkNetBackbone(**kwargs)
    images = random_images(rng, 4, 4)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(backbone_preprocessing(backbone)(images)),
        keras.ops.convert_to_numpy(keras.layers.Rescaling(1.0 / 255.0)(images)),
        rtol=1e-6,
    )


def test_keras_hub_preprocessing_reads_preset_image_converter(rng, tmp_path):
    backbone, _, _ = built(case_by_id("hub_resnet_v2_mini"))
    converter = keras_hub.layers.ResNetImageConverter(
        scale=[0.01, 0.02, 0.03], offset=[-1.0, 0.5, 2.0]
    )
    backbone.save_to_preset(str(tmp_path))
    converter.save_to_preset(str(tmp_path))
    assert (tmp_path / "image_converter.json").exists()
    layer = backbone_preprocessing(backbone, preset=str(tmp_path))
    images = random_images(rng, 4, 4)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(images)),
        keras.ops.convert_to_numpy(converter(images)),
        rtol=1e-6,
    )


def test_keras_hub_preset_directory_without_converter_is_an_error(tmp_path):
    backbone, _, _ = built(CASES[0])
    with pytest.raises(ValueError, match="no `image_converter.json`"):
        backbone_preprocessing(backbone, preset=str(tmp_path))


def test_segmenter_from_preset_uses_the_preset_image_converter(rng, tmp_path):
    """`from_preset` passes the preset's converter explicitly; a backbone
    carries no hidden record of where it was loaded from."""
    from keras_srcrm.models import SRCRMSegmenter

    backbone = backbone_from_config("hub_resnet_mini")
    backbone.save_to_preset(str(tmp_path))
    images = random_images(rng, 4, 4)
    # Without `image_converter.json`: the ImageNet default.
    model = SRCRMSegmenter.from_preset(str(tmp_path), 3, decoder_filters=8)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.preprocessing(images)),
        keras.ops.convert_to_numpy(keras_hub_reference(backbone, images)),
        rtol=1e-5,
        atol=1e-5,
    )
    # With one (mean = std = 0.5, like two EfficientNet presets): that one.
    converter = keras_hub.layers.ResNetImageConverter(scale=1.0 / 127.5, offset=-1.0)
    converter.save_to_preset(str(tmp_path))
    model = SRCRMSegmenter.from_preset(str(tmp_path), 3, decoder_filters=8)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.preprocessing(images)),
        images / 127.5 - 1.0,
        rtol=1e-5,
        atol=1e-5,
    )
    # A backbone loaded on its own gets the family default unless told.
    loaded = load_backbone(str(tmp_path))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(backbone_preprocessing(loaded)(images)),
        keras.ops.convert_to_numpy(keras_hub_reference(loaded, images)),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(
            backbone_preprocessing(loaded, preset=str(tmp_path))(images)
        ),
        images / 127.5 - 1.0,
        rtol=1e-5,
        atol=1e-5,
    )


def test_unknown_family_preprocessing_is_an_error():
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3)])
    with pytest.raises(ValueError, match="Cannot tell which input scaling"):
        backbone_preprocessing(model)


class ImageNormalizationTest(testing.TestCase):
    def test_layer_basics(self):
        self.run_layer_test(
            ImageNormalization,
            init_kwargs={
                "scale": [1.0, 0.5, 0.25],
                "offset": -1.0,
                "channel_order": "bgr",
            },
            input_shape=(2, 4, 5, 3),
            expected_output_shape=(2, 4, 5, 3),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            supports_masking=False,
            run_training_check=False,
        )

    def test_bgr_reverses_channels_before_scaling(self):
        layer = ImageNormalization(
            scale=[1.0, 10.0, 100.0], offset=[0.0, 1.0, 2.0], channel_order="bgr"
        )
        pixels = np.array([[[[1.0, 2.0, 3.0]]]], dtype="float32")
        self.assertAllClose(layer(pixels), [[[[3.0, 21.0, 102.0]]]])

    def test_imagenet_statistics(self):
        layer = ImageNormalization(
            scale=[1 / (255 * s) for s in IMAGENET_STD],
            offset=[-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
        )
        pixels = np.full((1, 1, 1, 3), 255.0, dtype="float32")
        expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
        self.assertAllClose(layer(pixels)[0, 0, 0], expected, atol=1e-5)
        self.assertFalse(layer.is_identity)
        self.assertTrue(ImageNormalization().is_identity)

    def test_invalid_arguments(self):
        with self.assertRaisesRegex(ValueError, "`channel_order` must be one of"):
            ImageNormalization(channel_order="brg")
        with self.assertRaisesRegex(ValueError, "sequence of 3 floats"):
            ImageNormalization(scale=[1.0, 2.0])
        with self.assertRaisesRegex(ValueError, "Received: offset='x'"):
            ImageNormalization(offset="x")
        with self.assertRaisesRegex(
            ValueError, r"Received: input_shape=\(1, 4, 4, 1\)"
        ):
            ImageNormalization()(np.zeros((1, 4, 4, 1)))


# --- Errors for backbones without a usable pyramid ----------------------------


def test_model_without_pyramid_is_an_error():
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Conv2D(4, 3, strides=2)(inputs)
    model = keras.Model(inputs, outputs, name="plain_cnn")
    with pytest.raises(
        ValueError, match=r"Found no feature pyramid in `backbone` `plain_cnn`"
    ):
        pyramid_feature_extractor(model)


def test_keras_hub_pyramid_without_stride_4_is_an_error():
    backbone, _, _ = built(case_by_id("hub_resnet18"))
    levels = {k: v for k, v in backbone.pyramid_outputs.items() if k != "P2"}
    # The same graph, with P3-P5 only in its KerasHub contract, like
    # RetinaNet's P3-P7.
    truncated = keras.Model(backbone.inputs, backbone.outputs, name="truncated")
    truncated.pyramid_outputs = levels
    with pytest.raises(ValueError, match=r"missing strides: \[4\]") as info:
        pyramid_feature_extractor(truncated)
    assert "'P3' (stride 8), 'P4' (stride 16), 'P5' (stride 32)" in str(info.value)


def test_keras_cv_pyramid_with_missing_level_is_an_error():
    backbone, _, _ = built(case_by_id("cv_csp_darknet_mini"))
    levels = dict(backbone.pyramid_level_inputs)
    del levels["P4"]
    # The same graph, with one level fewer in its KerasCV contract.
    truncated = keras.Model(backbone.inputs, backbone.outputs, name="truncated")
    truncated.pyramid_level_inputs = levels
    with pytest.raises(
        ValueError, match=r"keras_cv pyramid .* missing strides: \[16\]"
    ):
        pyramid_feature_extractor(truncated)


def test_non_model_and_channels_first_inputs_are_errors():
    with pytest.raises(ValueError, match="`backbone` must be a `keras.Model`"):
        pyramid_feature_extractor("resnet_18_imagenet")
    inputs = keras.Input((3, 32, 32))
    model = keras.Model(inputs, keras.layers.Flatten()(inputs))
    with pytest.raises(ValueError, match="channels-last RGB"):
        pyramid_feature_extractor(model)


# --- Loading -----------------------------------------------------------------


def test_unknown_name_fails_fast_with_suggestions(no_downloads):
    with pytest.raises(ValueError, match="Unknown backbone") as info:
        load_backbone("resnet_18_imagenett")
    assert "resnet_18_imagenet" in str(info.value)
    assert "not a local path" in str(info.value)


@pytest.mark.parametrize(
    "spec, reason",
    [
        ("vgg_16_imagenet", "`VGGBackbone`, .* it has no `pyramid_outputs`"),
        ("dinov2_small", "`DINOV2Backbone`, .* ViT token sequences"),
        ("retinanet_resnet50_fpn_coco", "`RetinaNetBackbone`, .* without stride 4"),
        ("vitdet_base", "`ViTDetBackbone`, .* no pyramid levels"),
    ],
)
def test_presets_without_p2_to_p5_are_rejected(spec, reason, no_downloads):
    with pytest.raises(ValueError, match=reason):
        load_backbone(spec)


@pytest.mark.parametrize("spec", ["mit_b0_ade20k_512", "mit_b0"])
def test_mit_presets_need_a_static_square_shape(spec, no_downloads):
    with pytest.raises(ValueError, match="needs a static square `input_shape`"):
        load_backbone(spec)


def test_keras_cv_preset_without_weights_is_an_error(no_downloads):
    with pytest.raises(ValueError, match="`resnet18` has no pretrained weights"):
        load_backbone("resnet18")


def test_mit_config_needs_a_static_square_shape():
    with pytest.raises(ValueError, match="needs a static square `input_shape`"):
        backbone_from_config("hub_mit_mini", input_shape=(64, 96, 3))


def test_named_config_has_no_weights():
    with pytest.raises(ValueError, match="`resnet_18_imagenet` for weights"):
        load_backbone("hub_resnet18")


def test_invalid_specs_are_errors():
    with pytest.raises(ValueError, match="`spec` must be a `keras.Model`"):
        load_backbone(18)
    with pytest.raises(
        ValueError, match=r"`input_shape` must be `\(height, width, 3\)`"
    ):
        load_backbone("ResNet50", load_weights=False, input_shape=(None, None))
    with pytest.raises(ValueError, match="Unknown backbone configuration"):
        backbone_from_config("hub_resnet19")


def test_models_pass_through():
    backbone, _, _ = built(CASES[0])
    assert load_backbone(backbone) is backbone


@pytest.mark.parametrize(
    "name, preset_class, preset",
    [
        ("hub_resnet18", "ResNetBackbone", "resnet_18_imagenet"),
        ("cv_resnet18", "ResNetBackbone", "resnet18"),
    ],
)
def test_resnet18_configs_match_preset_architectures(name, preset_class, preset):
    """The lightweight variant's backbone has the presets' parameter count."""
    library = keras_hub if name.startswith("hub") else keras_cv
    metadata = getattr(library.models, preset_class).presets[preset]["metadata"]
    backbone, _, _ = built(case_by_id(name))
    assert backbone.count_params() == metadata["params"] == 11_186_112


@pytest.mark.parametrize("name", ["hub_resnet_mini", "hub_efficientnet_mini"])
def test_keras_hub_preset_directory_round_trip(name, rng, tmp_path):
    # EfficientNet names its shape argument `input_shape`, the others
    # `image_shape`; both are set from `load_backbone(input_shape=...)`.
    backbone = backbone_from_config(name)
    backbone.save_to_preset(str(tmp_path))
    loaded = load_backbone(str(tmp_path), input_shape=(64, 64, 3))
    assert type(loaded) is type(backbone)
    assert tuple(loaded.inputs[0].shape) == (None, 64, 64, 3)
    images = random_images(rng, 64, 64, batch=1)
    before = forward(pyramid_feature_extractor(backbone), images)
    after = forward(pyramid_feature_extractor(loaded), images)
    for b, a in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    random_init = load_backbone(str(tmp_path), load_weights=False)
    assert not all(
        np.allclose(r, w)
        for r, w in zip(random_init.get_weights(), backbone.get_weights())
    )


def test_keras_hub_handle_gets_the_requested_input_shape(monkeypatch):
    """A handle's class is only known after download; the shape is set after."""
    backbone = backbone_from_config("hub_resnet_mini")
    calls = []

    def from_preset(preset, load_weights=True):
        calls.append((preset, load_weights))
        return backbone

    monkeypatch.setattr(keras_hub.models.Backbone, "from_preset", from_preset)
    loaded = load_backbone("hf://someone/resnet", input_shape=(32, 48, 3))
    assert calls == [("hf://someone/resnet", True)]
    assert tuple(loaded.inputs[0].shape) == (None, 32, 48, 3)
    for a, b in zip(loaded.get_weights(), backbone.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert load_backbone("hf://someone/resnet") is backbone


def test_keras_cv_preset_directory_round_trip(rng, tmp_path):
    # KerasCV 0.9 has no public saver; this is the writer of its own layout.
    from keras_cv.src.utils.preset_utils import save_to_preset

    backbone, _, _ = built(case_by_id("cv_csp_darknet_mini"))
    save_to_preset(backbone, str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["registered_name"] == "keras_cv>CSPDarkNetBackbone"
    loaded = load_backbone(str(tmp_path))
    images = random_images(rng, 64, 64, batch=1)
    (before,), (after,) = forward(backbone, images), forward(loaded, images)
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)


def test_local_path_that_is_not_a_preset_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="not a preset directory"):
        load_backbone(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"registered_name": "x>Y"}))
    with pytest.raises(ValueError, match="not a KerasHub or KerasCV backbone"):
        load_backbone(str(tmp_path))
