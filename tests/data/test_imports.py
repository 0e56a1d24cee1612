"""The public names of `keras_srcrm.data`."""

import pytest

import keras_srcrm.data
from tests.helpers import assert_public_names


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
