"""One entry point that turns a backbone spec into a backbone model."""

import difflib
import json
import os

import keras

from keras_srcrm.models.backbones import applications_family
from keras_srcrm.models.backbones import keras_cv_family
from keras_srcrm.models.backbones import keras_hub_family
from keras_srcrm.models.backbones.configs import BACKBONE_CONFIGS
from keras_srcrm.models.backbones.configs import backbone_from_config
from keras_srcrm.models.backbones.input_shapes import check_input_shape
from keras_srcrm.utils.validation import spell

# Where the pretrained weights of a named configuration's architecture are.
_WEIGHTS_OF_CONFIG = {
    "hub_resnet18": "the KerasHub preset `resnet_18_imagenet`",
    "cv_resnet18": "the KerasHub preset `resnet_18_imagenet` (KerasCV has no "
    "ResNet-18 weights)",
}


def load_backbone(spec, load_weights=True, input_shape=(None, None, 3)):
    """Returns a backbone model from a name, a local preset or a model.

    `spec` is resolved in this order, and nothing is downloaded before it
    has been recognised:

    1. a `keras.Model`: returned unchanged (`load_weights` and
       `input_shape` are ignored);
    2. an existing local directory: a preset saved by KerasHub's
       `Backbone.save_to_preset` (or downloaded from Kaggle), or a KerasCV
       preset directory (`config.json` + `model.weights.h5`);
    3. a `keras.applications` constructor name (`"ResNet50"`,
       `"EfficientNetV2S"`, `"ConvNeXtTiny"`, `"MobileNetV3Large"`, ...),
       built with `include_top=False` and `weights="imagenet"` or `None`;
    4. a named configuration of `BACKBONE_CONFIGS` (`"hub_resnet18"`, ...),
       built offline with random weights;
    5. a KerasHub preset name (`"resnet_18_imagenet"`,
       `"mit_b0_ade20k_512"`, ...) or a `kaggle://`, `hf://` or
       `modelscope://` handle;
    6. a KerasCV preset name (`"resnet50_v2_imagenet"`, `"mit_b0"`, ...).

    Args:
        spec: What to load, as above.
        load_weights: Whether to load pretrained weights. `False` gives a
            random initialisation (KerasHub and KerasCV still download the
            preset's config for a preset name).
        input_shape: `(height, width, 3)` of the backbone's input.
            `(None, None, 3)` accepts any size. KerasHub's and KerasCV's MiT
            need a static square shape whose side is a multiple of 32.

    Returns:
        The backbone `keras.Model`.

    Raises:
        ValueError: If `spec` is not recognised (the message suggests close
            names), names a model without a feature pyramid, asks for weights
            that do not exist, or `input_shape` does not suit the model.

    Example:

    ```python
    # Online: ImageNet weights. Offline: a preset directory saved earlier.
    backbone = load_backbone("resnet_18_imagenet")
    backbone = load_backbone("/data/presets/resnet_18_imagenet")
    # Offline, random weights.
    backbone = load_backbone("hub_resnet18", load_weights=False)
    backbone = load_backbone("ConvNeXtTiny", load_weights=False)
    ```
    """
    if isinstance(spec, keras.Model):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise ValueError(
            "`spec` must be a `keras.Model`, a preset or model name, or a "
            f"local preset directory. Received: spec={spec!r} of type "
            f"{type(spec).__name__}"
        )
    spec = os.fspath(spec)
    check_input_shape(input_shape)
    input_shape = tuple(input_shape)

    if os.path.exists(spec):
        return _load_directory(spec, load_weights, input_shape)
    if spec in applications_family.CONSTRUCTORS:
        return applications_family.load(spec, load_weights, input_shape)
    if spec in BACKBONE_CONFIGS:
        if load_weights:
            raise ValueError(
                f"`{spec}` is a named configuration without pretrained "
                f"weights. Pass {spell('load_weights', False)} for a random "
                "initialisation"
                + (
                    f", or {_WEIGHTS_OF_CONFIG[spec]} for weights."
                    if spec in _WEIGHTS_OF_CONFIG
                    else "."
                )
            )
        return backbone_from_config(spec, input_shape)
    if keras_hub_family.is_handle(spec):
        return _load_keras_hub(spec, load_weights, input_shape)

    hub_class = keras_hub_family.preset_class(spec)
    if hub_class is not None:
        problem = keras_hub_family.pyramid_problem(hub_class)
        if problem:
            raise ValueError(
                f"The KerasHub preset `{spec}` is a `{hub_class.__name__}`, "
                f"which cannot serve as a backbone here: {problem}. A backbone "
                "with feature maps at strides 4, 8, 16 and 32 is needed, e.g. "
                "a ResNet, MiT, CSPNet, DenseNet or EfficientNet preset."
            )
        check_input_shape(input_shape, hub_class.__name__, "keras_hub")
        return _load_keras_hub(spec, load_weights, input_shape, cls=hub_class)

    cv_class = keras_cv_family.preset_class(spec)
    if cv_class is not None:
        problem = keras_cv_family.pyramid_problem(cv_class)
        if problem:
            raise ValueError(
                f"The KerasCV preset `{spec}` is a `{cv_class.__name__}`, "
                f"which cannot serve as a backbone here: {problem}."
            )
        check_input_shape(input_shape, cv_class.__name__, "keras_cv")
        return keras_cv_family.load_preset(spec, load_weights, input_shape)

    raise ValueError(_unknown_spec_message(spec))


