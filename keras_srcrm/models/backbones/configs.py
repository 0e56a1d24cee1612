"""Named backbone configurations that build offline, with random weights."""

import copy
import dataclasses

from keras_srcrm.models.backbones import keras_cv_family
from keras_srcrm.models.backbones import keras_hub_family
from keras_srcrm.models.backbones.input_shapes import check_input_shape


@dataclasses.dataclass(frozen=True)
class BackboneConfig:
    """A backbone class and the arguments that build it.

    Attributes:
        library: `"keras_hub"` or `"keras_cv"`.
        class_name: The backbone class in `keras_hub.models` or
            `keras_cv.models`.
        kwargs: Constructor arguments, without the input shape.
        input_shape: The input shape used when none is given: `None`
            height and width, except for MiT, which needs a static square.
        description: One line for documentation and error messages.
    """

    library: str
    class_name: str
    kwargs: dict
    input_shape: tuple
    description: str


_DYNAMIC = (None, None, 3)

_RESNET18_HUB = {
    "input_conv_filters": [64],
    "input_conv_kernel_sizes": [7],
    "stackwise_num_filters": [64, 128, 256, 512],
    "stackwise_num_blocks": [2, 2, 2, 2],
    "stackwise_num_strides": [1, 2, 2, 2],
    "block_type": "basic_block",
    "use_pre_activation": False,
}

_RESNET_BOTTLENECK_HUB = {
    "input_conv_filters": [64],
    "input_conv_kernel_sizes": [7],
    "stackwise_num_filters": [64, 128, 256, 512],
    "stackwise_num_strides": [1, 2, 2, 2],
    "block_type": "bottleneck_block",
    "use_pre_activation": False,
}

