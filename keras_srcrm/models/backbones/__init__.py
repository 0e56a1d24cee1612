"""Backbone adapters: load a backbone, its input scaling and its P2-P5 maps.

Three families are supported: KerasHub backbones (`pyramid_outputs`),
KerasCV backbones (`pyramid_level_inputs`) and `keras.applications` models.
KerasHub and KerasCV are imported only when one of their models is loaded.
"""

from keras_srcrm.models.backbones.configs import BACKBONE_CONFIGS
from keras_srcrm.models.backbones.configs import backbone_from_config
from keras_srcrm.models.backbones.loader import load_backbone
from keras_srcrm.models.backbones.preprocessing import ImageNormalization
from keras_srcrm.models.backbones.preprocessing import backbone_preprocessing
from keras_srcrm.models.backbones.pyramid import PYRAMID_LEVELS
from keras_srcrm.models.backbones.pyramid import PYRAMID_STRIDES
from keras_srcrm.models.backbones.pyramid import PyramidFeatureExtractor
from keras_srcrm.models.backbones.pyramid import pyramid_feature_extractor

__all__ = [
    "BACKBONE_CONFIGS",
    "PYRAMID_LEVELS",
    "PYRAMID_STRIDES",
    "PyramidFeatureExtractor",
    "ImageNormalization",
    "backbone_from_config",
    "backbone_preprocessing",
    "load_backbone",
    "pyramid_feature_extractor",
]
