"""Argument checks shared by the whole library, with one message style.

Every check raises a `ValueError` worded as

    `name` must be <what is expected>. Received: name=<what was given>

and returns the value in its standard form (a Python `int` for a NumPy
integer, a tuple for a pair), so that callers can write
`self.filters = check_positive_int("filters", filters)`.

Booleans are never accepted where a number is expected, although Python
treats `True` as the int 1. Integers are Python or NumPy integers.

Messages name the Python arguments the caller passed. A front end with its
own spelling of them (the `keras-srcrm` command line, whose users type
`--overwrite`, not `overwrite=True`) sets it for a block with
`argument_spellings`; `spell` and the checks here then use that spelling.
"""

import contextlib
import contextvars
import math
import numbers

import numpy as np

_SPELLINGS = contextvars.ContextVar("keras_srcrm_argument_spellings", default=None)
_NO_VALUE = object()


def _spelling_key(name, value):
    # `repr` keeps `True` and `1` apart, which compare equal.
    return name if value is _NO_VALUE else (name, repr(value))


@contextlib.contextmanager
def argument_spellings(spellings):
    """Spells arguments the way a front end's users write them, in a block.

    Args:
        spellings: A dict from an argument name (`"split"`) or a pair
            `(name, value)` (`("overwrite", True)`) to the text that the
            messages raised inside the block use instead, e.g. `"--split"`
            or `"--overwrite"`. Pairs are what a message asks the user to
            pass to fix a problem.

    Example:

    ```python
    with argument_spellings({("overwrite", True): "--overwrite"}):
        run(args)  # "... Pass --overwrite to replace it."
    ```
    """
    current = _SPELLINGS.get() or {}
    token = _SPELLINGS.set(
        {
            **current,
            **{
                _spelling_key(*key) if isinstance(key, tuple) else key: text
                for key, text in spellings.items()
            },
        }
    )
    try:
        yield
    finally:
        _SPELLINGS.reset(token)


def spell(name, value=_NO_VALUE):
    """How a message names argument `name`, or asks for `name=value`.

    Returns `` `name` `` or `` `name=value` `` (value as its `repr`), unless
    `argument_spellings` gave another spelling, e.g. `--overwrite` for the
    pair, or `--split` for the name (and then `--split val` for a value).
    """
    spellings = _SPELLINGS.get() or {}
    spelled = spellings.get(_spelling_key(name, value))
    if spelled is not None:
        return spelled
    if value is not _NO_VALUE and name in spellings:
        # A flag that takes the value: `--split val`.
        return f"{spellings[name]} {value}"
    return f"`{name}`" if value is _NO_VALUE else f"`{name}={value!r}`"


def argument_name(name):
    """The bare name of argument `name` in messages: itself, or its spelling."""
    return (_SPELLINGS.get() or {}).get(name, name)


_name = argument_name