BACKBONE_CONFIGS = {
    "hub_resnet18": BackboneConfig(
        "keras_hub",
        "ResNetBackbone",
        _RESNET18_HUB,
        _DYNAMIC,
        "ResNet-18, the architecture of the KerasHub preset "
        "`resnet_18_imagenet` (11.2M parameters).",
    ),
    "hub_resnet50": BackboneConfig(
        "keras_hub",
        "ResNetBackbone",
        {**_RESNET_BOTTLENECK_HUB, "stackwise_num_blocks": [3, 4, 6, 3]},
        _DYNAMIC,
        "ResNet-50, the architecture of the KerasHub preset "
        "`resnet_50_imagenet` (23.5M parameters).",
    ),
    "hub_resnet101": BackboneConfig(
        "keras_hub",
        "ResNetBackbone",
        {**_RESNET_BOTTLENECK_HUB, "stackwise_num_blocks": [3, 4, 23, 3]},
        _DYNAMIC,
        "ResNet-101, the architecture of the KerasHub preset "
        "`resnet_101_imagenet` (42.5M parameters).",
    ),
    "cv_resnet18": BackboneConfig(
        "keras_cv",
        "ResNetBackbone",
        {
            "stackwise_filters": [64, 128, 256, 512],
            "stackwise_blocks": [2, 2, 2, 2],
            "stackwise_strides": [1, 2, 2, 2],
            "block_type": "basic_block",
            "include_rescaling": True,
        },
        _DYNAMIC,
        "ResNet-18, the architecture of the KerasCV preset `resnet18` "
        "(11.2M parameters), rescaling its own inputs.",
    ),
    "hub_resnet_mini": BackboneConfig(
        "keras_hub",
        "ResNetBackbone",
        {
            **_RESNET18_HUB,
            "input_conv_kernel_sizes": [3],
            "stackwise_num_filters": [64, 32, 32, 32],
            "stackwise_num_blocks": [1, 1, 1, 1],
        },
        _DYNAMIC,
        "Test-sized KerasHub ResNet (0.15M parameters).",
    ),
    "hub_resnet_v2_mini": BackboneConfig(
        "keras_hub",
        "ResNetBackbone",
        {
            **_RESNET18_HUB,
            "input_conv_kernel_sizes": [3],
            "stackwise_num_filters": [64, 32, 32, 32],
            "stackwise_num_blocks": [1, 1, 1, 1],
            "use_pre_activation": True,
        },
        _DYNAMIC,
        "Test-sized KerasHub pre-activation ResNet (ResNetV2, 0.15M parameters).",
    ),
    "hub_mit_mini": BackboneConfig(
        "keras_hub",
        "MiTBackbone",
        {
            "layerwise_depths": [1, 1, 1, 1],
            "num_layers": 4,
            "layerwise_num_heads": [1, 1, 1, 1],
            "layerwise_sr_ratios": [8, 4, 2, 1],
            "max_drop_path_rate": 0.0,
            "layerwise_patch_sizes": [7, 3, 3, 3],
            "layerwise_strides": [4, 2, 2, 2],
            "hidden_dims": [16, 16, 16, 16],
        },
        (64, 64, 3),
        "Test-sized KerasHub MiT (0.05M parameters); static square input.",
    ),
    "hub_cspnet_mini": BackboneConfig(
        "keras_hub",
        "CSPNetBackbone",
        {
            "stem_filters": 8,
            "stem_kernel_size": 3,
            "stem_strides": 2,
            "stackwise_depth": [1, 1, 1, 1],
            "stackwise_strides": [2, 2, 2, 2],
            "stackwise_num_filters": [16, 32, 48, 64],
            "block_type": "dark_block",
            "stage_type": "csp",
            "bottle_ratio": [0.5, 1.0],
            "block_ratio": [1.0, 0.5],
            "expand_ratio": [2.0, 1.0],
            "down_growth": True,
            # A strided stem with "same" padding is padded twice by KerasHub
            # 0.32 (33x33 from 64x64), which shifts every later level.
            "stem_padding": "valid",
        },
        _DYNAMIC,
        "Test-sized KerasHub CSPNet, CSPDarkNet-style (0.09M parameters).",
    ),
    "hub_densenet_mini": BackboneConfig(
        "keras_hub",
        "DenseNetBackbone",
        {
            "stackwise_num_repeats": [1, 1, 1, 1],
            "growth_rate": 8,
            "compression_ratio": 0.5,
        },
        _DYNAMIC,
        "Test-sized KerasHub DenseNet (0.03M parameters).",
    ),
    "hub_efficientnet_mini": BackboneConfig(
        "keras_hub",
        "EfficientNetBackbone",
        {
            "stackwise_width_coefficients": [1.0] * 5,
            "stackwise_depth_coefficients": [1.0] * 5,
            "stackwise_kernel_sizes": [3] * 5,
            "stackwise_num_repeats": [1] * 5,
            "stackwise_input_filters": [8, 8, 16, 16, 24],
            "stackwise_output_filters": [8, 16, 16, 24, 32],
            "stackwise_expansion_ratios": [1, 2, 2, 2, 2],
            "stackwise_squeeze_and_excite_ratios": [0.0] * 5,
            "stackwise_strides": [1, 2, 2, 2, 2],
            "stackwise_block_types": ["v1"] * 5,
            "stackwise_force_input_filters": [0] * 5,
            "stackwise_nores_option": [False] * 5,
            # `num_features` keeps its default: KerasHub 0.32 leaves it out of
            # `get_config()`, so a saved model comes back with 1280.
        },
        _DYNAMIC,
        "Test-sized KerasHub EfficientNet (0.05M parameters, most of them in "
        "the 1280-channel top).",
    ),
    "cv_resnet_v2_mini": BackboneConfig(
        "keras_cv",
        "ResNetV2Backbone",
        {
            "stackwise_filters": [64, 32, 32, 32],
            # One block per stack collides on layer names in KerasCV 0.9.
            "stackwise_blocks": [2, 2, 2, 2],
            "stackwise_strides": [1, 2, 2, 2],
            "block_type": "basic_block",
            "include_rescaling": True,
        },
        _DYNAMIC,
        "Test-sized KerasCV ResNetV2 (0.28M parameters).",
    ),
    "cv_mit_mini": BackboneConfig(
        "keras_cv",
        "MiTBackbone",
        {
            "depths": [1, 1, 1, 1],
            # KerasCV fixes the heads to (1, 2, 5, 8); dims must divide.
            "embedding_dims": [8, 16, 40, 64],
            "include_rescaling": True,
        },
        (64, 64, 3),
        "Test-sized KerasCV MiT (0.13M parameters); static square input.",
    ),
    "cv_csp_darknet_mini": BackboneConfig(
        "keras_cv",
        "CSPDarkNetBackbone",
        {
            "stackwise_channels": [16, 24, 32, 48],
            "stackwise_depth": [1, 1, 1, 1],
            "include_rescaling": True,
        },
        _DYNAMIC,
        "Test-sized KerasCV CSPDarkNet (0.05M parameters).",
    ),
    "cv_efficientnetv2_mini": BackboneConfig(
        "keras_cv",
        "EfficientNetV2Backbone",
        {
            "width_coefficient": 1.0,
            "depth_coefficient": 1.0,
            "stackwise_kernel_sizes": [3, 3, 3, 3, 3],
            "stackwise_num_repeats": [1, 1, 1, 1, 1],
            "stackwise_input_filters": [16, 16, 16, 24, 32],
            "stackwise_output_filters": [16, 16, 24, 32, 48],
            "stackwise_expansion_ratios": [1, 2, 2, 2, 2],
            "stackwise_squeeze_and_excite_ratios": [0, 0, 0, 0, 0],
            "stackwise_strides": [1, 2, 2, 2, 2],
            "stackwise_conv_types": ["fused"] * 5,
            "include_rescaling": True,
        },
        _DYNAMIC,
        "Test-sized KerasCV EfficientNetV2, fused blocks only (0.11M "
        "parameters, most of them in the fixed 1280-channel top).",
    ),
    "cv_mobilenet_v3_mini": BackboneConfig(
        "keras_cv",
        "MobileNetV3Backbone",
        {
            "stackwise_expansion": [1, 2, 2, 2],
            "stackwise_filters": [16, 16, 24, 32],
            "stackwise_kernel_size": [3, 3, 3, 3],
            "stackwise_stride": [2, 2, 2, 2],
            "stackwise_se_ratio": [0.25, None, 0.25, 0.25],
            "stackwise_activation": ["relu", "relu", "hard_swish", "hard_swish"],
            "include_rescaling": True,
        },
        _DYNAMIC,
        "Test-sized KerasCV MobileNetV3 (0.02M parameters).",
    ),
}


