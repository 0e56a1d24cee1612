"""KerasHub backbones: the `pyramid_outputs` contract and KerasHub presets."""

import functools
import importlib.util
import inspect

import keras

from keras_srcrm.models.backbones.input_shapes import check_input_shape
from keras_srcrm.utils import import_optional

NAME = "keras_hub"

# ImageNet statistics, which the image converters of all KerasHub ResNet,
# CSPNet and DenseNet presets (converted from timm and PaddleClas), the MiT
# presets (from Hugging Face SegFormer) and most EfficientNet presets hold.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

HANDLE_PREFIXES = ("kaggle://", "hf://", "modelscope://")


def import_keras_hub():
    """Imports KerasHub, or explains how to install it."""
    return import_optional("keras_hub", "KerasHub backbones")


def is_installed():
    return importlib.util.find_spec("keras_hub") is not None


def matches(model):
    """Whether `model` follows KerasHub's `pyramid_outputs` contract."""
    return isinstance(_safe_getattr(model, "pyramid_outputs"), dict)


def pyramid_candidates(model):
    """The `(level name, tensor)` pairs of `model.pyramid_outputs`."""
    return list(model.pyramid_outputs.items())


def preprocessing(model):
    """The ImageNet scale and offset of KerasHub's image converters."""
    if not type(model).__module__.startswith("keras_hub"):
        raise ValueError(
            f"`{model.name}` exposes `pyramid_outputs` but is not a KerasHub "
            f"model (class `{type(model).__name__}`), so its input scaling is "
            "unknown. Build an `ImageNormalization(scale=..., offset=...)` for "
            "it directly."
        )
    return imagenet_spec()


def imagenet_spec():
    """`ImageNormalization` arguments for ImageNet mean/std on [0, 255]."""
    return {
        "scale": [1.0 / (255.0 * s) for s in IMAGENET_STD],
        "offset": [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
    }


def is_handle(spec):
    return spec.startswith(HANDLE_PREFIXES)


def preset_class(name):
    """The KerasHub backbone class of a built-in preset, or `None`."""
    if not is_installed():
        return None
    return _preset_classes().get(name)


def preset_names():
    """All built-in KerasHub backbone preset names (empty if not installed)."""
    return sorted(_preset_classes()) if is_installed() else []


# KerasHub classes with `pyramid_outputs` but no stride-4 to 32 maps (checked
# on keras-hub 0.32), and why.
_UNUSABLE_PYRAMIDS = {
    "DINOV2Backbone": "its levels are ViT token sequences at one patch stride",
    "DINOV3Backbone": "its levels are ViT token sequences at one patch stride",
    "RetinaNetBackbone": "its FPN levels are P3-P7, without stride 4",
}


def pyramid_problem(cls):
    """Why a KerasHub class has no usable P2-P5 pyramid, or `None`."""
    keras_hub = import_keras_hub()
    if not issubclass(cls, keras_hub.models.FeaturePyramidBackbone):
        return "it has no `pyramid_outputs`"
    return _UNUSABLE_PYRAMIDS.get(cls.__name__)


def load_preset(preset, load_weights, input_shape, cls=None):
    """Loads a KerasHub backbone from a preset name, handle or directory.

    Args:
        preset: A built-in preset name, a handle or a local directory.
        load_weights: Whether to load the preset's weights.
        input_shape: The backbone's `(height, width, 3)`.
        cls: The preset's backbone class, when known before loading.

    Returns:
        The backbone, with `input_shape` as its input shape.
    """
    keras_hub = import_keras_hub()
    if cls is None:
        # A Kaggle/Hugging Face handle: its class is known once its config is
        # downloaded, so the input shape is set afterwards.
        backbone = keras_hub.models.Backbone.from_preset(
            preset, load_weights=load_weights
        )
        return _with_input_shape(backbone, input_shape)
    return cls.from_preset(
        preset,
        load_weights=load_weights,
        **{shape_argument(cls): tuple(input_shape)},
    )


def shape_argument(cls):
    """The name of the input-shape argument of a KerasHub backbone class.

    Most vision backbones take `image_shape`; EfficientNet takes
    `input_shape`.
    """
    parameters = inspect.signature(cls.__init__).parameters
    for name in ("image_shape", "input_shape"):
        if name in parameters:
            return name
    raise ValueError(
        f"KerasHub's `{cls.__name__}` takes no `image_shape` or `input_shape` "
        "argument, so it is not an image backbone this library can use."
    )


def _with_input_shape(backbone, input_shape):
    """Rebuilds `backbone` for `input_shape` (same weights) if it differs."""
    if tuple(backbone.inputs[0].shape[1:]) == tuple(input_shape):
        return backbone
    cls = type(backbone)
    check_input_shape(input_shape, cls.__name__, NAME)
    config = {**backbone.get_config(), shape_argument(cls): tuple(input_shape)}
    rebuilt = cls.from_config(config)
    rebuilt.set_weights(backbone.get_weights())
    return rebuilt


def class_of_directory(registered_name):
    """The KerasHub class named in a preset directory's `config.json`."""
    import_keras_hub()  # Registers the classes.
    return keras.saving.get_registered_object(registered_name)


@functools.cache
def _preset_classes():
    keras_hub = import_keras_hub()
    classes = {}
    for _, cls in inspect.getmembers(keras_hub.models, inspect.isclass):
        if not issubclass(cls, keras_hub.models.Backbone):
            continue
        for name in cls.presets:
            # The most specific class wins over `Backbone` and
            # `FeaturePyramidBackbone`, which list their subclasses' presets.
            known = classes.get(name)
            if known is None or issubclass(cls, known):
                classes[name] = cls
    return classes


def _safe_getattr(model, attribute):
    try:
        return getattr(model, attribute, None)
    except Exception:  # A property that fails counts as absent.
        return None
