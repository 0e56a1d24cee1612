"""Named SRM + CRM segmenter configurations."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class SegmenterPreset:
    """A named segmenter configuration: a backbone and decoder arguments.

    Attributes:
        backbone: The backbone preset whose ImageNet weights the configuration
            starts from (a KerasHub preset name, downloaded on first use).
        offline_backbone: The named backbone configuration
            (`keras_srcrm.models.BACKBONE_CONFIGS`) with the same architecture,
            built with random weights when weights are not wanted.
        decoder_filters: Channels of the decoder.
        use_srm: Whether the top-down path uses SRMs.
        use_crm: Whether the top of the pyramid is the CRM.
        description: One line for the documentation.
    """

    backbone: str
    offline_backbone: str
    decoder_filters: int
    use_srm: bool = True
    use_crm: bool = True
    description: str = ""

    def segmenter_kwargs(self):
        """The `SRCRMSegmenter` arguments besides the backbone."""
        return {
            "decoder_filters": self.decoder_filters,
            "use_srm": self.use_srm,
            "use_crm": self.use_crm,
        }


SEGMENTER_PRESETS = {
    "srcrm_lite": SegmenterPreset(
        backbone="resnet_18_imagenet",
        offline_backbone="hub_resnet18",
        decoder_filters=96,
        description=(
            "The lightweight network: ResNet-18 and a 96-channel SRM + CRM "
            "decoder, sized to the paper's 137.9 GFLOPs at 1024x2048 (140.0 "
            "G multiply-adds here)."
        ),
    ),
    "srcrm_resnet18": SegmenterPreset(
        backbone="resnet_18_imagenet",
        offline_backbone="hub_resnet18",
        decoder_filters=128,
        description="ResNet-18 with a 128-channel SRM + CRM decoder.",
    ),
    "srcrm_resnet50": SegmenterPreset(
        backbone="resnet_50_imagenet",
        offline_backbone="hub_resnet50",
        decoder_filters=256,
        description="ResNet-50 with a 256-channel SRM + CRM decoder.",
    ),
    "srcrm_resnet101": SegmenterPreset(
        backbone="resnet_101_imagenet",
        offline_backbone="hub_resnet101",
        decoder_filters=256,
        description="ResNet-101 with a 256-channel SRM + CRM decoder.",
    ),
    "fpn_resnet18": SegmenterPreset(
        backbone="resnet_18_imagenet",
        offline_backbone="hub_resnet18",
        decoder_filters=128,
        use_srm=False,
        use_crm=False,
        description=(
            "The ablation baseline: ResNet-18 with a plain 128-channel FPN "
            "decoder (bilinear top-down path, no CRM)."
        ),
    ),
}
