"""The library's own SRCRMSegmenter, exported and served at two sizes."""

import keras
import numpy as np
import pytest

from keras_srcrm.models import SRCRMSegmenter
from tests.export import standin
from tests.export.conftest import export_function

SIZES = ((64, 64), (72, 100))


def segmenter():
    # MobileNetV3's stem pads and then convolves "valid", the case that needs
    # `jax_min_image_size` on JAX; the minimalistic variant builds quickly.
    backbone = keras.applications.MobileNetV3Small(
        include_top=False,
        weights=None,
        input_shape=(None, None, 3),
        minimalistic=True,
    )
    return SRCRMSegmenter(backbone, 3, decoder_filters=8, auxiliary_heads=True)


def assert_matches_keras(model, run):
    """`run(images) -> (classes, probabilities)` agrees with the model."""
    rng = np.random.default_rng(0)
    for size in SIZES:
        images = standin.random_images(rng, size)
        classes, probabilities = run(images)
        logits = standin.keras_logits(model, images)
        np.testing.assert_array_equal(classes, logits.argmax(axis=-1))
        np.testing.assert_allclose(probabilities, standin.softmax(logits), atol=1e-4)


@pytest.mark.slow
def test_srcrm_segmenter_saved_model(tmp_path):
    import tensorflow as tf

    model = segmenter()
    result = export_function()(model, tmp_path / "1", include_probabilities=True)
    serve = tf.saved_model.load(result.path).signatures["serving_default"]

    def run(images):
        outputs = serve(images=tf.constant(images))
        return outputs["classes"].numpy(), outputs["probabilities"].numpy()

    assert_matches_keras(model, run)


@pytest.mark.slow
def test_srcrm_segmenter_onnx(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    model = segmenter()
    path = tmp_path / "srcrm.onnx"
    export_function("onnx")(model, path, include_probabilities=True)
    session = onnxruntime.InferenceSession(str(path))

    def run(images):
        return session.run(["classes", "probabilities"], {"images": images})

    assert_matches_keras(model, run)
