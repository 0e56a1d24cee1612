"""The stride-4, 8, 16, 32 feature maps (P2-P5) of a backbone."""

import math

import keras

from keras_srcrm.models.backbones import applications_family
from keras_srcrm.models.backbones import keras_cv_family
from keras_srcrm.models.backbones import keras_hub_family

PYRAMID_LEVELS = ("P2", "P3", "P4", "P5")
PYRAMID_STRIDES = (4, 8, 16, 32)

# The backbone families, each a module with `NAME`, `matches(model)`,
# `pyramid_candidates(model)` and `preprocessing(model)`. KerasHub first: its
# contract is the one this library follows. KerasHub and KerasCV models are
# recognised by their pyramid attributes, without importing either library.
FAMILIES = (keras_hub_family, keras_cv_family, applications_family)

# Spatial size used to measure strides when the backbone's input size is
# `None`: divisible by every stride, and large enough for every family.
_PROBE_SIZE = 256


@keras.saving.register_keras_serializable(package="keras_srcrm")
class PyramidFeatureExtractor(keras.Model):
    """A backbone's stride-4, 8, 16 and 32 feature maps, `[P2, P3, P4, P5]`.

    A functional model whose graph is the part of the backbone's graph that
    leads to the four maps, so it shares the backbone's layers and weights.
    It serialises the backbone as a whole (its class and constructor
    arguments), like KerasHub tasks do, rather than the backbone's internal
    layers one by one: some of those, e.g. in KerasHub's MiT, cannot be
    rebuilt from their own configs.

    Build it with `pyramid_feature_extractor`, which documents how the maps
    are found.

    Args:
        backbone: A backbone `keras.Model` that `pyramid_feature_extractor`
            supports.
        **kwargs: Base model arguments, e.g. `name`.
    """

    def __init__(self, backbone, **kwargs):
        # === Functional Model ===
        image_input, features = _pyramid(backbone)
        super().__init__(inputs=image_input, outputs=features, **kwargs)

        # === Config ===
        # Set after `super().__init__()`: under the torch backend a model
        # cannot hold a sub-model before `torch.nn.Module.__init__` has run.
        self.backbone = backbone

    def get_config(self):
        # Not chained to `super()`: a functional config lists layers, and
        # the constructor takes the backbone.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def pyramid_feature_extractor(backbone, name=None):
    """Returns a model mapping a backbone's images to `[P2, P3, P4, P5]`.

    The feature maps at strides 4, 8, 16 and 32 are taken from the backbone's
    own graph, so the extractor shares the backbone's layers and weights:

    - KerasHub backbones through `backbone.pyramid_outputs`;
    - KerasCV backbones through `backbone.pyramid_level_inputs`;
    - `keras.applications` ResNet, ResNetV2, EfficientNetV2, ConvNeXt and
      MobileNetV3 models (built with `include_top=False`) through their block
      outputs.

    Pyramid level names are not trusted: KerasHub's MiT names its stride-4 map
    `"P1"` and KerasHub's CSPDarkNet-53 names its stride-2 map `"P2"`.
    Strides are measured instead, by tracing the graph at a fixed input size,
    and the deepest map at each stride is kept. The input keeps the
    backbone's shape, usually `(None, None, 3)`.

    Args:
        backbone: A functional `keras.Model` with one channels-last image
            input, from one of the families above.
        name: Optional name of the returned model. Defaults to
            `"<backbone name>_pyramid"`.

    Returns:
        A `PyramidFeatureExtractor`: a functional `keras.Model` with the
        backbone's input and the list `[P2, P3, P4, P5]` as outputs.

    Raises:
        ValueError: If `backbone` is not a single-input channels-last
            functional model, or has no feature maps at strides 4, 8, 16 and
            32; the message lists what was found.

    Example:

    ```python
    backbone = load_backbone("ResNet50", load_weights=False)
    extractor = pyramid_feature_extractor(backbone)
    p2, p3, p4, p5 = extractor(np.zeros((1, 128, 128, 3)))
    ```
    """
    _image_input(backbone)
    return PyramidFeatureExtractor(backbone, name=name or f"{backbone.name}_pyramid")


