"""The Semantic Refinement Module (SRM)."""

import keras
from keras import ops

from keras_srcrm.layers.common import conv_arguments
from keras_srcrm.layers.common import precise_dtype_policy
from keras_srcrm.layers.conv_bn_act import ConvBNAct
from keras_srcrm.layers.fpn_fusion import FPNFusion
from keras_srcrm.layers.offset_aggregation import AGGREGATION_MODES
from keras_srcrm.layers.offset_aggregation import NeighborOffsetAggregation
from keras_srcrm.ops import flow_warp
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_positive_int

FUSIONS = ("add", "concat")


@keras.saving.register_keras_serializable(package="keras_srcrm")
class SemanticRefinementModule(FPNFusion):
    """Semantic Refinement Module: learned per-pixel alignment when upsampling.

    Restoring the resolution of a high-level feature map by interpolation
    misplaces its semantics by up to a stride, most visibly at object
    boundaries. The SRM (Wang et al., 2024) instead learns, for every pixel of
    the upsampled map, an offset that says where to sample it from, guided by
    the high-resolution features and by the neighbouring offsets:

    1. project the low-level, high-resolution map to `filters` channels
       (1x1 conv-BN-ReLU), and the high-level map too when its channel count
       differs;
    2. upsample the high-level map bilinearly to the high resolution;
    3. predict `offset_groups` offset pairs `(dx, dy)` per pixel with a 3x3
       convolution of both maps concatenated (as SFNet's Flow Alignment
       Module does);
    4. refine each offset with a learned aggregation of its
       `neighbor_kernel_size x neighbor_kernel_size` neighbours
       (`NeighborOffsetAggregation`; `"dynamic"` weights are predicted from
       the same features, `"static"` ones are a learned kernel);
    5. warp the upsampled map by the offsets (`keras_srcrm.ops.flow_warp`,
       bilinear, border padding), one offset pair per channel group;
    6. fuse the result with the projected low-level map (`"add"`, or
       `"concat"` followed by a 1x1 conv-BN-ReLU).

    The offset predictor and the aggregation start at zero, so an untrained
    SRM is exactly bilinear upsampling followed by the fusion. Offsets are in
    pixels of the high-resolution map. Under mixed precision the offsets are
    predicted and refined in float32, since they are sampling positions.

    Where the paper is not specific (the neighbour aggregation, the fusion),
    the choices are arguments; the defaults follow SFNet's FAM, the closest
    published relative.

    Args:
        filters: Channels of the output (and of both projections).
        offset_groups: Number of channel groups, each warped by its own offset
            field; must divide `filters`. Defaults to 1.
        neighbor_kernel_size: Odd size of the offset neighbourhood that each
            offset is refined with; 1 disables the refinement. Defaults to 3.
        neighbor_aggregation: `"dynamic"` (content-aware weights, default) or
            `"static"` (a learned kernel).
        offset_kernel_size: Kernel size of the offset predictor. Defaults to 3.
        align_corners: Corner convention of the bilinear upsampling (and of
            the warp's reflection padding): False (the default) matches
            `keras.ops.image.resize`; True matches SFNet and
            `torch.nn.functional.interpolate(align_corners=True)`.
        fusion: `"add"` (default) or `"concat"`.
        activation: Activation of the projections. Defaults to `"relu"`.
        kernel_initializer: Initializer of the projection kernels.
        kernel_regularizer: Optional regularizer of every kernel.
        return_offsets: If True, the layer also returns the refined offset
            field, for visualisation or auxiliary losses.
        **kwargs: Base layer arguments, e.g. `name`, `dtype`.

    Call arguments:
        inputs: A list `[high_level, low_level]`: the low-resolution,
            high-level map `(batch, h, w, c_high)` and the high-resolution,
            low-level map `(batch, H, W, c_low)`. The sizes are arbitrary (the
            high-resolution map is typically twice as large; sizes need not
            divide).
        training: Whether batch normalisation runs in training mode.

    Output shape:
        `(batch, H, W, filters)`; with `return_offsets=True`, a tuple of that
        and the offsets `(batch, H, W, 2 * offset_groups)` (float32 under
        mixed precision), ordered `[dx_0, dy_0, dx_1, dy_1, ...]`.

    Example:

    >>> srm = SemanticRefinementModule(filters=64)
    >>> high = keras.random.normal((2, 16, 16, 256))
    >>> low = keras.random.normal((2, 32, 32, 64))
    >>> srm([high, low]).shape
    (2, 32, 32, 64)

    Reference:
        Wang et al., "A Deep Semantic Segmentation Network with Semantic and
        Contextual Refinements", arXiv:2412.08671, 2024.
        Li et al., "Semantic Flow for Fast and Accurate Scene Parsing",
        ECCV 2020 (SFNet).
    """

    def __init__(
        self,
        filters,
        offset_groups=1,
        neighbor_kernel_size=3,
        neighbor_aggregation="dynamic",
        offset_kernel_size=3,
        align_corners=False,
        fusion="add",
        activation="relu",
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        return_offsets=False,
        **kwargs,
    ):
        super().__init__(
            filters,
            align_corners=align_corners,
            activation=activation,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            **kwargs,
        )
        offset_groups = check_positive_int("offset_groups", offset_groups)
        if self.filters % offset_groups:
            raise ValueError(
                "`offset_groups` must be a positive int that divides `filters`. "
                f"Received: offset_groups={offset_groups}, filters={filters}"
            )
        self.offset_groups = offset_groups
        self.neighbor_kernel_size = check_positive_int(
            "neighbor_kernel_size", neighbor_kernel_size
        )
        if neighbor_kernel_size % 2 == 0:
            raise ValueError(
                "`neighbor_kernel_size` must be a positive odd int. "
                f"Received: neighbor_kernel_size={neighbor_kernel_size}"
            )
        self.neighbor_aggregation = check_choice(
            "neighbor_aggregation", neighbor_aggregation, AGGREGATION_MODES
        )
        self.offset_kernel_size = check_positive_int(
            "offset_kernel_size", offset_kernel_size
        )
        self.fusion = check_choice("fusion", fusion, FUSIONS)
        self.return_offsets = check_bool("return_offsets", return_offsets)

        offset_dtype = precise_dtype_policy(self.dtype_policy)
        self.offset_predictor = keras.layers.Conv2D(
            2 * offset_groups,
            offset_kernel_size,
            padding="same",
            kernel_initializer="zeros",
            bias_initializer="zeros",
            kernel_regularizer=self.kernel_regularizer,
            dtype=offset_dtype,
            name="offset_predictor",
        )
        self.offset_aggregation = None
        if neighbor_kernel_size != 1:
            self.offset_aggregation = NeighborOffsetAggregation(
                kernel_size=neighbor_kernel_size,
                offset_groups=offset_groups,
                mode=neighbor_aggregation,
                kernel_regularizer=self.kernel_regularizer,
                dtype=offset_dtype,
                name="offset_aggregation",
            )
        self.fusion_projection = None
        if fusion == "concat":
            self.fusion_projection = ConvBNAct(
                filters, 1, name="fusion_projection", **conv_arguments(self)
            )

    def build(self, input_shape):
        super().build(input_shape)
        _, low_shape = input_shape
        guide_shape = tuple(low_shape[:3]) + (2 * self.filters,)
        self.offset_predictor.build(guide_shape)
        if self.offset_aggregation is not None:
            self.offset_aggregation.build(
                tuple(low_shape[:3]) + (2 * self.offset_groups,), guide_shape
            )
        if self.fusion_projection is not None:
            self.fusion_projection.build(guide_shape)

    def call(self, inputs, training=None):
        low, upsampled = self._project_and_upsample(inputs, training)
        guide = ops.concatenate([low, upsampled], axis=-1)
        offsets = self.offset_predictor(guide)
        if self.offset_aggregation is not None:
            offsets = self.offset_aggregation(offsets, guide)
        aligned = self._warp(upsampled, offsets)
        if self.fusion == "add":
            fused = low + aligned
        else:
            fused = self.fusion_projection(
                ops.concatenate([low, aligned], axis=-1), training=training
            )
        if self.return_offsets:
            return fused, offsets
        return fused

    def _warp(self, features, offsets):
        warp_args = {"align_corners": self.align_corners, "padding_mode": "border"}
        if self.offset_groups == 1:
            return flow_warp(features, offsets, **warp_args)
        # Groups become extra batch entries, so one warp call serves them all.
        groups = self.offset_groups
        batch, height, width, channels = ops.shape(features)
        features = ops.reshape(
            features, (batch, height, width, groups, channels // groups)
        )
        features = ops.reshape(
            ops.transpose(features, (0, 3, 1, 2, 4)),
            (batch * groups, height, width, channels // groups),
        )
        offsets = ops.reshape(offsets, (batch, height, width, groups, 2))
        offsets = ops.reshape(
            ops.transpose(offsets, (0, 3, 1, 2, 4)),
            (batch * groups, height, width, 2),
        )
        warped = flow_warp(features, offsets, **warp_args)
        warped = ops.reshape(warped, (batch, groups, height, width, channels // groups))
        return ops.reshape(
            ops.transpose(warped, (0, 2, 3, 1, 4)), (batch, height, width, channels)
        )

    def compute_output_shape(self, input_shape):
        fused = super().compute_output_shape(input_shape)
        if self.return_offsets:
            return fused, (*fused[:3], 2 * self.offset_groups)
        return fused

    def compute_output_spec(self, inputs, training=None):
        shapes = self.compute_output_shape([tuple(x.shape) for x in inputs])
        if not self.return_offsets:
            return keras.KerasTensor(shapes, dtype=self.compute_dtype)
        return (
            keras.KerasTensor(shapes[0], dtype=self.compute_dtype),
            keras.KerasTensor(shapes[1], dtype=self.offset_predictor.compute_dtype),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "offset_groups": self.offset_groups,
                "neighbor_kernel_size": self.neighbor_kernel_size,
                "neighbor_aggregation": self.neighbor_aggregation,
                "offset_kernel_size": self.offset_kernel_size,
                "fusion": self.fusion,
                "return_offsets": self.return_offsets,
            }
        )
        return config
