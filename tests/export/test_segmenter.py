"""The library's own SRCRMSegmenter, exported and served at two sizes."""

import keras
import numpy as np
import pytest

from keras_srcrm.models import SRCRMSegmenter
from tests.export import standin
from tests.export.conftest import export_function


@pytest.mark.slow
def test_srcrm_segmenter_with_auxiliary_heads(tmp_path):
    import tensorflow as tf

    # MobileNetV3's stem pads and then convolves "valid", the case that needs
    # `jax_min_image_size` on JAX; the minimalistic variant builds quickly.
    backbone = keras.applications.MobileNetV3Small(
        include_top=False,
        weights=None,
        input_shape=(None, None, 3),
        minimalistic=True,
    )
    model = SRCRMSegmenter(backbone, 3, decoder_filters=8, auxiliary_heads=True)
    result = export_function()(model, tmp_path / "1", include_probabilities=True)
    serve = tf.saved_model.load(result.path).signatures["serving_default"]
    rng = np.random.default_rng(0)
    for size in ((64, 64), (72, 100)):
        images = standin.random_images(rng, size)
        outputs = serve(images=tf.constant(images))
        logits = standin.keras_logits(model, images)
        np.testing.assert_array_equal(outputs["classes"], logits.argmax(axis=-1))
        np.testing.assert_allclose(
            outputs["probabilities"], standin.softmax(logits), atol=1e-4
        )
