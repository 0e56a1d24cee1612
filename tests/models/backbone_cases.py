"""One small backbone per supported family, and what each must produce.

Shared by the backbone tests; the segmenter tests can reuse `CASES` to run
on every family. Every model is built from a config with random weights.
"""

import dataclasses
from collections.abc import Callable

import keras
import numpy as np

from keras_srcrm.models import backbone_from_config

# Two sizes divisible by 32 and one that is not.
SIZES = ((64, 64), (96, 160), (100, 70))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def ceil_rule(size, stride):
    """Every strided layer pads like "same": `ceil(size / stride)`."""
    return -(-size // stride)


def floor_rule(size, stride):
    """Every strided layer is "valid" with kernel == stride: `floor`."""
    return size // stride


def stem_ceil_then_floor_rule(size, stride):
    """A "same" stride-2 stem, then `correct_pad` blocks that floor when the
    size is `None` at build time: `floor(ceil(size / 2) / (stride / 2))`,
    which equals `floor((size + 1) / stride)`."""
    return (size + 1) // stride


def stem_ceil_to_4_then_floor_rule(size, stride):
    """A "same" stride-4 stem, then "valid" 2x2 average pools (DenseNet):
    `floor(ceil(size / 4) / (stride / 4))`."""
    return -(-size // 4) // (stride // 4)


def identity_reference(backbone, images):
    return images


def keras_hub_reference(backbone, images):
    import keras_hub

    converter = keras_hub.layers.ImageConverter(
        scale=1.0 / 255.0,
        mean=IMAGENET_MEAN,
        variance=[s**2 for s in IMAGENET_STD],
    )
    return converter(images)


def resnet_reference(backbone, images):
    return keras.applications.resnet.preprocess_input(images.copy())


def resnet_v2_reference(backbone, images):
    return keras.applications.resnet_v2.preprocess_input(images.copy())


def efficientnet_v2_reference(backbone, images):
    return keras.applications.efficientnet_v2.preprocess_input(images.copy())


def convnext_reference(backbone, images):
    return keras.applications.convnext.preprocess_input(images.copy())


def mobilenet_v3_reference(backbone, images):
    return keras.applications.mobilenet_v3.preprocess_input(images.copy())


def resnet_mini(version=1):
    """`keras.applications` ResNet (V1) or ResNetV2, one or two blocks a stage.

    Built by the functions `ResNet50` and `ResNet50V2` are built with, so the
    layer names are the same; `ResNet50` itself (23M parameters) is slow to
    build, save and reload under JAX on a small CPU.
    """
    from keras.src.applications import resnet

    stack = {
        1: resnet.stack_residual_blocks_v1,
        2: resnet.stack_residual_blocks_v2,
    }[version]
    # ResNetV2 strides in a stage's last block: it needs two blocks a stage.
    blocks = version

    def stack_fn(x):
        x = stack(x, 8, blocks, stride1=1 if version == 1 else 2, name="conv2")
        x = stack(x, 16, blocks, name="conv3")
        x = stack(x, 24, blocks, name="conv4")
        return stack(x, 32, blocks, stride1=2 if version == 1 else 1, name="conv5")

    return resnet.ResNet(
        stack_fn,
        preact=version == 2,
        use_bias=True,
        include_top=False,
        weights=None,
        input_shape=(None, None, 3),
        name="resnet50" if version == 1 else "resnet50v2",
    )


def efficientnet_v2_mini(variant="b0", strides=(1, 2, 2, 2, 2)):
    """`keras.applications` EfficientNetV2 with one block per stage.

    `EfficientNetV2B0` takes most of a minute to build under JAX on a small
    CPU; Keras's generic constructor builds the same kind of model, with the
    same layer names, from a short block list. `variant` sets the model name,
    which Keras uses to choose the built-in preprocessing.
    """
    from keras.src.applications.efficientnet_v2 import EfficientNetV2

    filters = (8, 8, 16, 16, 24, 32)
    blocks = [
        {
            "kernel_size": 3,
            "num_repeat": 1,
            "input_filters": filters[i],
            "output_filters": filters[i + 1],
            "expand_ratio": 1 if i == 0 else 2,
            "se_ratio": 0.0 if i < 3 else 0.25,
            "strides": stride,
            "conv_type": 1 if i < 3 else 0,
        }
        for i, stride in enumerate(strides)
    ]
    return EfficientNetV2(
        width_coefficient=1.0,
        depth_coefficient=1.0,
        default_size=64,
        blocks_args=blocks,
        name=f"efficientnetv2-{variant}",
        include_top=False,
        weights=None,
        input_shape=(None, None, 3),
    )


def mobilenet_v3_small_minimalistic():
    # The minimalistic variant (no squeeze-excite, ReLU) has the same block
    # names and builds in a fifth of the time under JAX.
    return keras.applications.MobileNetV3Small(
        include_top=False,
        weights=None,
        input_shape=(None, None, 3),
        minimalistic=True,
    )


def convnext_mini():
    # `ConvNeXtTiny` has 28M parameters; the generic constructor builds the
    # same architecture (same layer names) at test size.
    from keras.src.applications.convnext import ConvNeXt

    return ConvNeXt(
        depths=[1, 1, 1, 1],
        projection_dims=[8, 16, 24, 32],
        name="convnext_tiny",
        include_top=False,
        input_shape=(None, None, 3),
    )


@dataclasses.dataclass(frozen=True)
class Case:
    """A backbone family under test.

    Attributes:
        id: Test id.
        library: `"keras_hub"`, `"keras_cv"` or `"keras.applications"`.
        build: Builds the backbone.
        channels: Channels of P2, P3, P4, P5.
        size_rule: `(size, stride) -> feature size`, or `None` when the
            backbone only runs at `static_size`.
        reference: `(backbone, images) -> images` as the family itself
            documents its preprocessing of raw [0, 255] pixels.
        static_size: The only input side of a static-shape backbone.
    """

    id: str
    library: str
    build: Callable
    channels: tuple
    size_rule: Callable | None
    reference: Callable
    static_size: int | None = None

    @property
    def sizes(self):
        if self.static_size:
            return ((self.static_size, self.static_size),)
        return SIZES


def _config(name):
    return lambda: backbone_from_config(name)


CASES = (
    Case(
        "hub_resnet18",
        "keras_hub",
        _config("hub_resnet18"),
        (64, 128, 256, 512),
        ceil_rule,
        keras_hub_reference,
    ),
    Case(
        "hub_resnet_v2_mini",
        "keras_hub",
        _config("hub_resnet_v2_mini"),
        (64, 32, 32, 32),
        ceil_rule,
        keras_hub_reference,
    ),
    Case(
        "hub_mit_mini",
        "keras_hub",
        _config("hub_mit_mini"),
        (16, 16, 16, 16),
        None,
        keras_hub_reference,
        static_size=64,
    ),
    Case(
        "hub_cspnet_mini",
        "keras_hub",
        _config("hub_cspnet_mini"),
        (16, 32, 48, 64),
        ceil_rule,
        keras_hub_reference,
    ),
    Case(
        "hub_densenet_mini",
        "keras_hub",
        _config("hub_densenet_mini"),
        (72, 44, 30, 23),
        stem_ceil_to_4_then_floor_rule,
        keras_hub_reference,
    ),
    Case(
        "hub_efficientnet_mini",
        "keras_hub",
        _config("hub_efficientnet_mini"),
        (16, 16, 24, 1280),
        ceil_rule,
        keras_hub_reference,
    ),
    Case(
        "cv_resnet18",
        "keras_cv",
        _config("cv_resnet18"),
        (64, 128, 256, 512),
        ceil_rule,
        identity_reference,
    ),
    Case(
        "cv_resnet_v2_mini",
        "keras_cv",
        _config("cv_resnet_v2_mini"),
        (64, 32, 32, 32),
        ceil_rule,
        identity_reference,
    ),
    Case(
        "cv_mit_mini",
        "keras_cv",
        _config("cv_mit_mini"),
        (8, 16, 40, 64),
        None,
        identity_reference,
        static_size=64,
    ),
    Case(
        "cv_csp_darknet_mini",
        "keras_cv",
        _config("cv_csp_darknet_mini"),
        (16, 24, 32, 48),
        ceil_rule,
        identity_reference,
    ),
    Case(
        "cv_efficientnetv2_mini",
        "keras_cv",
        _config("cv_efficientnetv2_mini"),
        (16, 24, 32, 1280),
        ceil_rule,
        identity_reference,
    ),
    Case(
        "cv_mobilenet_v3_mini",
        "keras_cv",
        _config("cv_mobilenet_v3_mini"),
        (16, 16, 24, 32),
        stem_ceil_then_floor_rule,
        identity_reference,
    ),
    Case(
        "resnet_mini",
        "keras.applications",
        resnet_mini,
        (32, 64, 96, 128),
        ceil_rule,
        resnet_reference,
    ),
    Case(
        "resnet_v2_mini",
        "keras.applications",
        lambda: resnet_mini(version=2),
        (32, 64, 96, 128),
        ceil_rule,
        resnet_v2_reference,
    ),
    Case(
        "efficientnetv2_b0_mini",
        "keras.applications",
        efficientnet_v2_mini,
        (16, 16, 24, 32),
        ceil_rule,
        efficientnet_v2_reference,
    ),
    Case(
        "convnext_mini",
        "keras.applications",
        convnext_mini,
        (8, 16, 24, 32),
        floor_rule,
        convnext_reference,
    ),
    Case(
        "MobileNetV3Small_minimalistic",
        "keras.applications",
        mobilenet_v3_small_minimalistic,
        (16, 24, 48, 96),
        stem_ceil_then_floor_rule,
        mobilenet_v3_reference,
    ),
)


def forward(model, images):
    """Runs `model` on `images` and returns NumPy arrays.

    Under JAX, eager execution compiles every op for every new shape, which
    makes three input sizes of a dozen backbones take minutes on a small CPU;
    `predict_on_batch` compiles each model once per shape instead.
    """
    if keras.backend.backend() == "jax":
        outputs = model.predict_on_batch(images)
    else:
        outputs = model(images)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [keras.ops.convert_to_numpy(output) for output in outputs]


def random_images(rng, height, width, batch=2):
    """Raw RGB pixels in [0, 255], float32."""
    return rng.uniform(0.0, 255.0, size=(batch, height, width, 3)).astype(np.float32)
