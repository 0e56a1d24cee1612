"""The decoders' Conv2D and BatchNormalization agree with Keras's layers.

On PyTorch they take a copy-free path (`ops/conv_norm_torch.py`); these tests
hold it to Keras's results, moving statistics and gradients.
"""

import keras
import numpy as np
import pytest
from keras.src import testing

from keras_srcrm.layers import conv_and_norm
from keras_srcrm.layers.conv_and_norm import BatchNormalization
from keras_srcrm.layers.conv_and_norm import Conv2D
from tests.helpers import to_numpy

TORCH_ONLY = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="the copy-free path exists on PyTorch only; on TensorFlow and JAX "
    "these layers are Keras's and run Keras's code",
)

CONV_CASES = {
    "3x3 same": dict(filters=6, kernel_size=3, padding="same"),
    "3x3 same stride 2 (asymmetric padding)": dict(
        filters=6, kernel_size=3, strides=2, padding="same"
    ),
    "2x2 same (asymmetric padding)": dict(filters=6, kernel_size=2, padding="same"),
    "1x1 with bias": dict(filters=5, kernel_size=1, use_bias=True),
    "3x3 valid dilated": dict(filters=4, kernel_size=3, dilation_rate=2),
    "3x3 same, 2 groups": dict(filters=4, kernel_size=3, padding="same", groups=2),
}


def _pair(ours_cls, keras_cls, kwargs, input_shape):
    ours = ours_cls(**kwargs)
    reference = keras_cls(**kwargs)
    ours.build(input_shape)
    reference.build(input_shape)
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=w.shape).astype("float32") for w in ours.weights]
    if isinstance(ours, keras.layers.BatchNormalization):
        # A positive moving variance.
        weights = [np.abs(w) + 0.5 for w in weights]
    ours.set_weights(weights)
    reference.set_weights(weights)
    return ours, reference


class ConvAndNormLayerTest(testing.TestCase):
    def test_conv2d(self):
        self.run_layer_test(
            Conv2D,
            init_kwargs={"filters": 8, "kernel_size": 3, "padding": "same"},
            input_shape=(2, 7, 5, 4),
            expected_output_shape=(2, 7, 5, 8),
            expected_num_trainable_weights=2,
        )

    def test_batch_normalization(self):
        self.run_layer_test(
            BatchNormalization,
            init_kwargs={"momentum": 0.9, "epsilon": 1e-5},
            input_shape=(2, 7, 5, 4),
            expected_output_shape=(2, 7, 5, 4),
            expected_num_trainable_weights=2,
            expected_num_non_trainable_weights=2,
        )


@pytest.mark.parametrize("case", list(CONV_CASES), ids=list(CONV_CASES))
def test_conv2d_agrees_with_keras(case):
    kwargs = CONV_CASES[case]
    shape = (2, 8, 7, 4)
    ours, reference = _pair(Conv2D, keras.layers.Conv2D, kwargs, shape)
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    np.testing.assert_allclose(
        to_numpy(ours(x)), to_numpy(reference(x)), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(2, 6, 5, 3), (1, 1, 1, 3)], ids=["map", "pixel"])
@pytest.mark.parametrize("center_and_scale", [True, False])
def test_batch_norm_agrees_with_keras(training, shape, center_and_scale):
    kwargs = dict(
        momentum=0.8, epsilon=1e-5, center=center_and_scale, scale=center_and_scale
    )
    ours, reference = _pair(
        BatchNormalization, keras.layers.BatchNormalization, kwargs, shape
    )
    x = np.random.default_rng(1).normal(3.0, 2.0, size=shape).astype("float32")
    np.testing.assert_allclose(
        to_numpy(ours(x, training=training)),
        to_numpy(reference(x, training=training)),
        rtol=1e-4,
        atol=1e-4,
    )
    for a, b in zip(ours.non_trainable_weights, reference.non_trainable_weights):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-5, atol=1e-6)


def test_batch_norm_keeps_the_mixed_precision_dtype():
    layer = BatchNormalization(dtype="mixed_float16")
    x = keras.ops.ones((2, 4, 4, 3), "float16")
    assert keras.backend.standardize_dtype(layer(x, training=True).dtype) == "float16"
    assert keras.backend.standardize_dtype(layer.moving_mean.dtype) == "float32"


@TORCH_ONLY
@pytest.mark.parametrize("layer", ["conv", "batch_norm"])
def test_gradients_agree_with_keras(layer):
    import torch

    shape = (2, 8, 7, 4)
    if layer == "conv":
        kwargs = CONV_CASES["3x3 same stride 2 (asymmetric padding)"]
        ours, reference = _pair(Conv2D, keras.layers.Conv2D, kwargs, shape)
        call = {}
    else:
        ours, reference = _pair(
            BatchNormalization, keras.layers.BatchNormalization, {}, shape
        )
        call = {"training": True}
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    gradients = []
    for model in (ours, reference):
        inputs = torch.tensor(x, requires_grad=True)
        weights = [w.value for w in model.trainable_weights]
        loss = (model(inputs, **call) ** 2).sum()
        gradients.append(torch.autograd.grad(loss, [inputs, *weights]))
    for a, b in zip(*gradients):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)


@TORCH_ONLY
def test_torch_calls_take_the_copy_free_path(monkeypatch):
    from keras_srcrm.ops import conv_norm_torch

    calls = []
    for name in ("conv2d_channels_last", "batch_norm_channels_last_training"):
        function = getattr(conv_norm_torch, name)

        def spy(*args, _function=function, _name=name, **kwargs):
            calls.append(_name)
            return _function(*args, **kwargs)

        monkeypatch.setattr(conv_norm_torch, name, spy)
    x = keras.ops.ones((1, 4, 4, 2))
    BatchNormalization()(Conv2D(3, 3, padding="same")(x), training=True)
    assert calls == ["conv2d_channels_last", "batch_norm_channels_last_training"]
    with conv_and_norm.keras_path():
        BatchNormalization()(Conv2D(3, 3, padding="same")(x), training=True)
    assert len(calls) == 2
    BatchNormalization()(Conv2D(3, 3, padding="same")(x), training=True)
    assert len(calls) == 4


def test_use_copy_free_layers_switches_only_keras_own_classes():
    class OwnConv(keras.layers.Conv2D):
        pass

    model = keras.Sequential(
        [
            keras.Input((6, 6, 3)),
            keras.layers.Conv2D(4, 3),
            keras.layers.BatchNormalization(),
            OwnConv(2, 1),
            keras.layers.Dense(2),
        ]
    )
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    expected = to_numpy(model(x))
    assert conv_and_norm.use_copy_free_layers(model) == 2
    assert [type(layer) for layer in model.layers] == [
        Conv2D,
        BatchNormalization,
        OwnConv,
        keras.layers.Dense,
    ]
    np.testing.assert_allclose(to_numpy(model(x)), expected, rtol=1e-5, atol=1e-5)
    assert conv_and_norm.use_copy_free_layers(model) == 0
