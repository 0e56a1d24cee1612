"""keras_srcrm.training is exported with its public names."""

import keras

import keras_srcrm
from tests.helpers import assert_public_names


def test_exported_from_the_package():
    assert "training" in keras_srcrm.__all__
    assert_public_names(keras_srcrm.training, {"NO_WEIGHT_DECAY_NAMES": tuple})
    assert all(isinstance(n, str) for n in keras_srcrm.training.NO_WEIGHT_DECAY_NAMES)
    assert issubclass(
        keras_srcrm.training.PolynomialDecayWithWarmup,
        keras.optimizers.schedules.LearningRateSchedule,
    )
