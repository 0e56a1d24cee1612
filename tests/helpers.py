"""Backend-neutral test helpers: gradients and conversions."""

import contextlib

import keras
import numpy as np


def to_numpy(tensor):
    """Converts a backend tensor (any dtype) to a NumPy array."""
    if keras.backend.standardize_dtype(tensor.dtype) == "bfloat16":
        tensor = keras.ops.cast(tensor, "float32")
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def gradients(fn, *args):
    """Gradients of the scalar `fn(*args)` with respect to every argument.

    Args:
        fn: A function of backend tensors returning a scalar tensor.
        *args: NumPy arrays; they are converted to backend tensors with their
            dtype.

    Returns:
        A list of NumPy arrays, one per argument (zeros where `fn` does not
        depend on it).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors)
        return [
            np.zeros_like(a) if g is None else np.asarray(tf.convert_to_tensor(g))
            for a, g in zip(args, grads)
        ]
    if backend == "jax":
        import jax

        grads = jax.grad(fn, argnums=tuple(range(len(args))))(*args)
        return [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        tensors = [torch.tensor(np.asarray(a), requires_grad=True) for a in args]
        fn(*tensors).backward()
        return [
            np.zeros_like(a) if t.grad is None else t.grad.numpy()
            for a, t in zip(args, tensors)
        ]
    raise NotImplementedError(f"No gradient helper for backend {backend!r}")


@contextlib.contextmanager
def float64_enabled():
    """Lets JAX compute in float64 inside the block (a no-op elsewhere)."""
    if keras.backend.backend() == "jax":
        import jax

        with jax.enable_x64(True):
            yield
    else:
        yield


def call_jitted(layer, inputs, **kwargs):
    """Calls a built layer, as one compiled function on JAX.

    Eager JAX compiles every op for every new shape, which costs seconds per
    layer call on a small CPU; one `jax.jit` of the whole call compiles once.
    Other backends call the layer eagerly.
    """
    if keras.backend.backend() != "jax":
        return layer(inputs, **kwargs)
    import jax

    def call(trainable, non_trainable, inputs):
        outputs, _ = layer.stateless_call(trainable, non_trainable, inputs, **kwargs)
        return outputs

    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    return jax.jit(call)(trainable, non_trainable, inputs)