def _load_keras_hub(preset, load_weights, input_shape, cls=None):
    return keras_hub_family.load_preset(preset, load_weights, input_shape, cls)


def converter_preset(spec):
    """The KerasHub preset whose image converter scales the inputs of the
    backbone that `load_backbone(spec)` returns, or None.

    That is `spec` itself for a KerasHub preset name or handle, and for a
    local preset directory with an `image_converter.json`; None for every
    other kind of spec (whose family default `backbone_preprocessing` uses).
    Nothing is downloaded.
    """
    if isinstance(spec, keras.Model) or not isinstance(spec, (str, os.PathLike)):
        return None
    spec = os.fspath(spec)
    if os.path.exists(spec):
        converter = os.path.join(spec, "image_converter.json")
        return spec if os.path.isdir(spec) and os.path.exists(converter) else None
    if spec in applications_family.CONSTRUCTORS or spec in BACKBONE_CONFIGS:
        return None
    if keras_hub_family.is_handle(spec):
        return spec
    if keras_hub_family.is_installed() and keras_hub_family.preset_class(spec):
        return spec
    return None


def _load_directory(path, load_weights, input_shape):
    config_path = os.path.join(path, "config.json")
    if not os.path.isdir(path) or not os.path.exists(config_path):
        raise ValueError(
            f"`spec={path!r}` is a local path but not a preset directory: "
            "expected a directory with a `config.json`, as written by "
            "KerasHub's `Backbone.save_to_preset`."
        )
    with open(config_path) as file:
        config = json.load(file)
    registered_name = config.get("registered_name") or ""
    library, _, class_name = registered_name.partition(">")
    if library == "keras_hub":
        cls = keras_hub_family.class_of_directory(registered_name)
        if cls is None:
            raise ValueError(
                f"The preset directory {path!r} names the class "
                f"`{registered_name}`, which this KerasHub version does not "
                "register."
            )
        check_input_shape(input_shape, class_name, "keras_hub")
        return _load_keras_hub(path, load_weights, input_shape, cls=cls)
    if library == "keras_cv":
        check_input_shape(input_shape, class_name, "keras_cv")
        return keras_cv_family.load_directory(path, config, load_weights, input_shape)
    raise ValueError(
        f"The preset directory {path!r} holds `{registered_name or 'an object'}`"
        ", not a KerasHub or KerasCV backbone (its `config.json` should have a "
        '`registered_name` such as "keras_hub>ResNetBackbone").'
    )


def _unknown_spec_message(spec):
    known = [*applications_family.CONSTRUCTORS, *BACKBONE_CONFIGS]
    searched = ["keras.applications names", "named configurations"]
    not_installed = []
    for family, label in (
        (keras_hub_family, "KerasHub presets"),
        (keras_cv_family, "KerasCV presets"),
    ):
        if family.is_installed():
            known += family.preset_names()
            searched.append(label)
        else:
            not_installed.append(label)
    message = (
        f"Unknown backbone `spec={spec!r}`: it is not a local path, and not "
        f"one of the {', '.join(searched)}."
    )
    close = difflib.get_close_matches(spec, known, n=5, cutoff=0.6)
    if close:
        message += f" Did you mean one of {close}?"
    if not_installed:
        message += (
            f" {' and '.join(not_installed)} were not searched because their "
            "package is not installed."
        )
    return message
