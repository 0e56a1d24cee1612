"""PolynomialDecayWithWarmup: values, validation, saving, use in `fit`."""

import keras
import numpy as np
import pytest

from keras_srcrm.training import PolynomialDecayWithWarmup

BACKEND = keras.backend.backend()


def _value(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def _reference(step, initial, decay_steps, power, end, warmup_steps, ratio):
    """The formula of the docstring, in float64."""
    step = min(max(step, 0), decay_steps)
    value = (initial - end) * (1 - step / decay_steps) ** power + end
    if warmup_steps:
        value *= ratio + (1 - ratio) * min(step / warmup_steps, 1.0)
    return value


def test_values_at_known_steps():
    schedule = PolynomialDecayWithWarmup(
        0.01, decay_steps=1000, power=0.9, warmup_steps=100, warmup_ratio=0.1
    )
    # Warmup start: the ratio times the poly value at step 0.
    assert _value(schedule, 0) == pytest.approx(0.001, rel=1e-6)
    # Half-way through the warmup.
    expected = 0.01 * (1 - 50 / 1000) ** 0.9 * (0.1 + 0.9 * 0.5)
    assert _value(schedule, 50) == pytest.approx(expected, rel=1e-6)
    # End of the warmup: on the poly curve.
    assert _value(schedule, 100) == pytest.approx(0.01 * 0.9**0.9, rel=1e-6)
    # Mid decay.
    assert _value(schedule, 500) == pytest.approx(0.01 * 0.5**0.9, rel=1e-6)
    # At and after decay_steps: the end learning rate, here 0.
    assert _value(schedule, 1000) == 0.0
    assert _value(schedule, 5000) == 0.0


def test_matches_the_formula_with_an_end_learning_rate():
    args = dict(
        initial=0.02, decay_steps=300, power=2.0, end=1e-4, warmup_steps=30, ratio=0
    )
    schedule = PolynomialDecayWithWarmup(
        args["initial"],
        args["decay_steps"],
        power=args["power"],
        end_learning_rate=args["end"],
        warmup_steps=args["warmup_steps"],
        warmup_ratio=args["ratio"],
    )
    steps = [0, 1, 15, 29, 30, 31, 150, 299, 300, 301, 10_000]
    got = [_value(schedule, s) for s in steps]
    want = [_reference(s, **args) for s in steps]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
    assert got[-1] == pytest.approx(1e-4)


def test_without_warmup_it_is_keras_polynomial_decay():
    ours = PolynomialDecayWithWarmup(0.01, 200, power=0.9, end_learning_rate=1e-4)
    keras_schedule = keras.optimizers.schedules.PolynomialDecay(
        0.01, 200, end_learning_rate=1e-4, power=0.9
    )
    for step in (0, 7, 100, 199, 200, 250):
        assert _value(ours, step) == pytest.approx(_value(keras_schedule, step), 1e-5)


def test_takes_integer_tensor_steps():
    schedule = PolynomialDecayWithWarmup(0.01, 100, warmup_steps=10)
    step = keras.ops.convert_to_tensor(5, dtype="int32")
    value = schedule(step)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    assert float(keras.ops.convert_to_numpy(value)) == pytest.approx(
        _reference(5, 0.01, 100, 0.9, 0.0, 10, 1e-6), rel=1e-6
    )


def test_serialization_round_trip():
    schedule = PolynomialDecayWithWarmup(
        0.01, 500, power=1.5, end_learning_rate=1e-5, warmup_steps=20, warmup_ratio=0.3
    )
    config = keras.saving.serialize_keras_object(schedule)
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, PolynomialDecayWithWarmup)
    assert restored.get_config() == schedule.get_config()
    for step in (0, 10, 20, 250, 600):
        assert _value(restored, step) == _value(schedule, step)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(initial_learning_rate=0.0, decay_steps=10), "initial_learning_rate"),
        (dict(initial_learning_rate="0.1", decay_steps=10), "initial_learning_rate"),
        (dict(initial_learning_rate=0.1, decay_steps=0), "decay_steps"),
        (dict(initial_learning_rate=0.1, decay_steps=10.0), "decay_steps"),
        (dict(initial_learning_rate=0.1, decay_steps=10, power=0), "power"),
        (
            dict(initial_learning_rate=0.1, decay_steps=10, end_learning_rate=0.2),
            "end_learning_rate",
        ),
        (
            dict(initial_learning_rate=0.1, decay_steps=10, warmup_steps=11),
            "warmup_steps",
        ),
        (
            dict(initial_learning_rate=0.1, decay_steps=10, warmup_steps=-1),
            "warmup_steps",
        ),
        (
            dict(initial_learning_rate=0.1, decay_steps=10, warmup_ratio=1.5),
            "warmup_ratio",
        ),
    ],
)
def test_invalid_arguments_name_argument_and_value(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}.*Received: {argument}"):
        PolynomialDecayWithWarmup(**kwargs)


def test_drives_the_optimizer_in_a_compiled_fit():
    schedule = PolynomialDecayWithWarmup(0.1, 6, power=1.0, warmup_steps=2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(
        optimizer=keras.optimizers.SGD(schedule),
        loss="mse",
        jit_compile=BACKEND in ("tensorflow", "jax"),
    )
    x = np.ones((8, 4), "float32")
    model.fit(x, np.zeros((8, 1), "float32"), batch_size=4, epochs=2, verbose=0)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 4
    # The optimizer reads the schedule at its current step.
    assert float(
        keras.ops.convert_to_numpy(model.optimizer.learning_rate)
    ) == pytest.approx(_reference(4, 0.1, 6, 1.0, 0.0, 2, 1e-6), rel=1e-6)
