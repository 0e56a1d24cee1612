"""The plain FPN top-down step: the SRM's ablation baseline."""

import keras
from keras import ops

from keras_srcrm.layers.common import conv_arguments
from keras_srcrm.layers.common import kernel_arguments_config
from keras_srcrm.layers.conv_bn_act import ConvBNAct
from keras_srcrm.ops import flow_warp
from keras_srcrm.ops.resize import output_size_like
from keras_srcrm.ops.resize import resize_bilinear
from keras_srcrm.ops.sampling import PADDING_MODES
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_call_inputs
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_layer_inputs
from keras_srcrm.utils.validation import check_positive_int
from keras_srcrm.utils.validation import check_same_batch

INPUT_NAMES = ("high_level", "low_level")
FUSIONS = ("add", "concat")
SAMPLE_FROM = ("upsampled", "coarse")


@keras.saving.register_keras_serializable(package="keras_srcrm")
class FPNFusion(keras.layers.Layer):
    """One top-down step of a feature pyramid network, by bilinear upsampling.

    Projects the low-level map to `filters` channels (1x1 conv-BN-ReLU), and
    the high-level map too when its channel count differs, upsamples the
    high-level map bilinearly to the low-level map's size and fuses the two
    (`"add"`, or `"concat"` followed by a 1x1 conv-BN-ReLU).

    It is the ablation of `SemanticRefinementModule`, which extends it: the
    same projections, resizes and fusion, with every offset zero. Built with
    the same arguments, an SRM whose offsets are zero (as at initialisation)
    gives the same output as this layer, which lacks only the offset
    predictor's parameters and compute.

    Args:
        filters: Channels of the output.
        align_corners: Corner convention of the upsampling. Defaults to
            False, as `keras.ops.image.resize`; True matches SFNet and
            `torch.nn.functional.interpolate(align_corners=True)`.
        fusion: `"add"` (default) or `"concat"`.
        sample_from: Where the high-level map is sampled from, as in the SRM:
            `"upsampled"` (the default) resizes it with
            `keras_srcrm.ops.resize_bilinear`; `"coarse"` samples the coarse
            map at the high-resolution grid with `keras_srcrm.ops.flow_warp`
            and zero offsets, which differs from the resize only at borders
            where `padding_mode="zeros"` reaches outside the map.
        padding_mode: The warp's padding for `sample_from="coarse"`:
            `"border"` (default), `"zeros"` or `"reflection"`.
        activation: Activation of the projections. Defaults to `"relu"`.
        kernel_initializer: Initializer of the projection kernels.
        kernel_regularizer: Optional regularizer of the projection kernels.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: A list `[high_level, low_level]`, as for the SRM.
        training: Whether batch normalisation runs in training mode.

    Output shape:
        `(batch, H, W, filters)`, the low-level map's size.

    Example:

    >>> fpn = FPNFusion(filters=64)
    >>> fpn([keras.random.normal((2, 8, 8, 128)),
    ...      keras.random.normal((2, 16, 16, 32))]).shape
    (2, 16, 16, 64)
    """

    def __init__(
        self,
        filters,
        align_corners=False,
        fusion="add",
        sample_from="upsampled",
        padding_mode="border",
        activation="relu",
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.align_corners = check_bool("align_corners", align_corners)
        self.fusion = check_choice("fusion", fusion, FUSIONS)
        self.sample_from = check_choice("sample_from", sample_from, SAMPLE_FROM)
        self.padding_mode = check_choice("padding_mode", padding_mode, PADDING_MODES)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.low_projection = ConvBNAct(
            filters, 1, name="low_projection", **conv_arguments(self)
        )
        # Created in build(), only if the channel counts differ: whether it
        # exists depends on the input shape (as Keras's MultiHeadAttention
        # creates its projections from the shapes it is built with).
        self.high_projection = None
        self.fusion_projection = None
        if fusion == "concat":
            self.fusion_projection = ConvBNAct(
                filters, 1, name="fusion_projection", **conv_arguments(self)
            )

    def build(self, input_shape):
        high_shape, low_shape = check_layer_inputs(self, input_shape, INPUT_NAMES)
        check_same_batch(self, input_shape, INPUT_NAMES)
        self.low_projection.build(low_shape)
        if high_shape[-1] != self.filters:
            self.high_projection = ConvBNAct(
                self.filters, 1, name="high_projection", **conv_arguments(self)
            )
            self.high_projection.build(high_shape)
        if self.fusion_projection is not None:
            self.fusion_projection.build(tuple(low_shape[:3]) + (2 * self.filters,))

    def call(self, inputs, training=None):
        low, high, upsampled = self._project_and_upsample(inputs, training)
        if self.sample_from == "upsampled":
            aligned = upsampled
        else:
            zero = ops.zeros_like(ops.cast(low[..., :1], "float32"))
            aligned = self._sample(high, ops.concatenate([zero, zero], axis=-1))
        return self._fuse(low, aligned, training)

    def _project_and_upsample(self, inputs, training):
        """The projected low-level map, and the projected high-level map at
        its own size and upsampled to the low-level map's."""
        check_call_inputs(self, inputs, INPUT_NAMES)
        high, low = inputs
        low = self.low_projection(low, training=training)
        if self.high_projection is not None:
            high = self.high_projection(high, training=training)
        upsampled = resize_bilinear(
            high, output_size_like(low), align_corners=self.align_corners
        )
        return low, high, upsampled

    def _sample(self, features, offsets):
        """`flow_warp` with this layer's corner and padding conventions."""
        return flow_warp(
            features,
            offsets,
            align_corners=self.align_corners,
            padding_mode=self.padding_mode,
        )

    def _fuse(self, low, aligned, training):
        if self.fusion == "add":
            return low + aligned
        return self.fusion_projection(
            ops.concatenate([low, aligned], axis=-1), training=training
        )

    def compute_output_shape(self, input_shape):
        high_shape, low_shape = input_shape
        batch = low_shape[0] if low_shape[0] is not None else high_shape[0]
        return (batch, low_shape[1], low_shape[2], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "align_corners": self.align_corners,
                "fusion": self.fusion,
                "sample_from": self.sample_from,
                "padding_mode": self.padding_mode,
                **kernel_arguments_config(self),
            }
        )
        return config
