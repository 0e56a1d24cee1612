"""Segmentation losses."""

from keras_srcrm.losses.segmentation_cross_entropy import SegmentationCrossEntropy

__all__ = ["SegmentationCrossEntropy"]
