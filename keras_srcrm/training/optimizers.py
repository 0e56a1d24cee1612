"""An optimizer factory with the weight-decay exclusions of segmentation."""

import re

import keras

from keras_srcrm.utils.validation import check_number
from keras_srcrm.utils.validation import check_positive_number

OPTIMIZER_NAMES = ("sgd", "adamw", "adam")
# Variable names (a variable's own name, not its path) that get no weight
# decay: biases and the scales and offsets of normalisation layers
# (BatchNormalization, LayerNormalization, GroupNormalization).
NO_WEIGHT_DECAY_NAMES = ("bias", "gamma", "beta")
ADAMW_DEFAULT_WEIGHT_DECAY = 0.01


def _exact_name_pattern(name):
    # "bias" on JAX/torch, "model/layer/bias:0" on TensorFlow, and
    # "model/layer/bias/replica_1:0" for the copies of a MirroredVariable.
    return rf"(?:^|/){re.escape(name)}(?:/replica_\d+)?(?::\d+)?$"


def build_optimizer(
    name="sgd",
    learning_rate=0.01,
    *,
    momentum=0.9,
    weight_decay=None,
    nesterov=False,
    clipnorm=None,
    no_weight_decay_names=NO_WEIGHT_DECAY_NAMES,
):
    """Builds the SGD or AdamW optimizer of a segmentation recipe.

    Weight decay is Keras's: decoupled from the gradient and scaled by the
    learning rate, `w <- w - learning_rate * weight_decay * w` at every step,
    applied before the gradient update. Biases and normalisation
    scales/offsets are excluded by default, through
    `optimizer.exclude_from_weight_decay(var_names=...)`. Keras 3 matches
    those names with `re.search` against a variable's name, which is its own
    name (`"bias"`) on JAX and torch but the TensorFlow variable's name
    (`"model/dense/bias:0"`) on TensorFlow; this function builds patterns
    that match the last path component exactly on every backend, so that
    `"bias"` excludes `dense/bias` but not the kernel of a layer named
    `bias_dense`.

    **PyTorch recipes.** `torch.optim.SGD(weight_decay=5e-4, momentum=0.9)`
    adds `5e-4 * w` to the gradient, which then goes through the momentum,
    and decays every parameter, biases and BatchNorm included: in the steady
    state its decay is about `1 / (1 - momentum) = 10` times stronger than a
    decoupled decay of the same value. This function does not convert
    values; pass e.g. `weight_decay=5e-3`, `no_weight_decay_names=()` to
    approximate that recipe, or keep 5e-4 and the exclusions as stated.

    **Saving.** Keras does not store the exclusions in the optimizer's
    config: an optimizer restored by `keras.models.load_model` decays every
    variable. To continue training a loaded model, compile it again with a
    new optimizer from this function (`BackupAndRestore` is not affected: it
    restores variables into the optimizer you built).

    Args:
        name: `"sgd"` (with momentum), `"adamw"`, or `"adam"`.
        learning_rate: A positive float, or a
            `keras.optimizers.schedules.LearningRateSchedule` such as
            `PolynomialDecayWithWarmup`.
        momentum: SGD momentum in `[0, 1)`; SGD only. Defaults to 0.9.
        weight_decay: Decoupled weight decay, a number >= 0. `None` (the
            default) means none for `"sgd"` and `"adam"` and 0.01 for
            `"adamw"`. `"adam"` with a weight decay is the same as `"adamw"`.
        nesterov: Whether SGD uses Nesterov momentum; SGD only.
        clipnorm: Optional positive number: each gradient is clipped to this
            norm.
        no_weight_decay_names: Variable names excluded from weight decay.
            Defaults to `("bias", "gamma", "beta")`; `()` decays everything.

    Returns:
        A `keras.optimizers.SGD`, `AdamW` or `Adam`, not yet built.

    Example:

    ```python
    schedule = PolynomialDecayWithWarmup(0.01, decay_steps=80_000)
    optimizer = build_optimizer("sgd", schedule, weight_decay=5e-4)
    model.compile(optimizer=optimizer, loss=...)
    ```
    """
    if not isinstance(name, str) or name.lower() not in OPTIMIZER_NAMES:
        raise ValueError(
            f"`name` must be one of {OPTIMIZER_NAMES}. Received: name={name!r}"
        )
    name = name.lower()
    if not isinstance(
        learning_rate, keras.optimizers.schedules.LearningRateSchedule
    ) and not callable(learning_rate):
        check_positive_number("learning_rate", learning_rate)
    if check_number("momentum", momentum, minimum=0.0, maximum=1.0) == 1.0:
        raise ValueError(
            f"`momentum` must be in [0, 1). Received: momentum={momentum!r}"
        )
    if weight_decay is not None:
        check_number("weight_decay", weight_decay, minimum=0.0)
    if nesterov and name != "sgd":
        raise ValueError(
            "`nesterov` applies to SGD only. "
            f"Received: nesterov={nesterov!r} with name={name!r}"
        )
    if clipnorm is not None:
        check_positive_number("clipnorm", clipnorm)
    if isinstance(no_weight_decay_names, str) or not all(
        isinstance(n, str) and n for n in no_weight_decay_names
    ):
        raise ValueError(
            "`no_weight_decay_names` must be a sequence of non-empty "
            f"strings. Received: no_weight_decay_names={no_weight_decay_names!r}"
        )
    if name == "adamw" and weight_decay is None:
        weight_decay = ADAMW_DEFAULT_WEIGHT_DECAY
    if weight_decay == 0 and name != "adamw":  # Keras's AdamW needs a number.
        weight_decay = None

    common = dict(
        learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm
    )
    if name == "sgd":
        optimizer = keras.optimizers.SGD(
            momentum=float(momentum), nesterov=bool(nesterov), **common
        )
    elif name == "adamw":
        optimizer = keras.optimizers.AdamW(**common)
    else:
        optimizer = keras.optimizers.Adam(**common)
    if weight_decay and no_weight_decay_names:
        optimizer.exclude_from_weight_decay(
            var_names=[_exact_name_pattern(n) for n in no_weight_decay_names]
        )
    return optimizer
