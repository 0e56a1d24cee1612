"""The input scaling each backbone family expects from raw RGB pixels."""

import numbers
import os

import keras
from keras import ops

from keras_srcrm.models.backbones import keras_hub_family
from keras_srcrm.models.backbones.pyramid import backbone_family
from keras_srcrm.utils.validation import check_choice

_CHANNEL_ORDERS = ("rgb", "bgr")


@keras.saving.register_keras_serializable(package="keras_srcrm")
class ImageNormalization(keras.layers.Layer):
    """Maps raw RGB pixels to the input scale a backbone was trained on.

    Computes `x[..., order] * scale + offset`, where `order` reverses the
    channels when `channel_order="bgr"` (Caffe-style models such as
    `keras.applications.ResNet50`). `scale` and `offset` are either scalars or
    one value per channel, given in the backbone's channel order. The layer
    has no weights; with the defaults it only casts to the compute dtype.

    This is the same affine map as KerasHub's `ImageConverter` (without the
    resizing), so `scale=1 / (255 * std)` and `offset=-mean / std` reproduce
    the usual ImageNet normalisation.

    Args:
        scale: float or sequence of 3 floats. Multiplies the pixels.
        offset: float or sequence of 3 floats. Added after scaling.
        channel_order: `"rgb"` or `"bgr"`. The channel order the backbone
            expects; the inputs are always RGB.
        **kwargs: Base layer arguments, e.g. `name` or `dtype`.

    Input shape:
        `(..., 3)` RGB images, channels last, any float or integer dtype.

    Output shape:
        Same as the input, in the layer's compute dtype.

    Example:

    ```python
    # ImageNet mean/std, as KerasHub's ResNet presets expect.
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    layer = ImageNormalization(
        scale=[1 / (255 * s) for s in std],
        offset=[-m / s for m, s in zip(mean, std)],
    )
    layer(np.full((1, 8, 8, 3), 255.0))
    ```
    """

    def __init__(self, scale=1.0, offset=0.0, channel_order="rgb", **kwargs):
        super().__init__(**kwargs)
        check_choice("channel_order", channel_order, _CHANNEL_ORDERS)
        self.scale = _standardize_factor(scale, "scale")
        self.offset = _standardize_factor(offset, "offset")
        self.channel_order = channel_order

    def build(self, input_shape):
        if input_shape[-1] not in (None, 3):
            raise ValueError(
                "`ImageNormalization` expects channels-last RGB images, "
                f"(..., 3). Received: input_shape={input_shape}"
            )

    @property
    def is_identity(self):
        """Whether the layer leaves the pixel values unchanged."""
        return (
            self.channel_order == "rgb"
            and _all_equal(self.scale, 1.0)
            and _all_equal(self.offset, 0.0)
        )

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.channel_order == "bgr":
            x = ops.flip(x, axis=-1)
        if not _all_equal(self.scale, 1.0):
            x = x * ops.convert_to_tensor(self.scale, dtype=self.compute_dtype)
        if not _all_equal(self.offset, 0.0):
            x = x + ops.convert_to_tensor(self.offset, dtype=self.compute_dtype)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "scale": self.scale,
                "offset": self.offset,
                "channel_order": self.channel_order,
            }
        )
        return config


def backbone_preprocessing(backbone, preset=None, name=None):
    """Returns the layer that turns raw `[0, 255]` RGB pixels into backbone input.

    Each family is handled from its own source:

    - `keras.applications` ResNet (V1): Caffe style, RGB to BGR then minus
      the ImageNet BGR mean `(103.939, 116.779, 123.68)`, no scaling.
    - `keras.applications` ResNetV2: `x / 127.5 - 1`.
    - `keras.applications` EfficientNetV2, ConvNeXt and MobileNetV3 built with
      `include_preprocessing=True` (the default) normalise inside the model,
      so the layer is the identity. Built with `include_preprocessing=False`,
      the layer reproduces what the model would have done: ImageNet mean/std
      (EfficientNetV2-B*, ConvNeXt), `x / 128 - 1` (EfficientNetV2-S/M/L) or
      `x / 127.5 - 1` (MobileNetV3).
    - KerasCV backbones built with `include_rescaling=True` rescale inside
      the model (identity here); otherwise the layer divides by 255.
    - KerasHub backbones: what the preset's `ImageConverter` does (scale and
      offset, no resizing) when `preset` names it: a local directory is
      read offline, a preset name or handle may download the converter's
      config. Without `preset`, the ImageNet mean/std that all ResNet, MiT,
      CSPNet and DenseNet presets use. Two EfficientNet presets differ
      (`efficientnet_b0_ra4_e3600_r224_imagenet` and
      `efficientnet_b1_ra4_e3600_r240_imagenet` use mean = std = 0.5): pass
      `preset` for those. `SRCRMSegmenter.from_preset` passes it for you.

    Args:
        backbone: A backbone `keras.Model` from one of the families above.
        preset: Optional KerasHub preset the backbone came from: a preset
            name, a Kaggle/Hugging Face handle or a local preset directory
            with an `image_converter.json`. Ignored for other families.
        name: Optional name of the returned layer.

    Returns:
        An `ImageNormalization` layer that expects RGB pixels in `[0, 255]`.

    Raises:
        ValueError: If the backbone's family is not recognised, so its input
            scaling is unknown.

    Example:

    ```python
    backbone = keras.applications.ResNet50(include_top=False, weights=None)
    preprocessing = backbone_preprocessing(backbone)
    features = backbone(preprocessing(images))
    ```
    """
    family = backbone_family(backbone)
    if family is None:
        raise ValueError(
            "Cannot tell which input scaling `backbone` expects: "
            f"`{backbone.name}` (class `{type(backbone).__name__}`) is not a "
            "KerasHub or KerasCV backbone nor a recognised keras.applications "
            "model. Build an `ImageNormalization(scale=..., offset=...)` "
            "for it directly."
        )
    if family.NAME == "keras_hub" and preset is not None:
        spec = _keras_hub_preset_spec(os.fspath(preset))
    else:
        spec = family.preprocessing(backbone)
    return ImageNormalization(**spec, name=name)


def _keras_hub_preset_spec(preset):
    """The scale and offset of a KerasHub preset's image converter."""
    if os.path.isdir(preset) and not os.path.exists(
        os.path.join(preset, "image_converter.json")
    ):
        raise ValueError(
            f"The preset directory `preset={preset!r}` has no "
            "`image_converter.json`, so its input scaling is unknown. Call "
            "`backbone_preprocessing(backbone)` without `preset` for the "
            "ImageNet default."
        )
    # KerasHub reads local directories without downloading, and converts the
    # `mean`/`variance` arguments of older presets to `scale`/`offset`.
    keras_hub = keras_hub_family.import_keras_hub()
    converter = keras_hub.layers.ImageConverter.from_preset(preset)
    return {
        "scale": 1.0 if converter.scale is None else converter.scale,
        "offset": 0.0 if converter.offset is None else converter.offset,
    }


def _standardize_factor(value, argument):
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        values = None
    if values is None or len(values) != 3:
        raise ValueError(
            f"`{argument}` must be a float or a sequence of 3 floats (one per "
            f"channel). Received: {argument}={value!r}"
        )
    return values


def _all_equal(value, target):
    values = value if isinstance(value, list) else [value]
    return all(v == target for v in values)
