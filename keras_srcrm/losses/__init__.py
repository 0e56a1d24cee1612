"""Segmentation losses and the `compile` arguments of deep supervision."""

from keras_srcrm.losses.combined import CombinedLoss
from keras_srcrm.losses.deep_supervision import deep_supervision_losses
from keras_srcrm.losses.deep_supervision import deep_supervision_targets
from keras_srcrm.losses.dice import DiceLoss
from keras_srcrm.losses.focal import FocalLoss
from keras_srcrm.losses.lovasz import LovaszSoftmaxLoss
from keras_srcrm.losses.segmentation_cross_entropy import SegmentationCrossEntropy

__all__ = [
    "CombinedLoss",
    "DiceLoss",
    "FocalLoss",
    "LovaszSoftmaxLoss",
    "SegmentationCrossEntropy",
    "deep_supervision_losses",
    "deep_supervision_targets",
]
