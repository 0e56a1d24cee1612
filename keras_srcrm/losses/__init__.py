"""Segmentation losses and the `compile` arguments of deep supervision."""

from keras_srcrm.losses.deep_supervision import deep_supervision_losses
from keras_srcrm.losses.deep_supervision import deep_supervision_targets
from keras_srcrm.losses.segmentation_cross_entropy import SegmentationCrossEntropy

__all__ = [
    "SegmentationCrossEntropy",
    "deep_supervision_losses",
    "deep_supervision_targets",
]