def backbone_from_config(name, input_shape=None):
    """Builds a named backbone configuration with random weights, offline.

    The configurations cover the lightweight ResNet-18 variant
    (`"hub_resnet18"`, `"cv_resnet18"`, the architectures of the KerasHub
    preset `resnet_18_imagenet` and the KerasCV preset `resnet18`) and
    test-sized `*_mini` models of every KerasHub and KerasCV family this
    library supports. Nothing is downloaded.

    Args:
        name: A key of `BACKBONE_CONFIGS`.
        input_shape: Optional `(height, width, 3)`. Defaults to the
            configuration's own, `(None, None, 3)` except for MiT, which
            needs a static square shape such as `(512, 512, 3)`.

    Returns:
        The backbone `keras.Model`, randomly initialised.

    Raises:
        ValueError: If `name` is unknown, or `input_shape` is not a valid
            shape for the configuration.

    Example:

    ```python
    backbone = backbone_from_config("hub_resnet18")
    extractor = pyramid_feature_extractor(backbone)
    ```
    """
    if name not in BACKBONE_CONFIGS:
        raise ValueError(
            f"Unknown backbone configuration `name={name!r}`. Expected one "
            f"of {sorted(BACKBONE_CONFIGS)}."
        )
    config = BACKBONE_CONFIGS[name]
    input_shape = tuple(config.input_shape if input_shape is None else input_shape)
    check_input_shape(input_shape, config.class_name, config.library)
    kwargs = copy.deepcopy(config.kwargs)  # Backbones keep their list arguments.
    if config.library == "keras_hub":
        cls = getattr(keras_hub_family.import_keras_hub().models, config.class_name)
        shape_argument = keras_hub_family.shape_argument(cls)
        return cls(**kwargs, **{shape_argument: input_shape})
    models = keras_cv_family.import_keras_cv().models
    return getattr(models, config.class_name)(**kwargs, input_shape=input_shape)
