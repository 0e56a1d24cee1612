"""KerasCV backbones: the `pyramid_level_inputs` contract and KerasCV presets."""

import functools
import importlib.util
import inspect

import keras

from keras_srcrm.utils import import_optional
from keras_srcrm.utils.validation import spell

NAME = "keras_cv"


def import_keras_cv():
    """Imports KerasCV, or explains how to install it."""
    return import_optional("keras_cv", "KerasCV backbones")


def is_installed():
    return importlib.util.find_spec("keras_cv") is not None


def matches(model):
    """Whether `model` follows KerasCV's `pyramid_level_inputs` contract."""
    try:
        levels = getattr(model, "pyramid_level_inputs", None)
    except Exception:  # ViTDet and VideoSwin raise from this property.
        return False
    return isinstance(levels, dict)


def pyramid_candidates(model):
    """The `(level name, tensor)` pairs named by `model.pyramid_level_inputs`."""
    return [
        (level, model.get_layer(layer_name).output)
        for level, layer_name in model.pyramid_level_inputs.items()
    ]


def preprocessing(model):
    """Identity if the backbone rescales itself, else division by 255."""
    include_rescaling = getattr(model, "include_rescaling", None)
    if include_rescaling is None:
        raise ValueError(
            f"`{model.name}` (class `{type(model).__name__}`) has no "
            "`include_rescaling` attribute, so its input scaling is unknown. "
            "Build an `ImageNormalization(scale=..., offset=...)` for it "
            "directly."
        )
    # KerasCV's `include_rescaling=True` is a `Rescaling(1 / 255)` layer; its
    # presets were trained on [0, 1] inputs without mean/std normalisation.
    return {"scale": 1.0 if include_rescaling else 1.0 / 255.0, "offset": 0.0}


# KerasCV backbone classes without stride-4 to 32 maps, and why.
_UNUSABLE_PYRAMIDS = {
    "ViTDetBackbone": "it computes no pyramid levels (a single-scale ViT)",
    "VideoSwinBackbone": "it is a video backbone without pyramid levels",
    "CenterPillarBackbone": "it is a point-cloud backbone",
}


def pyramid_problem(cls):
    """Why a KerasCV class has no usable P2-P5 pyramid, or `None`."""
    return _UNUSABLE_PYRAMIDS.get(cls.__name__)


def preset_class(name):
    """The KerasCV backbone class of a built-in preset, or `None`."""
    if not is_installed():
        return None
    return _preset_classes().get(name)


def preset_names():
    """All built-in KerasCV backbone preset names (empty if not installed)."""
    return sorted(_preset_classes()) if is_installed() else []


def load_preset(name, load_weights, input_shape):
    """Loads a built-in KerasCV preset."""
    cls = _preset_classes()[name]
    if load_weights and name not in cls.presets_with_weights:
        with_weights = sorted(
            p for p in cls.presets_with_weights if p.startswith(name.split("_")[0])
        )
        raise ValueError(
            f"The KerasCV preset `{name}` has no pretrained weights. Pass "
            f"{spell('load_weights', False)} for a random initialisation"
            + (f", or use one of {with_weights}." if with_weights else ".")
        )
    return cls.from_preset(
        name, load_weights=load_weights, input_shape=tuple(input_shape)
    )


def load_directory(path, config, load_weights, input_shape):
    """Loads a KerasCV preset directory (`config.json` + weights file)."""
    import_keras_cv()  # Registers the classes named in `config.json`.
    cls = keras.saving.get_registered_object(config["registered_name"])
    if cls is None:
        raise ValueError(
            f"The preset directory {path!r} names the class "
            f"`{config['registered_name']}`, which KerasCV does not register."
        )
    return cls.from_preset(
        path,
        load_weights=load_weights and config.get("weights") is not None,
        input_shape=tuple(input_shape),
    )


@functools.cache
def _preset_classes():
    keras_cv = import_keras_cv()
    classes = {}
    for _, cls in inspect.getmembers(keras_cv.models, inspect.isclass):
        if not issubclass(cls, keras_cv.models.Backbone):
            continue
        for name in cls.presets:
            # Aliases such as `ResNet50Backbone` subclass the general class;
            # keep the general one, whose config the preset describes.
            known = classes.get(name)
            if known is None or issubclass(known, cls):
                classes[name] = cls
    return classes
