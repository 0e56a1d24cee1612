"""Fixtures of the inference tests: a tiny real segmenter, built once."""

import keras
import pytest

from keras_srcrm.models import SRCRMSegmenter
from keras_srcrm.models import backbone_from_config


@pytest.fixture(scope="session")
def tiny_segmenter():
    """A `SRCRMSegmenter` small enough to run eagerly in tests, 3 classes."""
    keras.utils.set_random_seed(0)
    backbone = backbone_from_config("hub_resnet_mini")
    return SRCRMSegmenter(backbone, num_classes=3, decoder_filters=8)


@pytest.fixture
def images(rng):
    """Two 13x17 images in [0, 255]."""
    return rng.uniform(0, 255, size=(2, 13, 17, 3)).astype("float32")
