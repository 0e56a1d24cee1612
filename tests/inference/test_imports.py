"""Importing `keras_srcrm.inference` stays light, and its public names."""

import os
import subprocess
import sys

import pytest

import keras_srcrm
import keras_srcrm.inference
from tests.helpers import assert_public_names


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_import_does_not_pull_in_tensorflow(backend):
    code = (
        "import sys, keras_srcrm.inference\n"
        "print(sorted({'tensorflow', 'keras_hub', 'keras_cv'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_package_exports_inference():
    assert "inference" in keras_srcrm.__all__
    assert keras_srcrm.inference.__name__ == "keras_srcrm.inference"
    assert_public_names(
        keras_srcrm.inference,
        {"CITYSCAPES_PALETTE": tuple, "DEFAULT_SCALES": tuple, "MODES": dict},
    )