def is_int(value):
    """Whether `value` is a Python or NumPy integer (and not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value):
    """Whether `value` is a real number (and not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _fail(name, expected, value):
    name = _name(name)
    raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")


def check_bool(name, value):
    """Checks that `value` is a Python bool; returns it."""
    if not isinstance(value, bool):
        _fail(name, "a bool (True or False)", value)
    return value


def check_int(name, value, *, minimum=None, maximum=None):
    """Checks that `value` is an int within `[minimum, maximum]`; returns it.

    Args:
        name: The argument's name, for the message.
        value: The value to check.
        minimum: Optional smallest allowed value.
        maximum: Optional largest allowed value.

    Returns:
        `value` as a Python int.
    """
    if minimum is not None and maximum is not None:
        expected = f"an int in [{minimum}, {maximum}]"
    elif minimum == 1:
        expected = "a positive int"
    elif minimum is not None:
        expected = f"an int >= {minimum}"
    elif maximum is not None:
        expected = f"an int <= {maximum}"
    else:
        expected = "an int"
    if not is_int(value):
        _fail(name, expected, value)
    if (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        _fail(name, expected, value)
    return int(value)


def check_positive_int(name, value):
    """Checks that `value` is an int >= 1; returns it as a Python int."""
    return check_int(name, value, minimum=1)


def check_number(name, value, *, minimum=None, maximum=None, positive=False):
    """Checks that `value` is a finite real number in range; returns a float.

    Args:
        name: The argument's name, for the message.
        value: The value to check.
        minimum: Optional smallest allowed value (inclusive).
        maximum: Optional largest allowed value (inclusive).
        positive: Whether the value must be strictly greater than 0.

    Returns:
        `value` as a Python float.
    """
    if positive:
        expected = "a positive number"
    elif minimum is not None and maximum is not None:
        expected = f"a number in [{minimum}, {maximum}]"
    elif minimum is not None:
        expected = f"a number >= {minimum}"
    elif maximum is not None:
        expected = f"a number <= {maximum}"
    else:
        expected = "a finite number"
    if not is_number(value) or not math.isfinite(value):
        _fail(name, expected, value)
    if (
        (positive and value <= 0)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        _fail(name, expected, value)
    return float(value)


def check_positive_number(name, value):
    """Checks that `value` is a finite number > 0; returns it as a float."""
    return check_number(name, value, positive=True)


def _matches(value, choice):
    if isinstance(value, bool) or isinstance(choice, bool):
        return value is choice
    if is_int(choice):
        return is_int(value) and value == choice
    if isinstance(choice, str):
        return isinstance(value, str) and value == choice
    return value is choice


def check_choice(name, value, choices):
    """Checks that `value` is one of `choices` (strings, ints, None); returns it.

    `True` does not match `1`, nor `1.0` the int `1`.
    """
    if not any(_matches(value, choice) for choice in choices):
        _fail(name, f"one of {tuple(choices)}", value)
    return value


def check_num_classes(value, name="num_classes"):
    """The one rule for a number of classes: an int >= 2.

    A segmentation has at least two classes (e.g. background and
    foreground); every model, loss, metric and dataset applies this rule.

    Returns:
        `value` as a Python int.
    """
    if not is_int(value) or value < 2:
        _fail(
            name,
            "an int >= 2 (a segmentation has at least two classes, e.g. "
            "background and foreground)",
            value,
        )
    return int(value)


def check_ignore_label(ignore_label, num_classes=None, *, allow_none=False):
    """Checks an ignore label: an int outside `[0, num_classes)` (or None).

    Args:
        ignore_label: The label id that marks pixels to leave out.
        num_classes: Optional number of classes; the ignore label must not be
            a train id, or it would be mistaken for a class.
        allow_none: Whether None (nothing ignored) is accepted.

    Returns:
        `ignore_label` as a Python int, or None.
    """
    if ignore_label is None and allow_none:
        return None
    if not is_int(ignore_label):
        _fail(
            "ignore_label", "an int" + (" or None" if allow_none else ""), ignore_label
        )
    if num_classes is not None and 0 <= ignore_label < num_classes:
        raise ValueError(
            f"`ignore_label` must lie outside the train ids [0, {num_classes}), "
            "or it would be mistaken for a class. Received: "
            f"ignore_label={ignore_label}"
        )
    return int(ignore_label)


def check_class_weights(class_weights, num_classes=None):
    """Checks per-class loss weights: finite, non-negative, one per class.

    Args:
        class_weights: A 1-D sequence of numbers, or None.
        num_classes: Optional number of classes the weights must match.

    Returns:
        A list of floats, or None.
    """
    if class_weights is None:
        return None
    try:
        weights = np.asarray(class_weights, dtype="float64")
    except (TypeError, ValueError):
        weights = None
    if weights is None or weights.ndim != 1 or not np.all(np.isfinite(weights)):
        _fail("class_weights", "a 1-D sequence of finite numbers", class_weights)
    if np.any(weights < 0):
        _fail("class_weights", "non-negative", class_weights)
    if num_classes is not None and len(weights) != num_classes:
        raise ValueError(
            f"`class_weights` must have one weight per class ({num_classes} "
            f"classes). Received {len(weights)} weights: "
            f"class_weights={class_weights!r}"
        )
    return [float(w) for w in weights]


def check_pair(name, value, *, minimum=1):
    """Checks an int or a `(height, width)` pair of ints, each >= `minimum`.

    Returns:
        The `(height, width)` tuple of Python ints.
    """
    if is_int(value):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(is_int(v) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        pair = None
    if pair is None or min(pair) < minimum:
        _fail(
            name,
            f"an int or a pair (height, width) of ints, each >= {minimum}",
            value,
        )
    return pair


def check_interval(name, value, *, minimum=None, maximum=None):
    """Checks a `(low, high)` pair of numbers with `minimum <= low <= high`.

    Returns:
        The `(low, high)` tuple of floats.
    """
    bounds = []
    if minimum is not None:
        bounds.append(f"{minimum} <= low")
    bounds.append("low <= high")
    if maximum is not None:
        bounds.append(f"high <= {maximum}")
    expected = f"a pair (low, high) of numbers with {', '.join(bounds)}"
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(is_number(v) and math.isfinite(v) for v in value)
        or value[0] > value[1]
        or (minimum is not None and value[0] < minimum)
        or (maximum is not None and value[1] > maximum)
    ):
        _fail(name, expected, value)
    return float(value[0]), float(value[1])


def check_positive_numbers(name, values):
    """Checks a non-empty sequence of finite numbers > 0; returns a tuple."""
    try:
        items = tuple(values)
    except TypeError:
        items = None
    if not items or not all(is_number(v) and math.isfinite(v) and v > 0 for v in items):
        _fail(name, "a non-empty sequence of positive numbers", values)
    return tuple(float(v) for v in items)


def check_image_batch(images, name="images"):
    """Checks a batch of RGB images: shape `(batch, height, width, 3)`, non-empty.

    Args:
        images: An array or tensor (anything with a `shape`).
        name: The argument's name, for the message.

    Returns:
        The shape as a tuple.
    """
    shape = tuple(images.shape)
    if len(shape) != 4:
        raise ValueError(
            f"`{name}` must be a rank-4 batch (batch, height, width, 3); add a "
            f"batch axis to a single image, e.g. `{name}[None]`. "
            f"Received: {name}.shape={shape}"
        )
    if shape[-1] != 3:
        raise ValueError(
            f"`{name}` must have 3 (RGB) channels in the last axis. "
            f"Received: {name}.shape={shape}"
        )
    if any(dim is None or dim < 1 for dim in shape[:3]):
        raise ValueError(
            f"`{name}` must have a known, non-zero batch, height and width. "
            f"Received: {name}.shape={shape}"
        )
    return shape


def check_rank(name, shape, rank, layout=None):
    """Checks that a tensor shape has `rank` dimensions.

    Args:
        name: The tensor's name, for the message.
        shape: Its shape (a tuple, possibly with `None`).
        rank: The expected number of dimensions.
        layout: Optional description of the axes, e.g.
            `"(batch, height, width, channels)"`.
    """
    shape = tuple(shape)
    if len(shape) != rank:
        expected = f"a rank-{rank} tensor" + (f" {layout}" if layout else "")
        raise ValueError(f"`{name}` must be {expected}. Received: {name}.shape={shape}")
    return shape


def is_shape(value):
    """Whether `value` is one shape: a tuple or list of ints and `None`s."""
    return isinstance(value, (tuple, list)) and all(
        d is None or is_int(d) for d in value
    )


MAIN_OUTPUT = "segmentation"


def segmentation_output(outputs):
    """The logits of a segmentation model's output, and the contract's check.

    A model of this library returns one logits tensor, or a dict that holds
    them under `"segmentation"` (with auxiliary heads beside them).

    Args:
        outputs: What the model returned (tensors or symbolic tensors).

    Returns:
        The logits tensor.
    """
    if isinstance(outputs, dict):
        if MAIN_OUTPUT not in outputs:
            raise ValueError(
                "A model that returns a dict must return its logits under the "
                f"key '{MAIN_OUTPUT}'. Received keys: {sorted(outputs)}"
            )
        return outputs[MAIN_OUTPUT]
    if isinstance(outputs, (list, tuple)):
        raise ValueError(
            "The model must return one logits tensor (or a dict with the key "
            f"'{MAIN_OUTPUT}'). Received: a {type(outputs).__name__} of "
            f"{len(outputs)} outputs"
        )
    return outputs


# --- Inputs of multi-input layers -------------------------------------------

_FEATURE_LAYOUT = "(batch, height, width, channels)"


def check_layer_inputs(layer, input_shape, names):
    """Checks that a layer got one rank-4 shape per name; returns the shapes.

    Args:
        layer: The layer, named in the message.
        input_shape: What `build` or `compute_output_shape` received.
        names: The names of the expected inputs, in order.

    Returns:
        The shapes as a list of tuples.
    """
    cls = layer.__class__.__name__
    expected = f"a list of {len(names)} tensors [{', '.join(names)}]"
    if is_shape(input_shape) or not isinstance(input_shape, (list, tuple)):
        raise ValueError(
            f"{cls} expects {expected}. Received a single input of shape {input_shape}"
        )
    if len(input_shape) != len(names):
        raise ValueError(
            f"{cls} expects {expected}. Received {len(input_shape)} inputs with "
            f"shapes {[tuple(s) for s in input_shape]}"
        )
    for name, shape in zip(names, input_shape):
        shape = tuple(shape)
        if len(shape) != 4:
            raise ValueError(
                f"{cls} expects `{name}` to be a rank-4 tensor {_FEATURE_LAYOUT}. "
                f"Received: {name}.shape={shape}"
            )
        if shape[-1] is None:
            raise ValueError(
                f"{cls} needs the channel count of `{name}` to be known. "
                f"Received: {name}.shape={shape}"
            )
    return [tuple(s) for s in input_shape]


def check_same_batch(layer, shapes, names):
    """Raises a ValueError if the statically known batch sizes differ."""
    # Only Python ints are compared: under tracing (e.g. torch.export) a
    # dimension can be a symbolic value that equality cannot decide.
    known = {n: s[0] for n, s in zip(names, shapes) if isinstance(s[0], int)}
    if len(set(known.values())) > 1:
        raise ValueError(
            f"{layer.__class__.__name__} expects inputs with the same batch size."
            f" Received batch sizes {known}"
        )


def check_call_inputs(layer, inputs, names):
    """The call-time counterpart of `check_layer_inputs` + `check_same_batch`.

    A built layer can be called with other tensors than it was built for;
    this catches a wrong count, rank or (statically known) batch size there.
    """
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(
            f"{layer.__class__.__name__} expects a list of {len(names)} tensors "
            f"[{', '.join(names)}]. Received a single tensor of shape "
            f"{tuple(inputs.shape)}"
        )
    shapes = check_layer_inputs(layer, [tuple(x.shape) for x in inputs], names)
    check_same_batch(layer, shapes, names)
