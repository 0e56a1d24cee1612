"""keras-srcrm: Semantic and Contextual Refinement Modules for Keras 3.

The package imports with only `keras` and one backend installed. Modules that
need TensorFlow-only libraries (`keras_srcrm.data`, `keras_srcrm.export`) or
KerasCV / KerasHub import them when they are used, not here.
"""

from keras_srcrm import analysis
from keras_srcrm import data
from keras_srcrm import export
from keras_srcrm import inference
from keras_srcrm import layers
from keras_srcrm import losses
from keras_srcrm import metrics
from keras_srcrm import models
from keras_srcrm import ops
from keras_srcrm import training
from keras_srcrm import utils
from keras_srcrm.version import __version__

__all__ = [
    "__version__",
    "analysis",
    "data",
    "export",
    "inference",
    "layers",
    "losses",
    "metrics",
    "models",
    "ops",
    "training",
    "utils",
]
