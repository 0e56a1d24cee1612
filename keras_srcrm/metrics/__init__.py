"""Streaming segmentation metrics: mean IoU, pixel accuracy, mean class
accuracy, mean Dice / F-score, Boundary IoU.

All of them skip an ignore label (255 by default), count pixels exactly on
every backend, and report labels outside `[0, num_classes)` instead of
miscounting them.
"""

from keras_srcrm.metrics.boundary_iou import BoundaryIoU
from keras_srcrm.metrics.confusion_matrix import ConfusionMatrixMetric
from keras_srcrm.metrics.confusion_matrix import MeanAccuracy
from keras_srcrm.metrics.confusion_matrix import MeanDice
from keras_srcrm.metrics.confusion_matrix import MeanFScore
from keras_srcrm.metrics.confusion_matrix import MeanIoU
from keras_srcrm.metrics.confusion_matrix import PixelAccuracy

__all__ = [
    "BoundaryIoU",
    "ConfusionMatrixMetric",
    "MeanAccuracy",
    "MeanDice",
    "MeanFScore",
    "MeanIoU",
    "PixelAccuracy",
]
