"""The Semantic Refinement Module (SRM)."""

import keras
from keras import ops

from keras_srcrm.layers.common import precise_dtype_policy
from keras_srcrm.layers.conv_and_norm import Conv2D
from keras_srcrm.layers.fpn_fusion import FPNFusion
from keras_srcrm.layers.offset_aggregation import AGGREGATION_MODES
from keras_srcrm.layers.offset_aggregation import NeighborOffsetAggregation
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_positive_int


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
    3. predict `offset_groups` offset pairs `(dx, dy)` per pixel with a
       convolution of both maps concatenated (as SFNet's Flow Alignment
       Module does);
    4. refine each offset with a learned aggregation of its
       `neighbor_kernel_size x neighbor_kernel_size` neighbours
       (`NeighborOffsetAggregation`). With `"dynamic"` aggregation (the
       default) every refined offset is a convex combination of the
       offsets around it, with weights predicted from the same features: it
       always lies between the smallest and the largest of them. `"static"`
       aggregation is one learned filter per offset channel, which starts as
       the average;
    5. resample the high-level map at the high-resolution grid plus the
       offsets (`keras_srcrm.ops.flow_warp`), one offset pair per channel
       group: by default the upsampled map is warped (the paper applies the
       offsets to the upsampled maps); `sample_from="coarse"` samples the
       coarse map directly, so that upsampling and warping are one
       interpolation (SFNet's FAM);
    6. fuse the result with the projected low-level map (`"add"`, or
       `"concat"` followed by a 1x1 conv-BN-ReLU).

    The offset predictor and the aggregation start at zero, so an untrained
    SRM is exactly the `FPNFusion` step built with the same arguments. Offsets
    are in pixels of the high-resolution map. Under mixed precision the
    offsets are predicted and refined in float32, since they are sampling
    positions.

    **SFNet's Flow Alignment Module.** With `sample_from="coarse"`,
    `padding_mode="zeros"`, `align_corners=True`, `neighbor_kernel_size=1`
    and `fusion="add"`, the SRM computes what SFNet's `AlignedModule` inside
    the `UperNetAlignHead` top-down step computes, with these correspondences:
    the SRM's low-level projection is SFNet's lateral `fpn_in` conv-BN-ReLU;
    the SRM's offset predictor is SFNet's `flow_make` 3x3 convolution composed
    with its `down_l`/`down_h` 1x1 projections (both linear and bias-free, so
    their composition is one 3x3 convolution on the concatenated maps, in the
    order `[low, high]`); and SFNet's flow `f` is in units of `2 / (W, H)` of
    the normalised output grid, so the SRM's offsets are
    `f * (W - 1) / (2 W)` (x) and `f * (H - 1) / (2 H)` (y) pixels for an
    output of size `(H, W)`: the predictor's weights scaled by those factors.

    Where the paper is not specific (the neighbour aggregation, the fusion),
    the choices are arguments.

    Args:
        filters: Channels of the output (and of both projections).
        offset_groups: Number of channel groups, each warped by its own offset
            field; must divide `filters`. Defaults to 1.
        neighbor_kernel_size: Odd size of the offset neighbourhood that each
            offset is refined with; 1 disables the refinement. Defaults to 3.
        neighbor_aggregation: `"dynamic"` (content-aware convex weights,
            default) or `"static"` (a learned filter).
        offset_kernel_size: Kernel size of the offset predictor. Defaults to 3.
        align_corners: Corner convention of the bilinear upsampling and of
            the warp: False (the default) matches `keras.ops.image.resize`;
            True matches SFNet and
            `torch.nn.functional.interpolate(align_corners=True)`.
        fusion: `"add"` (default) or `"concat"`.
        sample_from: `"upsampled"` (default: warp the upsampled map) or
            `"coarse"` (sample the coarse map directly, SFNet's FAM).
        padding_mode: What a sample outside the map sees: `"border"` (the
            nearest edge pixel, the default), `"zeros"` (as SFNet) or
            `"reflection"`.
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
        sample_from="upsampled",
        padding_mode="border",
        activation="relu",
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        return_offsets=False,
        **kwargs,
    ):
        super().__init__(
            filters,
            align_corners=align_corners,
            fusion=fusion,
            sample_from=sample_from,
            padding_mode=padding_mode,
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
        self.return_offsets = check_bool("return_offsets", return_offsets)

        offset_dtype = precise_dtype_policy(self.dtype_policy)
        self.offset_predictor = Conv2D(
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

    def build(self, input_shape):
        super().build(input_shape)
        _, low_shape = input_shape
        guide_shape = tuple(low_shape[:3]) + (2 * self.filters,)
        self.offset_predictor.build(guide_shape)
        if self.offset_aggregation is not None:
            self.offset_aggregation.build(
                tuple(low_shape[:3]) + (2 * self.offset_groups,), guide_shape
            )

    def call(self, inputs, training=None):
        low, high, upsampled = self._project_and_upsample(inputs, training)
        guide = ops.concatenate([low, upsampled], axis=-1)
        offsets = self.offset_predictor(guide)
        if self.offset_aggregation is not None:
            offsets = self.offset_aggregation(offsets, guide)
        source = upsampled if self.sample_from == "upsampled" else high
        fused = self._fuse(low, self._warp(source, offsets), training)
        if self.return_offsets:
            return fused, offsets
        return fused

    def _warp(self, features, offsets):
        """Warps each channel group of `features` by its own offset pair.

        `features` is the upsampled map, or the coarse one; the output has
        the offsets' size.
        """
        if self.offset_groups == 1:
            return self._sample(features, offsets)
        # Groups become extra batch entries, so one warp call serves them all.
        groups = self.offset_groups
        batch, height, width, channels = ops.shape(features)
        _, out_height, out_width, _ = ops.shape(offsets)
        size = channels // groups
        features = ops.reshape(features, (batch, height, width, groups, size))
        features = ops.reshape(
            ops.transpose(features, (0, 3, 1, 2, 4)),
            (batch * groups, height, width, size),
        )
        offsets = ops.reshape(offsets, (batch, out_height, out_width, groups, 2))
        offsets = ops.reshape(
            ops.transpose(offsets, (0, 3, 1, 2, 4)),
            (batch * groups, out_height, out_width, 2),
        )
        warped = self._sample(features, offsets)
        warped = ops.reshape(warped, (batch, groups, out_height, out_width, size))
        return ops.reshape(
            ops.transpose(warped, (0, 2, 3, 1, 4)),
            (batch, out_height, out_width, channels),
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
                "return_offsets": self.return_offsets,
            }
        )
        return config