def backbone_family(model):
    """Returns the family module of a backbone model, or None if none matches."""
    for family in FAMILIES:
        if family.matches(model):
            return family
    return None


def _pyramid(backbone):
    """The backbone's image input and its `[P2, P3, P4, P5]` tensors."""
    image_input = _image_input(backbone)
    family = backbone_family(backbone)
    if family is None:
        raise ValueError(
            f"Found no feature pyramid in `backbone` `{backbone.name}` (class "
            f"`{type(backbone).__name__}`): it has neither KerasHub's "
            "`pyramid_outputs` nor KerasCV's `pyramid_level_inputs`, and is not "
            "a keras.applications ResNet, ResNetV2, EfficientNetV2, ConvNeXt "
            "or MobileNetV3. A backbone with feature maps at strides 4, 8, 16 "
            "and 32 is needed."
        )
    candidates = family.pyramid_candidates(backbone)
    strides = _measure_strides(image_input, [tensor for _, tensor in candidates])
    by_stride = {}
    for (_, tensor), stride in zip(candidates, strides):
        if stride in PYRAMID_STRIDES:
            by_stride[stride] = tensor
    missing = [s for s in PYRAMID_STRIDES if s not in by_stride]
    if missing:
        raise ValueError(
            f"`backbone` `{backbone.name}` has no usable stride-4, 8, 16, 32 "
            f"pyramid (P2-P5). Its {family.NAME} pyramid has "
            f"{_describe(candidates, strides)}; missing strides: {missing}."
        )
    return image_input, [by_stride[s] for s in PYRAMID_STRIDES]


def _image_input(backbone):
    if not isinstance(backbone, keras.Model):
        raise ValueError(
            "`backbone` must be a `keras.Model`. "
            f"Received: backbone={backbone!r} of type {type(backbone).__name__}"
        )
    try:
        inputs = backbone.inputs
    except AttributeError:
        inputs = None
    if not inputs or len(inputs) != 1:
        raise ValueError(
            "`backbone` must be a functional model with exactly one image "
            f"input. Received: `{backbone.name}` with inputs={inputs}"
        )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(
            "`backbone` must take channels-last RGB images, shape "
            f"(batch, height, width, 3). Received input shape {shape}"
        )
    return inputs[0]


def _measure_strides(image_input, tensors):
    """Each tensor's stride: an int, a float ratio when it is not a power of
    2, or `None` when the tensor is not a `(batch, height, width, channels)`
    map."""
    if not tensors:
        return []
    _, height, width, channels = image_input.shape
    height, width = height or _PROBE_SIZE, width or _PROBE_SIZE
    probe = keras.Model(image_input, tensors)
    specs = probe.compute_output_spec(
        keras.KerasTensor((1, height, width, channels), dtype=image_input.dtype)
    )
    return [_stride(height, width, spec.shape) for spec in specs]


def _stride(height, width, shape):
    if len(shape) != 4 or not shape[1] or not shape[2]:
        return None
    ratio = height / shape[1]
    if ratio < 1:
        return round(ratio, 2)
    stride = 2 ** round(math.log2(ratio))
    # Padding rounds each side to floor or ceil of size / stride.
    for size, out in ((height, shape[1]), (width, shape[2])):
        if out not in (size // stride, -(-size // stride)):
            return round(ratio, 1)
    return stride


def _describe(candidates, strides):
    if not candidates:
        return "no levels"
    if len(candidates) <= 8:
        levels = ", ".join(
            f"{label!r} ({_describe_stride(stride)})"
            for (label, _), stride in zip(candidates, strides)
        )
        return f"levels {levels}"
    found = sorted({s for s in strides if s is not None})
    return f"{len(candidates)} block outputs at strides {found}"


def _describe_stride(stride):
    if stride is None:
        return "not a (batch, height, width, channels) feature map"
    if isinstance(stride, float):
        return f"stride ~{stride}, not a power of 2"
    return f"stride {stride}"
