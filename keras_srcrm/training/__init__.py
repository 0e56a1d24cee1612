"""Training utilities: schedule, optimizer, callbacks, data parallelism.

Importing this package imports no backend library beyond what `keras`
imports; TensorFlow is imported only by the functions that need it on the
TensorFlow backend.
"""

from keras_srcrm.training.callbacks import BackupError
from keras_srcrm.training.callbacks import StopOnNonFiniteLoss
from keras_srcrm.training.callbacks import read_backup_state
from keras_srcrm.training.callbacks import read_history
from keras_srcrm.training.callbacks import remove_backup
from keras_srcrm.training.callbacks import training_callbacks
from keras_srcrm.training.distribution import data_parallel_scope
from keras_srcrm.training.distribution import logical_cpu_devices
from keras_srcrm.training.fit import checkpoint_monitor
from keras_srcrm.training.fit import compile_arguments
from keras_srcrm.training.fit import compile_segmenter
from keras_srcrm.training.fit import resolve_jit_compile
from keras_srcrm.training.optimizers import NO_WEIGHT_DECAY_NAMES
from keras_srcrm.training.optimizers import build_optimizer
from keras_srcrm.training.schedules import PolynomialDecayWithWarmup

__all__ = [
    "BackupError",
    "NO_WEIGHT_DECAY_NAMES",
    "PolynomialDecayWithWarmup",
    "StopOnNonFiniteLoss",
    "build_optimizer",
    "checkpoint_monitor",
    "compile_arguments",
    "compile_segmenter",
    "data_parallel_scope",
    "logical_cpu_devices",
    "read_backup_state",
    "read_history",
    "remove_backup",
    "resolve_jit_compile",
    "training_callbacks",
]
