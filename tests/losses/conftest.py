"""Backend-specific differentiation for the loss tests."""

import keras
import numpy as np
import pytest


def _value_and_gradient(fn, x):
    """Returns `fn(x)` and `d fn / d x` as NumPy arrays, on any backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        return np.asarray(value), np.asarray(tape.gradient(value, x))
    if backend == "jax":
        import jax

        # Jitted: one compilation instead of one per primitive in eager JAX.
        value, gradient = jax.jit(jax.value_and_grad(fn))(jax.numpy.asarray(x))
        return np.asarray(value), np.asarray(gradient)
    if backend == "torch":
        import torch

        x = torch.tensor(x, requires_grad=True)
        value = fn(x)
        value.backward()
        return value.detach().numpy(), x.grad.numpy()
    pytest.skip(f"no automatic differentiation on backend {backend}")


@pytest.fixture
def value_and_gradient():
    return _value_and_gradient
