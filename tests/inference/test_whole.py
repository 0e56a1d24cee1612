"""`predict_whole`: outputs, padding, batching, model contracts."""

import keras
import numpy as np
import pytest

from keras_srcrm.inference import predict_whole
from tests.inference.models import NUM_CLASSES
from tests.inference.models import Recorder
from tests.inference.models import identity
from tests.inference.models import pointwise_model
from tests.inference.models import softmax


def test_outputs_are_logits_probabilities_and_classes(images):
    model = pointwise_model()
    logits = predict_whole(model, images)
    expected = keras.ops.convert_to_numpy(model(images))
    assert isinstance(logits, np.ndarray)
    assert logits.shape == (2, 13, 17, NUM_CLASSES) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, expected, rtol=1e-6, atol=1e-6)

    probabilities = predict_whole(model, images, output="probabilities")
    np.testing.assert_allclose(probabilities, softmax(expected), atol=1e-6)

    classes = predict_whole(model, images, output="classes")
    assert classes.shape == (2, 13, 17) and classes.dtype == np.int32
    np.testing.assert_array_equal(classes, expected.argmax(-1))


def test_pads_with_the_edge_pixels_and_crops_back(images):
    model = Recorder(identity)
    result = predict_whole(model, images, pad_to_multiple_of=8)
    assert model.shapes == [(1, 16, 24, 3), (1, 16, 24, 3)]
    np.testing.assert_array_equal(result, images)

    seen = []
    model = Recorder(lambda x: seen.append(keras.ops.convert_to_numpy(x)) or x)
    predict_whole(model, images[:1], pad_to_multiple_of=(5, 4))
    expected = np.pad(images[:1], ((0, 0), (0, 2), (0, 3), (0, 0)), mode="edge")
    np.testing.assert_array_equal(seen[0], expected)


def test_padding_does_not_change_a_pointwise_model(images):
    model = pointwise_model()
    np.testing.assert_allclose(
        predict_whole(model, images, pad_to_multiple_of=(16, 7)),
        predict_whole(model, images),
        rtol=1e-6,
        atol=1e-6,
    )


def test_sizes_that_are_multiples_are_not_padded(images):
    model = Recorder(identity)
    predict_whole(model, images, pad_to_multiple_of=(13, 17), batch_size=2)
    assert model.shapes == [(2, 13, 17, 3)]


def test_batch_size_splits_the_calls(rng):
    images = rng.uniform(0, 255, size=(3, 5, 6, 3)).astype("float32")
    model = Recorder(pointwise_model())
    chunked = predict_whole(model, images, batch_size=2)
    assert [shape[0] for shape in model.shapes] == [2, 1]
    np.testing.assert_allclose(
        chunked, predict_whole(model, images, batch_size=3), rtol=1e-6, atol=1e-6
    )


def test_backend_tensors_and_uint8_images_in_tensors_out(images):
    model = pointwise_model()
    expected = predict_whole(model, images.round())
    from_uint8 = predict_whole(model, images.round().astype("uint8"))
    np.testing.assert_allclose(from_uint8, expected, rtol=1e-6, atol=1e-6)

    tensor = keras.ops.convert_to_tensor(images.round())
    result = predict_whole(model, tensor, return_numpy=False)
    assert keras.ops.is_tensor(result) and not isinstance(result, np.ndarray)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(result), expected, rtol=1e-6, atol=1e-6
    )


def test_dict_output_uses_the_segmentation_key(images):
    plain, with_dict = pointwise_model(), pointwise_model(dict_output=True)
    np.testing.assert_allclose(
        predict_whole(with_dict, images), predict_whole(plain, images), atol=1e-6
    )


def test_dict_output_without_segmentation_key_raises(images):
    def model(x):
        return {"logits": x}

    with pytest.raises(ValueError, match=r"key 'segmentation'.*\['logits'\]"):
        predict_whole(model, images)


def test_model_that_changes_the_size_raises(images):
    def model(x):
        return x[:, ::2, ::2]

    with pytest.raises(ValueError, match=r"logits of shape \(1, 7, 9, 3\)"):
        predict_whole(model, images)


def test_model_with_several_outputs_raises(images):
    with pytest.raises(ValueError, match="one logits tensor"):
        predict_whole(lambda x: [x, x], images)


@pytest.mark.parametrize(
    "value", [0, -8, (8,), (8, 0), 2.5, "8"], ids=lambda value: repr(value)
)
def test_invalid_pad_to_multiple_of_raises(images, value):
    with pytest.raises(ValueError, match="`pad_to_multiple_of`.*Received"):
        predict_whole(identity, images, pad_to_multiple_of=value)
