"""Training utilities: schedule, optimizer, callbacks, data parallelism.

Importing this package imports no backend library beyond what `keras`
imports; TensorFlow is imported only by the functions that need it on the
TensorFlow backend.
"""

from keras_srcrm.training.schedules import PolynomialDecayWithWarmup

__all__ = [
    "PolynomialDecayWithWarmup",
]
