"""Tests of `keras_srcrm.ops.resize_bilinear`."""

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_srcrm.ops import resize
from keras_srcrm.ops import resize_bilinear
from tests.helpers import gradients
from tests.helpers import to_numpy


def torch_interpolate(images, size, align_corners):
    tensor = torch.tensor(images, dtype=torch.float64).permute(0, 3, 1, 2)
    out = F.interpolate(tensor, size=size, mode="bilinear", align_corners=align_corners)
    return out.permute(0, 2, 3, 1).numpy()


@pytest.fixture(params=["matrix", "gather"])
def resize_path(request, monkeypatch):
    """Both implementations: the interpolation matrix along short static axes
    (the default for these sizes), and gathers (forced for every axis)."""
    if request.param == "gather":
        monkeypatch.setattr(resize, "MATMUL_MAX_INPUT", 0)
    return request.param


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize(
    "in_size,out_size",
    [((4, 5), (8, 10)), ((7, 3), (13, 9)), ((9, 8), (4, 3)), ((1, 1), (3, 2))],
)
def test_matches_torch_interpolate(rng, align_corners, in_size, out_size, resize_path):
    images = rng.standard_normal((2, *in_size, 3)).astype("float32")
    out = resize_bilinear(images, out_size, align_corners=align_corners)
    expected = torch_interpolate(images, out_size, align_corners)
    np.testing.assert_allclose(to_numpy(out), expected, atol=1e-5)


def test_matches_keras_resize(rng):
    images = rng.standard_normal((2, 6, 7, 3)).astype("float32")
    for size in [(12, 14), (3, 4), (9, 5)]:
        expected = keras.ops.image.resize(images, size, interpolation="bilinear")
        np.testing.assert_allclose(
            to_numpy(resize_bilinear(images, size)), to_numpy(expected), atol=1e-5
        )


@pytest.mark.parametrize("align_corners", [True, False])
def test_gradient_matches_torch(rng, align_corners, resize_path):
    images = rng.standard_normal((1, 5, 4, 2))
    cotangent = rng.standard_normal((1, 9, 7, 2)).astype("float32")
    (grad,) = gradients(
        lambda x: keras.ops.sum(
            resize_bilinear(x, (9, 7), align_corners=align_corners)
            * keras.ops.convert_to_tensor(cotangent)
        ),
        images.astype("float32"),
    )
    tensor = torch.tensor(images).permute(0, 3, 1, 2).requires_grad_(True)
    out = F.interpolate(
        tensor, size=(9, 7), mode="bilinear", align_corners=align_corners
    )
    (out * torch.tensor(cotangent).permute(0, 3, 1, 2)).sum().backward()
    np.testing.assert_allclose(grad, tensor.grad.permute(0, 2, 3, 1).numpy(), atol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_keeps_dtype(rng, dtype):
    images = keras.ops.cast(rng.standard_normal((1, 4, 4, 2)), dtype)
    for align_corners in (True, False):
        out = resize_bilinear(images, (8, 8), align_corners=align_corners)
        assert keras.backend.standardize_dtype(out.dtype) == dtype


def test_dynamic_size_in_functional_model(rng):
    class ResizeLike(keras.layers.Layer):
        def call(self, inputs):
            images, reference = inputs
            shape = keras.ops.shape(reference)
            return resize_bilinear(images, (shape[1], shape[2]), align_corners=True)

        def compute_output_shape(self, input_shape):
            return (*input_shape[1][:3], input_shape[0][-1])

    images = keras.Input((None, None, 3))
    reference = keras.Input((None, None, 1))
    model = keras.Model([images, reference], ResizeLike()([images, reference]))
    x = rng.standard_normal((2, 5, 4, 3)).astype("float32")
    out = model.predict([x, np.zeros((2, 9, 7, 1), "float32")], verbose=0)
    np.testing.assert_allclose(out, torch_interpolate(x, (9, 7), True), atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match=r"rank-4.*\(4, 4, 3\)"):
        resize_bilinear(np.zeros((4, 4, 3), "float32"), (8, 8))
    with pytest.raises(ValueError, match="size"):
        resize_bilinear(np.zeros((1, 4, 4, 3), "float32"), (2, 2, 2))


def test_long_axes_gather_and_short_ones_multiply(monkeypatch):
    """The matrix product serves static axes up to `MATMUL_MAX_INPUT` long."""
    calls = []
    original = resize._interpolation_matrix

    def spy(lower, upper, weight, in_size):
        calls.append((in_size, lower.shape[0]))
        return original(lower, upper, weight, in_size)

    monkeypatch.setattr(resize, "_interpolation_matrix", spy)
    limit = resize.MATMUL_MAX_INPUT
    resize_bilinear(np.zeros((1, limit, limit + 1, 1), "float32"), (4, 6))
    assert calls == [(limit, 4)]
