"""The SRM + CRM feature pyramid decoder."""

import inspect

import keras
from keras import ops

from keras_srcrm.layers.common import kernel_arguments_config
from keras_srcrm.layers.contextual_refinement import STAGE_NAMES
from keras_srcrm.layers.contextual_refinement import ContextualRefinementModule
from keras_srcrm.layers.conv_bn_act import ConvBNAct
from keras_srcrm.layers.fpn_fusion import FPNFusion
from keras_srcrm.layers.semantic_refinement import SemanticRefinementModule
from keras_srcrm.ops.resize import output_size_like
from keras_srcrm.ops.resize import resize_bilinear
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_call_inputs
from keras_srcrm.utils.validation import check_layer_inputs
from keras_srcrm.utils.validation import check_positive_int
from keras_srcrm.utils.validation import check_same_batch

# The SRM options that the FPN steps of the ablation share.
FPN_SHARED_OPTIONS = (
    "fusion",
    "sample_from",
    "padding_mode",
    "activation",
    "kernel_initializer",
)
# Arguments of the SRMs and the CRM that the decoder sets itself.
_DECODER_ARGUMENTS = (
    "filters",
    "align_corners",
    "kernel_regularizer",
    "return_offsets",
    "name",
    "dtype",
)


def _check_options(name, options, layer_class):
    """Checks a dict of extra arguments of `layer_class`; returns a copy."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValueError(
            f"`{name}` must be a dict of {layer_class.__name__} arguments or "
            f"None. Received: {name}={options!r}"
        )
    owned = sorted(set(options) & set(_DECODER_ARGUMENTS))
    if owned:
        raise ValueError(
            f"`{name}` must not set {owned}: the decoder sets them (pass "
            f"`align_corners` to the decoder, where it applies to every "
            f"resize). Received: {name}={options!r}"
        )
    accepted = set(inspect.signature(layer_class.__init__).parameters) - {
        "self",
        "kwargs",
    }
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(
            f"`{name}` has arguments that {layer_class.__name__} does not take: "
            f"{unknown}. It takes {sorted(accepted - set(_DECODER_ARGUMENTS))}. "
            f"Received: {name}={options!r}"
        )
    return dict(options)


@keras.saving.register_keras_serializable(package="keras_srcrm")
class SRCRMDecoder(keras.layers.Layer):
    """Feature pyramid decoder with SRMs on the top-down path and a CRM on top.

    From the backbone's four stages `[C2, C3, C4, C5]` (strides 4 to 32):

    1. the top of the pyramid is the CRM's context map of all four stages
       (`use_crm=True`), or a 1x1 conv-BN-ReLU of `C5` (`use_crm=False`);
    2. the top-down path descends to stride 4; each step merges the level
       above into the lateral stage with a `SemanticRefinementModule`
       (`use_srm=True`: learned offsets align the upsampled map) or an
       `FPNFusion` (`use_srm=False`: bilinear upsampling), then smooths it
       with a 3x3 conv-BN-ReLU;
    3. multi-level fusion: the four pyramid levels are upsampled to stride 4,
       concatenated and fused by a 3x3 conv-BN-ReLU to `filters` channels.

    With `use_srm=False, use_crm=False` this is a plain FPN decoder with
    multi-level fusion, the baseline that each module's contribution is
    measured against. The ablation is like for like: with `use_srm=False`
    the FPN steps take the options of `srm_options` that they share with the
    SRM (`fusion`, `sample_from`, `padding_mode`, `activation`,
    `kernel_initializer`), so that they differ from the SRMs only by the
    learned offsets; the offset options (`offset_groups`,
    `neighbor_kernel_size`, ...) have nothing to apply to there.

    `align_corners` is one setting for every resize of the decoder: the
    SRM/FPN upsampling and warp, the CRM's resizes and the multi-level
    fusion.

    Args:
        filters: Channels of every pyramid level and of the output.
        use_srm: Whether the top-down path uses SRMs (else bilinear FPN
            steps). Defaults to True.
        use_crm: Whether the top of the pyramid is the CRM. Defaults to True.
        srm_options: Optional dict of extra `SemanticRefinementModule`
            arguments (e.g. `{"offset_groups": 4}`); not `filters`,
            `align_corners`, `kernel_regularizer` or `return_offsets`, which
            the decoder sets.
        crm_options: Optional dict of extra `ContextualRefinementModule`
            arguments (e.g. `{"spatial_attention": "gate"}`), with the same
            exceptions.
        align_corners: Corner convention of every resize. Defaults to
            False, as `keras.ops.image.resize`; True matches SFNet.
        return_pyramid: If True, also return the pyramid levels at strides
            8, 16 and 32 (after smoothing), e.g. for auxiliary heads.
        kernel_regularizer: Optional regularizer of every kernel.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: The list `[C2, C3, C4, C5]`, channels-last, any channel
            counts and sizes.
        training: Whether batch normalisation runs in training mode.

    Output shape:
        `(batch, H2, W2, filters)` at the size of `C2`; with
        `return_pyramid=True`, a tuple of that and a tuple of the stride-8,
        16 and 32 levels.

    Example:

    >>> decoder = SRCRMDecoder(filters=64)
    >>> stages = [keras.random.normal((1, 64 // s, 64 // s, c))
    ...           for s, c in [(4, 16), (8, 32), (16, 64), (32, 128)]]
    >>> decoder(stages).shape
    (1, 16, 16, 64)
    """

    def __init__(
        self,
        filters=128,
        use_srm=True,
        use_crm=True,
        srm_options=None,
        crm_options=None,
        align_corners=False,
        return_pyramid=False,
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.use_srm = check_bool("use_srm", use_srm)
        self.use_crm = check_bool("use_crm", use_crm)
        self.srm_options = _check_options(
            "srm_options", srm_options, SemanticRefinementModule
        )
        self.crm_options = _check_options(
            "crm_options", crm_options, ContextualRefinementModule
        )
        self.align_corners = check_bool("align_corners", align_corners)
        self.return_pyramid = check_bool("return_pyramid", return_pyramid)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

        common = {
            "kernel_regularizer": self.kernel_regularizer,
            "dtype": self.dtype_policy,
        }
        if use_crm:
            self.top = ContextualRefinementModule(
                filters,
                align_corners=align_corners,
                name="crm",
                **common,
                **self.crm_options,
            )
        else:
            self.top = ConvBNAct(filters, 1, name="top_projection", **common)
        fpn_options = {
            key: value
            for key, value in self.srm_options.items()
            if key in FPN_SHARED_OPTIONS
        }
        self.top_down = []
        self.smoothing = []
        for level in (4, 3, 2):
            if use_srm:
                step = SemanticRefinementModule(
                    filters,
                    align_corners=align_corners,
                    name=f"srm_p{level}",
                    **common,
                    **self.srm_options,
                )
            else:
                step = FPNFusion(
                    filters,
                    align_corners=align_corners,
                    name=f"fpn_p{level}",
                    **common,
                    **fpn_options,
                )
            self.top_down.append(step)
            self.smoothing.append(
                ConvBNAct(filters, 3, name=f"smooth_p{level}", **common)
            )
        self.fusion = ConvBNAct(filters, 3, name="fusion", **common)

    def build(self, input_shape):
        shapes = check_layer_inputs(self, input_shape, STAGE_NAMES)
        check_same_batch(self, shapes, STAGE_NAMES)
        if self.use_crm:
            self.top.build(shapes)
        else:
            self.top.build(shapes[3])
        above = (*shapes[self._top_level()][:3], self.filters)
        for step, smooth, lateral in zip(
            self.top_down, self.smoothing, (shapes[2], shapes[1], shapes[0])
        ):
            step.build([above, lateral])
            above = (*lateral[:3], self.filters)
            smooth.build(above)
        self.fusion.build((*shapes[0][:3], 4 * self.filters))

    def _top_level(self):
        """Index of the stage whose size the top of the pyramid has."""
        return self.top.target_level if self.use_crm else 3

    def call(self, inputs, training=None):
        check_call_inputs(self, inputs, STAGE_NAMES)
        stages = list(inputs)
        if self.use_crm:
            top = self.top(stages, training=training)
        else:
            top = self.top(stages[3], training=training)
        levels = [top]
        x = top
        for step, smooth, lateral in zip(
            self.top_down, self.smoothing, (stages[2], stages[1], stages[0])
        ):
            x = step([x, lateral], training=training)
            levels.append(smooth(x, training=training))
        finest = levels[-1]
        size = output_size_like(finest)
        fused = ops.concatenate(
            [finest]
            + [
                resize_bilinear(level, size, align_corners=self.align_corners)
                for level in levels[-2::-1]
            ],
            axis=-1,
        )
        fused = self.fusion(fused, training=training)
        if self.return_pyramid:
            # Strides 8, 16, 32 (the top's stride for a CRM at another level).
            return fused, (levels[2], levels[1], levels[0])
        return fused

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        batch = next((s[0] for s in shapes if s[0] is not None), None)
        fused = (batch, shapes[0][1], shapes[0][2], self.filters)
        if not self.return_pyramid:
            return fused
        top = shapes[self._top_level()]
        pyramid = (
            (batch, shapes[1][1], shapes[1][2], self.filters),
            (batch, shapes[2][1], shapes[2][2], self.filters),
            (batch, top[1], top[2], self.filters),
        )
        return fused, pyramid

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "use_srm": self.use_srm,
                "use_crm": self.use_crm,
                "srm_options": self.srm_options,
                "crm_options": self.crm_options,
                "align_corners": self.align_corners,
                "return_pyramid": self.return_pyramid,
                **kernel_arguments_config(self),
            }
        )
        return config
