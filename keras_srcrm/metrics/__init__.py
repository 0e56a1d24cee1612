"""Streaming segmentation metrics: mean IoU and pixel accuracy.

They skip an ignore label (255 by default), count pixels exactly on every
backend, and report labels outside `[0, num_classes)` instead of miscounting
them.
"""

from keras_srcrm.metrics.confusion_matrix import ConfusionMatrixMetric
from keras_srcrm.metrics.mean_iou import MeanIoU
from keras_srcrm.metrics.pixel_accuracy import PixelAccuracy

__all__ = ["ConfusionMatrixMetric", "MeanIoU", "PixelAccuracy"]
