"""The plain FPN top-down step: the SRM's ablation baseline."""

import keras

from keras_srcrm.layers.common import conv_arguments
from keras_srcrm.layers.common import kernel_arguments_config
from keras_srcrm.layers.conv_bn_act import ConvBNAct
from keras_srcrm.ops.resize import output_size_like
from keras_srcrm.ops.resize import resize_bilinear
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_call_inputs
from keras_srcrm.utils.validation import check_layer_inputs
from keras_srcrm.utils.validation import check_positive_int
from keras_srcrm.utils.validation import check_same_batch

INPUT_NAMES = ("high_level", "low_level")


@keras.saving.register_keras_serializable(package="keras_srcrm")
class FPNFusion(keras.layers.Layer):
    """One top-down step of a feature pyramid network, by bilinear upsampling.

    Projects the low-level map to `filters` channels (1x1 conv-BN-ReLU), and
    the high-level map too when its channel count differs, upsamples the
    high-level map bilinearly to the low-level map's size and adds the two.
    It takes the same inputs and arguments as `SemanticRefinementModule`, of
    which it is the ablation: an SRM whose offsets are always zero, without
    the offset predictor's parameters and compute.

    Args:
        filters: Channels of the output.
        align_corners: Corner convention of the upsampling. Defaults to
            False, as `keras.ops.image.resize`.
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
        activation="relu",
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.align_corners = check_bool("align_corners", align_corners)
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

    def build(self, input_shape):
        high_shape, low_shape = check_layer_inputs(self, input_shape, INPUT_NAMES)
        check_same_batch(self, input_shape, INPUT_NAMES)
        self.low_projection.build(low_shape)
        if high_shape[-1] != self.filters:
            self.high_projection = ConvBNAct(
                self.filters, 1, name="high_projection", **conv_arguments(self)
            )
            self.high_projection.build(high_shape)

    def call(self, inputs, training=None):
        low, upsampled = self._project_and_upsample(inputs, training)
        return low + upsampled

    def _project_and_upsample(self, inputs, training):
        """The projected low-level map and the upsampled high-level map."""
        check_call_inputs(self, inputs, INPUT_NAMES)
        high, low = inputs
        low = self.low_projection(low, training=training)
        if self.high_projection is not None:
            high = self.high_projection(high, training=training)
        upsampled = resize_bilinear(
            high, output_size_like(low), align_corners=self.align_corners
        )
        return low, upsampled

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
                **kernel_arguments_config(self),
            }
        )
        return config
