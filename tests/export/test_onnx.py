"""The ONNX export, checked with ONNX Runtime on two image sizes."""

import keras
import numpy as np
import pytest

from keras_srcrm import export
from tests.export import standin
from tests.export.conftest import export_function

BACKEND = keras.backend.backend()


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    """The stand-in's `serving_default` with probabilities, as ONNX."""
    model = standin.segmenter_standin(seed=2)
    path = tmp_path_factory.mktemp("onnx") / "srcrm.onnx"
    return model, export_function("onnx")(model, path, include_probabilities=True)


def test_onnx_runtime_matches_keras_on_two_sizes(onnx_export, test_images):
    onnxruntime = pytest.importorskip("onnxruntime")
    model, result = onnx_export
    session = onnxruntime.InferenceSession(result.path)
    assert [i.name for i in session.get_inputs()] == ["images"]
    for images in test_images:
        classes, probabilities = session.run(
            ["classes", "probabilities"], {"images": images}
        )
        logits = standin.keras_logits(model, images)
        assert classes.dtype == np.int32 and classes.shape == images.shape[:3]
        np.testing.assert_array_equal(classes, logits.argmax(axis=-1))
        np.testing.assert_allclose(probabilities, standin.softmax(logits), atol=1e-4)


def test_onnx_result_names_the_dynamic_dimensions(onnx_export):
    onnx = pytest.importorskip("onnx")
    _, result = onnx_export
    dims = {
        value.name: [
            d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim
        ]
        for value in list(onnx.load(result.path).graph.input)
        + list(onnx.load(result.path).graph.output)
    }
    c = standin.NUM_CLASSES
    assert dims == {
        "images": ["batch", "height", "width", 3],
        "classes": ["batch", "height", "width"],
        "probabilities": ["batch", "height", "width", c],
    }
    assert result.format == "onnx" and result.backend == "tensorflow"
    assert result.signatures == {
        "serving_default": {
            "inputs": {"images": {"dtype": "uint8", "shape": [None, None, None, 3]}},
            "outputs": {
                "classes": {"dtype": "int32", "shape": [None, None, None]},
                "probabilities": {"dtype": "float32", "shape": [None] * 3 + [c]},
            },
        }
    }


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason=f"export_onnx refuses the {BACKEND} backend (tested below)",
)
def test_logits_signature_as_onnx(tmp_path, test_images):
    onnxruntime = pytest.importorskip("onnxruntime")
    # A model without the warp converts in a fraction of the time; the warp
    # itself is checked through `onnx_export` above.
    images_input = keras.Input((None, None, 3))
    model = keras.Model(
        images_input, keras.layers.Conv2D(4, 3, padding="same")(images_input)
    )
    result = export.export_onnx(model, tmp_path / "logits.onnx", signature="logits")
    session = onnxruntime.InferenceSession(result.path)
    images = test_images[1]
    (logits,) = session.run(None, {"images": images.astype("float32")})
    np.testing.assert_allclose(
        logits, standin.keras_logits(model, images), rtol=1e-4, atol=1e-4
    )


@pytest.mark.skipif(
    BACKEND == "tensorflow", reason="export_onnx runs on the tensorflow backend"
)
def test_export_onnx_points_other_backends_to_tensorflow(tmp_path):
    with pytest.raises(NotImplementedError) as error:
        export.export_onnx(standin.segmenter_standin(), tmp_path / "m.onnx")
    message = str(error.value)
    why = {"jax": "XlaCallModule", "torch": "torch.autograd.Function"}[BACKEND]
    assert why in message
    assert "export_with_tensorflow_backend(model, path, format='onnx')" in message
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"signature": "serve"}, "`signature` must be one of"),
        ({"opset": 12}, "opset=12"),
        ({"opset": True}, "opset=True"),
    ],
)
def test_export_onnx_rejects_invalid_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export.export_onnx(standin.segmenter_standin(), tmp_path / "m.onnx", **kwargs)
