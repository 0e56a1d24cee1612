"""`keras.applications` models, recognised by the layer names Keras gives them."""

import re

import keras

NAME = "keras.applications"

# Constructor name -> architecture.
CONSTRUCTORS = {
    "ResNet50": "resnet",
    "ResNet101": "resnet",
    "ResNet152": "resnet",
    "ResNet50V2": "resnet_v2",
    "ResNet101V2": "resnet_v2",
    "ResNet152V2": "resnet_v2",
    "EfficientNetV2B0": "efficientnet_v2",
    "EfficientNetV2B1": "efficientnet_v2",
    "EfficientNetV2B2": "efficientnet_v2",
    "EfficientNetV2B3": "efficientnet_v2",
    "EfficientNetV2S": "efficientnet_v2",
    "EfficientNetV2M": "efficientnet_v2",
    "EfficientNetV2L": "efficientnet_v2",
    "ConvNeXtTiny": "convnext",
    "ConvNeXtSmall": "convnext",
    "ConvNeXtBase": "convnext",
    "ConvNeXtLarge": "convnext",
    "ConvNeXtXLarge": "convnext",
    "MobileNetV3Small": "mobilenet_v3",
    "MobileNetV3Large": "mobilenet_v3",
}

# Block outputs: the pyramid level at each stride is the last of these.
# MBConv blocks expand with a 1x1 conv *before* their strided depthwise conv,
# so "the last layer at a stride" would pick the next block's expansion; the
# names select whole-block outputs instead.
_BLOCK_OUTPUTS = {
    "resnet": re.compile(r"conv[2-5]_block\d+_out"),
    "resnet_v2": re.compile(r"conv[2-5]_block\d+_out|post_relu"),
    "efficientnet_v2": re.compile(r"block\d+[a-z]_(add|project_bn|project_activation)"),
    "mobilenet_v3": re.compile(r"expanded_conv(_\d+)?_(add|project_bn)"),
}

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# `keras.applications.imagenet_utils.preprocess_input(mode="caffe")`.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


def architecture(model):
    """The architecture of a `keras.applications` model, or `None`."""
    names = {layer.name for layer in getattr(model, "layers", ())}
    if "conv1_conv" in names and "conv2_block1_out" in names:
        return "resnet_v2" if "post_relu" in names else "resnet"
    if "stem_conv" in names and "block1a_project_conv" in names:
        # EfficientNet (V1) starts with a depthwise block, V2 with a fused one.
        return None if "block1a_dwconv" in names else "efficientnet_v2"
    if any(re.fullmatch(r".+_stage_0_block_0_depthwise_conv", n) for n in names):
        return "convnext"
    if "expanded_conv_project_bn" in names:
        return "mobilenet_v3"
    return None


def matches(model):
    return architecture(model) is not None


def pyramid_candidates(model):
    """Block outputs of `model` as `(layer name, tensor)` pairs, in order."""
    arch = architecture(model)
    if arch == "convnext":
        # A ConvNeXt stage ends in an unnamed residual add, so every rank-4
        # output counts; the last one at each stride is the stage output (or,
        # at stride 32, the final LayerNormalization).
        return [
            (op.name, op.output)
            for op in model.operations
            if not isinstance(op, keras.layers.InputLayer) and len(op.output.shape) == 4
        ]
    pattern = _BLOCK_OUTPUTS[arch]
    return [
        (layer.name, layer.output)
        for layer in model.layers
        if pattern.fullmatch(layer.name)
    ]


def preprocessing(model):
    """`ImageNormalization` arguments for raw [0, 255] RGB pixels."""
    arch = architecture(model)
    if arch == "resnet":
        return {
            "scale": 1.0,
            "offset": [-m for m in _CAFFE_BGR_MEAN],
            "channel_order": "bgr",
        }
    if arch == "resnet_v2":
        return {"scale": 1.0 / 127.5, "offset": -1.0}
    if _includes_preprocessing(model):
        return {"scale": 1.0, "offset": 0.0}
    if arch == "mobilenet_v3":
        return {"scale": 1.0 / 127.5, "offset": -1.0}
    if arch == "efficientnet_v2" and not _is_efficientnet_v2_b(model):
        return {"scale": 1.0 / 128.0, "offset": -1.0}
    # ConvNeXt and EfficientNetV2-B*: ImageNet mean and std.
    return {
        "scale": [1.0 / (255.0 * s) for s in _IMAGENET_STD],
        "offset": [-m / s for m, s in zip(_IMAGENET_MEAN, _IMAGENET_STD)],
    }


def load(name, load_weights, input_shape):
    """Builds `keras.applications.<name>` without its classification head."""
    constructor = getattr(keras.applications, name)
    return constructor(
        include_top=False,
        weights="imagenet" if load_weights else None,
        input_shape=tuple(input_shape),
    )


def _includes_preprocessing(model):
    """Whether the model was built with `include_preprocessing=True`."""
    preprocessing_layers = (keras.layers.Rescaling, keras.layers.Normalization)
    return any(isinstance(layer, preprocessing_layers) for layer in model.layers)


def _is_efficientnet_v2_b(model):
    # Keras names these models "efficientnetv2-b0" ... "efficientnetv2-s"; the
    # B variants use ImageNet mean/std, S/M/L `x / 128 - 1`.
    name = model.name.lower()
    if not name.startswith("efficientnetv2-"):
        raise ValueError(
            "Cannot tell which EfficientNetV2 variant `model` is (it was built "
            "with `include_preprocessing=False` and renamed to "
            f"{model.name!r}), so its input scaling is unknown. Keep Keras's "
            "default name, or build it with `include_preprocessing=True`."
        )
    return name.split("-")[-1].startswith("b")
