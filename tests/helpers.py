"""Backend-neutral test helpers: gradients, conversions, public names."""

import contextlib
import inspect

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


def assert_public_names(module, constants):
    """Checks that `module.__all__` exports what it promises.

    Every name is either one of `constants`, an instance of the type given
    there, or a function or class of keras-srcrm itself, exported under its
    own name, with a docstring of its own.

    Args:
        module: The public module.
        constants: `{name: type}` of the module's non-callable exports.
    """
    exported = list(module.__all__)
    assert len(set(exported)) == len(exported), "a name is listed twice"
    assert set(constants) <= set(exported), set(constants) - set(exported)
    for name in exported:
        value = getattr(module, name)
        if name in constants:
            assert isinstance(value, constants[name]), (name, type(value))
            continue
        assert inspect.isfunction(value) or inspect.isclass(value), (name, value)
        assert value.__name__ == name, (name, value.__name__)
        assert value.__module__.startswith("keras_srcrm."), (name, value.__module__)
        # A class's own docstring, not one inherited from a Keras base class.
        own = vars(value) if inspect.isclass(value) else {"__doc__": value.__doc__}
        docstring = own.get("__doc__")
        assert docstring and docstring.strip(), f"{name} has no docstring"


def training_gradients(model, loss_fn, inputs, targets):
    """One training step's loss, gradients and outputs, without a fit.

    What a training step computes before the optimizer: the outputs of
    `model(inputs, training=True)`, `loss_fn(targets, outputs)` and its
    gradient with respect to every trainable variable. TensorFlow and torch
    run it eagerly; JAX compiles it once (`jax.jit` of `jax.value_and_grad`
    of `model.stateless_call`): eager JAX compiles each operation for each
    shape on its own, which costs more on a CPU.

    Args:
        model: A built Keras model.
        loss_fn: `(targets, outputs) -> scalar tensor`.
        inputs: A NumPy array.
        targets: A NumPy array.

    Returns:
        `(loss, gradients, outputs)`: a float; one NumPy array per variable of
        `model.trainable_variables` (zeros where the loss does not depend on
        it); the outputs as NumPy arrays of their dtype.
    """
    variables = model.trainable_variables
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            loss = loss_fn(targets, outputs)
        grads = tape.gradient(loss, variables)
    elif backend == "jax":
        import jax

        non_trainable = [v.value for v in model.non_trainable_variables]

        def compute_loss(trainable):
            outputs, _ = model.stateless_call(
                trainable, non_trainable, inputs, training=True
            )
            return loss_fn(targets, outputs), outputs

        step = jax.jit(jax.value_and_grad(compute_loss, has_aux=True))
        (loss, outputs), grads = step([v.value for v in variables])
    elif backend == "torch":
        import torch

        outputs = model(inputs, training=True)
        loss = loss_fn(targets, outputs)
        grads = torch.autograd.grad(
            loss, [v.value for v in variables], allow_unused=True
        )
    else:
        raise NotImplementedError(f"No gradient helper for backend {backend!r}")
    gradients = [
        np.zeros(v.shape, "float32") if g is None else to_numpy(g)
        for v, g in zip(variables, grads)
    ]
    # In their own dtype (`to_numpy` would make bfloat16 float32).
    outputs = keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)
    return float(to_numpy(loss)), gradients, outputs
