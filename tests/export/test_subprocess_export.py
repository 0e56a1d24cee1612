"""Exporting through a TensorFlow-backend subprocess, from any backend."""

import keras
import pytest

from keras_srcrm import export
from tests.export import custom_layers


def custom_layer_model():
    images = keras.Input((None, None, 3))
    return keras.Model(
        images, custom_layers.Scale(0.5)(keras.layers.Conv2D(2, 1)(images))
    )


def test_child_needs_the_custom_layer_modules(tmp_path):
    model = custom_layer_model()
    destination = tmp_path / "1"
    with pytest.raises(RuntimeError, match=r"(?s)nothing was written.*Scale"):
        export.export_with_tensorflow_backend(model, destination)
    assert list(tmp_path.iterdir()) == []

    result = export.export_with_tensorflow_backend(
        model, destination, imports=["tests.export.custom_layers"]
    )
    assert result.backend == "tensorflow" and result.path == str(destination)
    assert (destination / "saved_model.pb").is_file()
    assert list(result.signatures["logits"]["outputs"]) == ["logits"]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"format": "tflite"}, ValueError, "`format` must be one of"),
        ({"imports": "my.layers"}, ValueError, "`imports` must be a list"),
        ({"image_size": object()}, ValueError, "JSON-serialisable"),
    ],
)
def test_rejects_invalid_arguments(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        export.export_with_tensorflow_backend(
            custom_layer_model(), tmp_path / "1", **kwargs
        )
    assert not (tmp_path / "1").exists()
