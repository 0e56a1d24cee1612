"""keras_srcrm.training is exported and imports no TensorFlow by itself."""

import subprocess
import sys

import keras
import pytest

import keras_srcrm
from tests.helpers import assert_public_names

BACKEND = keras.backend.backend()


def test_exported_from_the_package():
    assert "training" in keras_srcrm.__all__
    assert_public_names(keras_srcrm.training, {"NO_WEIGHT_DECAY_NAMES": tuple})
    assert all(isinstance(n, str) for n in keras_srcrm.training.NO_WEIGHT_DECAY_NAMES)
    assert issubclass(
        keras_srcrm.training.PolynomialDecayWithWarmup,
        keras.optimizers.schedules.LearningRateSchedule,
    )


@pytest.mark.skipif(
    BACKEND == "tensorflow", reason="the TensorFlow backend imports TensorFlow"
)
def test_import_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "import keras_srcrm.training as training\n"
        "training.build_optimizer('sgd', training.PolynomialDecayWithWarmup(0.1, 10))\n"
        "training.resolve_jit_compile()\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False"
