"""What importing `keras_srcrm.data` pulls in, and its public names."""

import os
import subprocess
import sys

import pytest

import keras_srcrm.data
from tests.helpers import assert_public_names


def run_python(code, backend="jax"):
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_tensorflow_is_imported_on_first_use_and_tfds_never():
    code = (
        "import sys, keras_srcrm, keras_srcrm.data as d\n"
        "d.synthetic_arrays, d.SYNTHETIC_INFO\n"
        "before = {'tensorflow', 'tensorflow_datasets'} & set(sys.modules)\n"
        "d.cityscapes_tfds_dataset, d.ade20k_tfds_dataset, d.training_pipeline\n"
        "after = {'tensorflow', 'tensorflow_datasets'} & set(sys.modules)\n"
        "print(sorted(before), sorted(after))\n"
    )
    assert run_python(code) == "[] ['tensorflow']"


def test_every_public_name_resolves():
    info = keras_srcrm.data.DatasetInfo
    assert_public_names(
        keras_srcrm.data,
        {
            "ADE20K_INFO": info,
            "BDD100K_INFO": info,
            "CITYSCAPES_INFO": info,
            "SYNTHETIC_INFO": info,
            "DEFAULT_IGNORE_LABEL": int,
            "IMAGE_SUFFIXES": tuple,
        },
    )
    assert set(keras_srcrm.data.__all__) <= set(dir(keras_srcrm.data))


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'cityscape_dataset'"):
        keras_srcrm.data.cityscape_dataset  # noqa: B018
