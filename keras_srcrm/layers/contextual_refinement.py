"""The Contextual Refinement Module (CRM)."""

import keras
from keras import ops

from keras_srcrm.layers.attention import ChannelGate
from keras_srcrm.layers.attention import ChannelSelfAttention
from keras_srcrm.layers.attention import SpatialGate
from keras_srcrm.layers.attention import SpatialSelfAttention
from keras_srcrm.layers.common import conv_arguments
from keras_srcrm.layers.common import kernel_arguments_config
from keras_srcrm.layers.common import precise_dtype_policy
from keras_srcrm.layers.conv_bn_act import ConvBNAct
from keras_srcrm.ops.resize import output_size_like
from keras_srcrm.ops.resize import resize_bilinear
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_call_inputs
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_layer_inputs
from keras_srcrm.utils.validation import check_positive_int
from keras_srcrm.utils.validation import check_same_batch

STAGE_NAMES = ("stage_1", "stage_2", "stage_3", "stage_4")
CHANNEL_ATTENTIONS = ("self", "gate", None)
SPATIAL_ATTENTIONS = ("self", "gate", None)


@keras.saving.register_keras_serializable(package="keras_srcrm")
class ContextualRefinementModule(keras.layers.Layer):
    """Contextual Refinement Module: global context across channels and space.

    The CRM (Wang et al., 2024) captures global context along both the channel
    and the spatial dimension. At the coarsest level a feature map has few
    positions but many channels; at the finest, the reverse. To balance the
    two, the CRM aggregates all four backbone stages at one resolution, which
    enriches the channel dimension, then applies channel attention followed by
    spatial attention:

    1. project each stage to `stage_filters` channels (1x1 conv-BN-ReLU);
    2. resize every projection to the resolution of stage `target_level` and
       concatenate them: bilinear upsampling for coarser stages, and for finer
       ones bilinear downsampling through the sizes of the stages in between,
       so that every ~2x step averages 2x2 blocks (an antialiasing pyramid);
    3. channel attention on the concatenation (`channel_attention`);
    4. spatial attention (`spatial_attention`);
    5. a 3x3 conv-BN-ReLU to `filters` channels: the context map.

    The paper leaves the attention operators open; two families are
    available per dimension: `"self"`, global self-attention as in DANet
    (channel affinities; position affinities with queries and keys reduced by
    `reduction`), and `"gate"`, sigmoid gates as in CBAM. Both self-attention
    blocks start as the identity (a zero residual scale). Attention is always
    computed in float32, also under mixed precision.

    Args:
        filters: Channels of the output context map.
        stage_filters: Channels each stage is projected to before the
            concatenation. Defaults to `filters // 4`, so the concatenation
            has `filters` channels.
        target_level: Index (0 to 3) of the stage whose resolution the module
            works at; defaults to 3, the coarsest (stride 32), which keeps
            spatial self-attention affordable.
        channel_attention: `"self"` (default), `"gate"` or None.
        spatial_attention: `"self"` (default), `"gate"` or None.
        reduction: Channel reduction of the spatial self-attention's queries
            and keys, and of the channel gate's MLP. Defaults to 8.
        align_corners: Corner convention of the resizes to the target
            level. Defaults to False, as `keras.ops.image.resize`.
        activation: Activation of the projections. Defaults to `"relu"`.
        kernel_initializer: Initializer of the projection kernels.
        kernel_regularizer: Optional regularizer of every kernel.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: A list of the four backbone stage outputs, finest first
            (strides 4, 8, 16, 32), channels-last, any channel counts.
        training: Whether batch normalisation runs in training mode.

    Output shape:
        `(batch, h, w, filters)` where `h, w` are the spatial sizes of
        `inputs[target_level]`.

    Example:

    >>> crm = ContextualRefinementModule(filters=64)
    >>> stages = [keras.random.normal((2, 64 // s, 64 // s, c))
    ...           for s, c in [(4, 16), (8, 32), (16, 64), (32, 128)]]
    >>> crm(stages).shape
    (2, 2, 2, 64)

    Reference:
        Wang et al., "A Deep Semantic Segmentation Network with Semantic and
        Contextual Refinements", arXiv:2412.08671, 2024.
        Fu et al., "Dual Attention Network for Scene Segmentation", CVPR 2019.
        Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018.
    """

    def __init__(
        self,
        filters,
        stage_filters=None,
        target_level=3,
        channel_attention="self",
        spatial_attention="self",
        reduction=8,
        align_corners=False,
        activation="relu",
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        if stage_filters is None:
            stage_filters = max(filters // 4, 1)
        self.stage_filters = check_positive_int("stage_filters", stage_filters)
        self.target_level = check_choice("target_level", target_level, (0, 1, 2, 3))
        self.channel_attention = check_choice(
            "channel_attention", channel_attention, CHANNEL_ATTENTIONS
        )
        self.spatial_attention = check_choice(
            "spatial_attention", spatial_attention, SPATIAL_ATTENTIONS
        )
        self.reduction = check_positive_int("reduction", reduction)
        self.align_corners = check_bool("align_corners", align_corners)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

        conv_args = conv_arguments(self)
        self.stage_projections = [
            ConvBNAct(stage_filters, 1, name=f"{name}_projection", **conv_args)
            for name in STAGE_NAMES
        ]
        attention_dtype = precise_dtype_policy(self.dtype_policy)
        self.channel_attention_block = None
        if channel_attention == "self":
            self.channel_attention_block = ChannelSelfAttention(
                dtype=attention_dtype, name="channel_attention"
            )
        elif channel_attention == "gate":
            self.channel_attention_block = ChannelGate(
                reduction=reduction,
                kernel_regularizer=self.kernel_regularizer,
                dtype=attention_dtype,
                name="channel_attention",
            )
        self.spatial_attention_block = None
        if spatial_attention == "self":
            self.spatial_attention_block = SpatialSelfAttention(
                reduction=reduction,
                kernel_regularizer=self.kernel_regularizer,
                dtype=attention_dtype,
                name="spatial_attention",
            )
        elif spatial_attention == "gate":
            self.spatial_attention_block = SpatialGate(
                kernel_regularizer=self.kernel_regularizer,
                dtype=attention_dtype,
                name="spatial_attention",
            )
        self.output_projection = ConvBNAct(
            filters, 3, name="output_projection", **conv_args
        )

    def build(self, input_shape):
        shapes = check_layer_inputs(self, input_shape, STAGE_NAMES)
        check_same_batch(self, shapes, STAGE_NAMES)
        for projection, shape in zip(self.stage_projections, shapes):
            projection.build(shape)
        target = shapes[self.target_level]
        enriched = tuple(target[:3]) + (4 * self.stage_filters,)
        for block in (self.channel_attention_block, self.spatial_attention_block):
            if block is not None:
                block.build(enriched)
        self.output_projection.build(enriched)

    def call(self, inputs, training=None):
        check_call_inputs(self, inputs, STAGE_NAMES)
        projected = [
            projection(stage, training=training)
            for projection, stage in zip(self.stage_projections, inputs)
        ]
        sizes = [output_size_like(stage) for stage in inputs]
        resized = []
        for level, x in enumerate(projected):
            # Downsampling goes one level at a time: a ~2x bilinear step
            # averages 2x2 blocks, so the chain is an antialiasing pyramid
            # (which, unlike an antialiased resize, XLA compiles on every
            # backend).
            for step in range(level + 1, self.target_level + 1):
                x = resize_bilinear(x, sizes[step], align_corners=self.align_corners)
            if level > self.target_level:
                x = resize_bilinear(
                    x, sizes[self.target_level], align_corners=self.align_corners
                )
            resized.append(x)
        x = ops.concatenate(resized, axis=-1)
        if self.channel_attention_block is not None:
            x = ops.cast(self.channel_attention_block(x), self.compute_dtype)
        if self.spatial_attention_block is not None:
            x = ops.cast(self.spatial_attention_block(x), self.compute_dtype)
        return self.output_projection(x, training=training)

    def compute_output_shape(self, input_shape):
        target = input_shape[self.target_level]
        batch = next((s[0] for s in input_shape if s[0] is not None), None)
        return (batch, target[1], target[2], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "stage_filters": self.stage_filters,
                "target_level": self.target_level,
                "channel_attention": self.channel_attention,
                "spatial_attention": self.spatial_attention,
                "reduction": self.reduction,
                "align_corners": self.align_corners,
                **kernel_arguments_config(self),
            }
        )
        return config
