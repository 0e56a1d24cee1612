"""build_optimizer: types, weight-decay exclusions, errors."""

import keras
import numpy as np
import pytest

from keras_srcrm.training import PolynomialDecayWithWarmup
from keras_srcrm.training import build_optimizer


def _model():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, name="dense"),
            keras.layers.BatchNormalization(name="norm"),
            keras.layers.LayerNormalization(name="layer_norm"),
        ]
    )
    for variable in model.trainable_variables:
        variable.assign(keras.ops.ones(variable.shape))
    return model


def _one_zero_gradient_step(optimizer, model):
    """Applies zero gradients: only the weight decay moves the variables."""
    variables = model.trainable_variables
    optimizer.apply([keras.ops.zeros_like(v.value) for v in variables], variables)
    # "layer/variable" paths, e.g. "dense/kernel".
    return {
        "/".join(v.path.split("/")[-2:]): keras.ops.convert_to_numpy(v.value)
        for v in variables
    }


def test_sgd():
    optimizer = build_optimizer("sgd", 0.05, momentum=0.8, nesterov=True, clipnorm=1.0)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == 0.8
    assert optimizer.nesterov
    assert optimizer.clipnorm == 1.0
    assert optimizer.weight_decay is None
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(
        0.05
    )


def test_adamw_has_a_default_weight_decay_and_adam_none():
    adamw = build_optimizer("AdamW", 1e-3)
    assert isinstance(adamw, keras.optimizers.AdamW)
    assert adamw.weight_decay == 0.01
    adam = build_optimizer("adam", 1e-3)
    assert isinstance(adam, keras.optimizers.Adam)
    assert not isinstance(adam, keras.optimizers.AdamW)
    assert adam.weight_decay is None


def test_takes_a_schedule():
    schedule = PolynomialDecayWithWarmup(0.01, 100)
    optimizer = build_optimizer("sgd", schedule)
    assert optimizer._learning_rate is schedule


@pytest.mark.parametrize("name", ["sgd", "adamw", "adam"])
def test_weight_decay_skips_biases_and_normalisation(name):
    model = _model()
    optimizer = build_optimizer(name, 0.1, weight_decay=0.5)
    values = _one_zero_gradient_step(optimizer, model)
    decayed = {path for path, value in values.items() if not np.allclose(value, 1.0)}
    assert decayed == {"dense/kernel"}
    # Keras's decoupled decay: w - learning_rate * weight_decay * w.
    np.testing.assert_allclose(values["dense/kernel"], 1.0 - 0.1 * 0.5, rtol=1e-6)


def test_weight_decay_of_every_variable_when_asked():
    model = _model()
    optimizer = build_optimizer("sgd", 0.1, weight_decay=0.5, no_weight_decay_names=())
    values = _one_zero_gradient_step(optimizer, model)
    for value in values.values():
        np.testing.assert_allclose(value, 0.95, rtol=1e-6)


def test_exclusions_match_whole_names_only():
    inputs = keras.Input((2,))
    outputs = keras.layers.Dense(1, name="bias_dense", use_bias=False)(inputs)
    model = keras.Model(inputs, outputs)
    model.trainable_variables[0].assign(keras.ops.ones((2, 1)))
    assert model.trainable_variables[0].path.endswith("bias_dense/kernel")
    optimizer = build_optimizer("sgd", 0.1, weight_decay=0.5)
    # The kernel of a layer called "bias_dense" is still decayed.
    values = _one_zero_gradient_step(optimizer, model)
    np.testing.assert_allclose(values["bias_dense/kernel"], 0.95, rtol=1e-6)


def test_no_weight_decay_by_default_for_sgd():
    model = _model()
    values = _one_zero_gradient_step(build_optimizer("sgd", 0.1), model)
    for value in values.values():
        np.testing.assert_allclose(value, 1.0)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(name="rmsprop"), "name"),
        (dict(name=None), "name"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(learning_rate=-1e-3), "learning_rate"),
        (dict(momentum=1.0), "momentum"),
        (dict(weight_decay=-1e-4), "weight_decay"),
        (dict(name="adamw", nesterov=True), "nesterov"),
        (dict(clipnorm=0), "clipnorm"),
        (dict(no_weight_decay_names="bias"), "no_weight_decay_names"),
    ],
)
def test_invalid_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*Received: {argument}="):
        build_optimizer(**kwargs)


@pytest.mark.parametrize(
    "variable_name, excluded",
    [
        ("bias", True),  # a variable's name on JAX and torch
        ("model/dense/bias:0", True),  # the tf.Variable's name on TensorFlow
        ("model/dense/bias/replica_1:0", True),  # a MirroredVariable's copy
        ("model/norm/gamma:0", True),
        ("model/bias_dense/kernel:0", False),
        ("model/dense/bias_scale:0", False),
        ("kernel", False),
    ],
)
def test_exclusion_patterns_on_every_backend(variable_name, excluded):
    optimizer = build_optimizer("sgd", 0.1, weight_decay=1e-4)
    pattern = optimizer._exclude_from_weight_decay_pattern
    assert (pattern.search(variable_name) is not None) is excluded
