"""Model analysis: multiply-adds ("FLOPs") and parameter counts.

This is tooling, not part of a model: `count_flops` runs a model once
symbolically while it counts, and reads Keras internals to do so.
"""

from keras_srcrm.analysis.complexity import FlopCount
from keras_srcrm.analysis.complexity import ParamCount
from keras_srcrm.analysis.complexity import count_flops
from keras_srcrm.analysis.complexity import count_params

__all__ = ["FlopCount", "ParamCount", "count_flops", "count_params"]
