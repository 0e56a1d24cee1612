"""Segmentation models and the backbones they are built on."""

from keras_srcrm.models.backbones import BACKBONE_CONFIGS
from keras_srcrm.models.backbones import PYRAMID_LEVELS
from keras_srcrm.models.backbones import PYRAMID_STRIDES
from keras_srcrm.models.backbones import ImageNormalization
from keras_srcrm.models.backbones import PyramidFeatureExtractor
from keras_srcrm.models.backbones import backbone_from_config
from keras_srcrm.models.backbones import backbone_preprocessing
from keras_srcrm.models.backbones import load_backbone
from keras_srcrm.models.backbones import pyramid_feature_extractor
from keras_srcrm.models.preset_io import load_preset_metadata
from keras_srcrm.models.segmenter_presets import SEGMENTER_PRESETS
from keras_srcrm.models.segmenter_presets import SegmenterPreset
from keras_srcrm.models.srcrm_segmenter import SRCRMSegmenter

__all__ = [
    "BACKBONE_CONFIGS",
    "PYRAMID_LEVELS",
    "PYRAMID_STRIDES",
    "PyramidFeatureExtractor",
    "SEGMENTER_PRESETS",
    "SRCRMSegmenter",
    "SegmenterPreset",
    "ImageNormalization",
    "backbone_from_config",
    "backbone_preprocessing",
    "load_backbone",
    "load_preset_metadata",
    "pyramid_feature_extractor",
]
