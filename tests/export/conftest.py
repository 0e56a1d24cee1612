"""Exports shared by the tests of this directory, made once per session."""

import functools

import keras
import numpy as np
import pytest

from keras_srcrm import export
from tests.export import standin

# The TensorFlow and JAX backends export in-process; PyTorch cannot, and goes
# through the TensorFlow subprocess that the library offers for it.
IN_PROCESS = keras.backend.backend() in ("tensorflow", "jax")
FIXED_SIZE = (32, 40)


def export_function(format="saved_model"):
    """The way this backend exports: in-process, or through TensorFlow."""
    if format == "onnx" and keras.backend.backend() == "tensorflow":
        return export.export_onnx
    if format == "saved_model" and IN_PROCESS:
        return export.export_saved_model
    return functools.partial(export.export_with_tensorflow_backend, format=format)


@pytest.fixture(scope="session")
def main_export(tmp_path_factory):
    """A deep-supervision stand-in exported with probabilities.

    Returns:
        `(model, result)`.
    """
    model = standin.segmenter_standin(deep_supervision=True)
    path = tmp_path_factory.mktemp("main") / "1"
    result = export_function()(model, path, include_probabilities=True)
    return model, result


@pytest.fixture(scope="session")
def fixed_size_export(tmp_path_factory):
    """A stand-in built for one input size, exported without probabilities.

    Its export resizes every image to `FIXED_SIZE` and the logits back. Its
    layers use the other corner convention (`align_corners=True`).

    Returns:
        `(model, result)`.
    """
    model = standin.segmenter_standin(input_size=FIXED_SIZE, align_corners=True, seed=1)
    path = tmp_path_factory.mktemp("fixed") / "1"
    result = export_function()(model, path)
    return model, result


@pytest.fixture(scope="session")
def test_images():
    """Two uint8 batches, one per size of `standin.IMAGE_SIZES`."""
    rng = np.random.default_rng(7)
    return [standin.random_images(rng, size) for size in standin.IMAGE_SIZES]
