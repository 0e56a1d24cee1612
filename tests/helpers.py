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


def loss_and_gradients(model, loss_fn, inputs, targets):
    """The loss of one training-mode call and its gradient, without compiling.

    What one eager training step computes: `model(inputs, training=True)`,
    `loss_fn(targets, outputs)` and the gradient of that loss with respect
    to every trainable variable, on any backend (JAX: `jax.value_and_grad`
    of `model.stateless_call`, op by op, without `jax.jit`).

    Args:
        model: A built Keras model.
        loss_fn: `(targets, outputs) -> scalar tensor`.
        inputs: A NumPy array.
        targets: A NumPy array.

    Returns:
        `(loss, gradients)`: a float, and one NumPy array per variable of
        `model.trainable_variables` (zeros where the loss does not depend on
        it).
    """
    variables = model.trainable_variables
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(targets, model(inputs, training=True))
        grads = tape.gradient(loss, variables)
    elif backend == "jax":
        import jax

        non_trainable = [v.value for v in model.non_trainable_variables]

        def compute_loss(trainable):
            outputs, _ = model.stateless_call(
                trainable, non_trainable, inputs, training=True
            )
            return loss_fn(targets, outputs)

        loss, grads = jax.value_and_grad(compute_loss)([v.value for v in variables])
    elif backend == "torch":
        import torch

        loss = loss_fn(targets, model(inputs, training=True))
        grads = torch.autograd.grad(
            loss, [v.value for v in variables], allow_unused=True
        )
    else:
        raise NotImplementedError(f"No gradient helper for backend {backend!r}")
    gradients = [
        np.zeros(v.shape, "float32") if g is None else to_numpy(g)
        for v, g in zip(variables, grads)
    ]
    return float(to_numpy(loss)), gradients
