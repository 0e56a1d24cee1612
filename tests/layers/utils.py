"""Helpers shared by the layer and model tests."""

import keras
import numpy as np


def assert_keras_round_trip(model, inputs, path, atol=1e-6):
    """Saves `model` to a `.keras` file, reloads it and compares predictions."""
    expected = model.predict(inputs, verbose=0)
    model.save(path)
    restored = keras.saving.load_model(path)
    actual = restored.predict(inputs, verbose=0)
    for a, b in zip(keras.tree.flatten(actual), keras.tree.flatten(expected)):
        np.testing.assert_allclose(a, b, atol=atol)
    return restored


def fit_one_step(model, inputs, targets, loss="mse"):
    """Compiles `model` (jit on TF and JAX) and trains one step; returns the loss."""
    model.compile(
        keras.optimizers.SGD(0.1),
        loss,
        jit_compile=keras.backend.backend() != "torch",
    )
    history = model.fit(inputs, targets, batch_size=len(targets), epochs=1, verbose=0)
    return history.history["loss"][-1]
