"""The public names of `keras_srcrm.inference`."""

import keras_srcrm
import keras_srcrm.inference
from tests.helpers import assert_public_names


def test_package_exports_inference():
    assert "inference" in keras_srcrm.__all__
    assert keras_srcrm.inference.__name__ == "keras_srcrm.inference"
    assert_public_names(
        keras_srcrm.inference,
        {"CITYSCAPES_PALETTE": tuple, "DEFAULT_SCALES": tuple, "MODES": dict},
    )
