"""Keras layers: the SRM, the CRM and the blocks they are made of."""

from keras_srcrm.layers.attention import ChannelGate
from keras_srcrm.layers.attention import ChannelSelfAttention
from keras_srcrm.layers.attention import SpatialGate
from keras_srcrm.layers.attention import SpatialSelfAttention
from keras_srcrm.layers.contextual_refinement import ContextualRefinementModule
from keras_srcrm.layers.conv_bn_act import ConvBNAct
from keras_srcrm.layers.decoder import SRCRMDecoder
from keras_srcrm.layers.fpn_fusion import FPNFusion
from keras_srcrm.layers.offset_aggregation import NeighborOffsetAggregation
from keras_srcrm.layers.resize_like import ResizeLike
from keras_srcrm.layers.semantic_refinement import SemanticRefinementModule

__all__ = [
    "ChannelGate",
    "ChannelSelfAttention",
    "ContextualRefinementModule",
    "ConvBNAct",
    "FPNFusion",
    "NeighborOffsetAggregation",
    "ResizeLike",
    "SRCRMDecoder",
    "SemanticRefinementModule",
    "SpatialGate",
    "SpatialSelfAttention",
]
