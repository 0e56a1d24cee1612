"""Multiply-add and parameter counts of Keras models, the way papers report them.

Segmentation papers (SFNet, mmcv's and fvcore's counters) report the number of
multiply-adds of one forward pass and call it "FLOPs"; `tf.profiler` and some
other tools count two FLOPs per multiply-add instead. `count_flops` counts
multiply-adds (MACs), one per multiply-add:

- convolutions (`conv`, `depthwise_conv`, `separable_conv`, `conv_transpose`):
  one MAC per kernel tap, input channel (per group) and output element; biases
  are not counted;
- matrix products (`matmul` (hence `Dense`), `einsum` (hence `EinsumDense`),
  `dot`, `tensordot`, `dot_product_attention`): one MAC per multiply;
- bilinear sampling (`keras.ops.image.resize` and this package's `flow_warp`
  and `grid_sample`): 4 MACs per output element (channel x pixel), as fvcore
  counts `upsample_bilinear2d` and `grid_sampler`;
- nothing else: batch normalisation (folded into the convolution at
  inference), activations, additions, multiplications by gates, softmax and
  pooling count 0.

How it works: the model runs once symbolically at the given input shape
(`jax.eval_shape` on JAX, a `FuncGraph` on TensorFlow, meta tensors on
PyTorch, through `keras.src.backend.compute_output_spec`), so every nested
layer's real `call` executes with static shapes and nothing is computed.
Meanwhile the active backend's implementations of the ops above are wrapped,
wherever a module refers to them (which covers `keras.ops`, Keras layers,
KerasHub and KerasCV), and record MACs from their static shapes. Wrapping the
backend's functions rather than `keras.ops` also sees layers that call the
backend directly (`keras.layers.Resizing`) and modules that imported a
backend function by name (KerasCV's `tf_ops`). An op called inside another
counted op (e.g. `separable_conv` calling `depthwise_conv` and `conv`) is
counted once, by the outer op. This package's own bilinear sampling
(`flow_warp`, `grid_sample`, `resize_bilinear`) reports itself through the
hook of `keras_srcrm.ops.cost` while a count listens.
"""

import dataclasses
import functools
import importlib
import math
import operator
import sys
import threading
import types
import warnings

import keras
import numpy as np
from keras.src import backend as keras_backend
from keras.src.backend.common import global_state

from keras_srcrm.layers import conv_and_norm
from keras_srcrm.ops import cost
from keras_srcrm.utils.validation import is_int
from keras_srcrm.utils.validation import is_shape

CONV = "conv"
MATMUL = "matmul"
SAMPLING = "sampling"
CATEGORIES = (CONV, MATMUL, SAMPLING)

# Interpolation taps per output element of `keras.ops.image.resize`: the
# corners of the separable kernel's 2-D footprint. Nearest and area
# interpolation count 0 (no multiply-add per tap).
RESIZE_TAPS = {"bilinear": 4, "bicubic": 16, "lanczos3": 36, "lanczos5": 100}

# Only one count at a time may patch the modules.
_INSTALL_LOCK = threading.Lock()


class _State(threading.local):
    counter = None  # the active `_Counter` of this thread, if any
    depth = 0  # how many counted ops this thread is inside


_STATE = _State()


@dataclasses.dataclass(frozen=True)
class FlopCount:
    """Multiply-adds (MACs) of one forward pass, returned by `count_flops`.

    One MAC is one multiply-add, what segmentation papers call one FLOP: `total
    / 1e9` is the "GFLOPs" of SFNet's or mmcv's tables. Tools that count a
    multiply-add as two FLOPs (e.g. `tf.profiler`) report twice as much.

    Attributes:
        conv: MACs of the convolutions.
        matmul: MACs of matrix products (`Dense`, `EinsumDense`, attention).
        sampling: MACs of bilinear resizes and warps, 4 per output element.
        include_sampling: Whether `total` includes `sampling`.
        input_shape: The input shape(s) the model was counted at.
        by_op: MACs per op (`"conv"`, `"depthwise_conv"`, `"matmul"`,
            `"einsum"`, `"resize"`, `"flow_warp"`, ...), whatever
            `include_sampling` says.
        by_layer: MACs per top-level layer of the model (in call order; ops
            the model calls outside any layer are under the model's own
            name). Sampling is included if `include_sampling` is True, so the
            values sum to `total`.
    """

    conv: int
    matmul: int
    sampling: int
    include_sampling: bool
    input_shape: tuple
    by_op: dict
    by_layer: dict

    @property
    def total(self):
        """The MACs of the convolutions, matrix products and, if
        `include_sampling`, bilinear sampling."""
        return self.conv + self.matmul + (self.sampling if self.include_sampling else 0)

    @property
    def gmacs(self):
        """`total` in billions: the paper-style "GFLOPs"."""
        return self.total / 1e9

    def to_dict(self):
        """The counts as a plain dict (JSON-serialisable)."""
        return {
            "input_shape": self.input_shape,
            "include_sampling": self.include_sampling,
            "conv": self.conv,
            "matmul": self.matmul,
            "sampling": self.sampling,
            "total": self.total,
            "by_op": dict(self.by_op),
            "by_layer": dict(self.by_layer),
        }

    def __str__(self):
        sampling_note = "included" if self.include_sampling else "not included"
        rows = [
            ("convolutions", self.conv),
            ("matmul / einsum / dense", self.matmul),
            (f"bilinear sampling ({sampling_note})", self.sampling),
            ("total", self.total),
        ]
        lines = [
            f"Multiply-adds at input shape {self.input_shape} (1 MAC = 1 paper 'FLOP'):"
        ]
        lines += [f"  {name:<40} {macs / 1e9:12.4f} G" for name, macs in rows]
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class ParamCount:
    """Parameter counts, returned by `count_params`.

    Attributes:
        trainable: Scalars in trainable variables.
        non_trainable: Scalars in non-trainable variables (e.g. batch
            normalisation's moving statistics).
    """

    trainable: int
    non_trainable: int

    @property
    def total(self):
        """All parameters, trainable or not."""
        return self.trainable + self.non_trainable


def count_params(model):
    """Counts the parameters of a built Keras model or layer.

    Args:
        model: A built `keras.Model` or `keras.layers.Layer`.

    Returns:
        A `ParamCount` with `trainable`, `non_trainable` and `total`. Variables
        shared between layers count once.

    Raises:
        ValueError: If the model is not built (its parameter count may depend
            on the input shape).

    Example:

    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    >>> count_params(model)
    ParamCount(trainable=36, non_trainable=0)
    """
    _check_layer(model)
    if not model.built:
        raise ValueError(
            f"count_params needs a built model; build `{model.name}` first, e.g. "
            "by calling it on an input or with `model.build(input_shape)`."
        )
    seen = set()

    def size(variables):
        total = 0
        for variable in variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                total += math.prod(variable.shape)
        return total

    trainable = size(model.trainable_weights)
    return ParamCount(
        trainable=trainable, non_trainable=size(model.non_trainable_weights)
    )


def count_flops(model, input_shape, *, include_sampling=True):
    """Counts the multiply-adds (MACs) of one forward pass of a Keras model.

    The convention is the one segmentation papers use when they say "FLOPs":
    one multiply-add is one FLOP. Counted are convolutions (biases excluded),
    matrix products (`Dense`, `EinsumDense`, `matmul`, `einsum`, `dot`,
    `tensordot`, `dot_product_attention`) and bilinear sampling (resizes with
    `keras.ops.image.resize`, this package's `flow_warp` and `grid_sample`: 4
    MACs per output element, as fvcore counts them); batch normalisation,
    activations, element-wise arithmetic, softmax and pooling are not. See
    the module docstring and `docs/complexity.md`.

    The model runs once symbolically, so nothing is computed and any input
    size is cheap; it runs in inference mode (`training=False`). Ops written
    directly in a backend framework (`tf.*`, `jax.numpy.*`, `torch.*`)
    rather than with `keras.ops` are not seen, except this package's warps,
    which report themselves.

    Args:
        model: A `keras.Model` or `keras.layers.Layer`, built or not (an
            unbuilt one is built at `input_shape`).
        input_shape: The full input shape including the batch size, e.g.
            `(1, 1024, 2048, 3)`; a list (or dict) of shapes for a model with
            several inputs, passed to it as a list (or dict). Every
            dimension must be a positive int.
        include_sampling: Whether `total` includes bilinear sampling. It is
            counted and reported in `sampling` either way.

    Returns:
        A `FlopCount` with the MACs of convolutions, matrix products and
        sampling, their `total`, and breakdowns `by_op` and `by_layer`.

    Raises:
        ValueError: If a shape is not fully static, or the model produces a
            tensor of unknown size on the way.
        RuntimeError: If called while another count is running in the same
            thread (e.g. from inside a model's `call`).

    Example:

    >>> model = keras.Sequential(
    ...     [keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, padding="same")]
    ... )
    >>> count_flops(model, (1, 32, 32, 3)).total  # 32 * 32 * 8 * 3 * 3 * 3
    221184
    """
    _check_layer(model)
    input_shape = _standardize_input_shape(input_shape)
    if _STATE.counter is not None:
        raise RuntimeError(
            "count_flops cannot be called while another count_flops is running "
            "in the same thread."
        )
    inputs = _map_shapes(
        lambda shape: keras.KerasTensor(shape, dtype=keras.config.floatx()),
        input_shape,
    )
    if not model.built:
        # A symbolic call builds every layer at these shapes, computing nothing.
        model(inputs)
    counter = _Counter(model)

    def forward(*args):
        # The torch backend retries on CPU tensors if an op fails on the
        # meta device: only the last, complete pass may count.
        counter.reset()
        return model(*args, training=False)

    with (
        _INSTALL_LOCK,
        _counting(counter),
        # The decoders' PyTorch fast path bypasses the counted Keras ops.
        conv_and_norm.keras_path(),
        cost.listening(_record_bilinear_sampling),
    ):
        keras_backend.compute_output_spec(forward, inputs)
    if counter.passes > 1:
        warnings.warn(
            f"count_flops: the model `{model.name}` could not run on PyTorch's "
            "meta device, so Keras traced its shapes with real CPU tensors: "
            "the count is the same, but it took a full forward pass. (In "
            "Keras 3.15, e.g. `keras.ops.repeat` and `keras.ops.full_like` "
            "fail there.)",
            stacklevel=2,
        )
    return counter.result(input_shape, include_sampling)


def _record_bilinear_sampling(samples, op):
    """Counts the samples that one of this package's ops reports (see
    `keras_srcrm.ops.cost`): 4 MACs per output element."""
    counter = _STATE.counter
    if counter is None or _STATE.depth:
        return
    counter.add(SAMPLING, op, 4 * math.prod(_static_shape(samples, op)))


# --- MACs of each counted op, from static shapes ---------------------------


def _static_shape(tensor, op):
    shape = getattr(tensor, "shape", None)
    if shape is None:
        shape = np.shape(tensor)
    dims = []
    for dim in shape:
        try:
            dims.append(operator.index(dim))
        except Exception:
            raise ValueError(
                "count_flops needs static shapes, but the op `"
                f"{op}` saw a tensor of shape {tuple(shape)}. Give every input "
                "dimension, including the batch size, as an int."
            ) from None
    return tuple(dims)


def _numel(tensor, op):
    return math.prod(_static_shape(tensor, op))


def _conv_macs(output, inputs, kernel, *args, **kwargs):
    # Keras kernel: (*spatial, in_channels // groups, out_channels).
    return _numel(output, "conv") * math.prod(_static_shape(kernel, "conv")[:-1])


def _depthwise_conv_macs(output, inputs, kernel, *args, **kwargs):
    # Kernel: (*spatial, in_channels, multiplier); one tap per output element.
    return _numel(output, "depthwise_conv") * math.prod(
        _static_shape(kernel, "depthwise_conv")[:-2]
    )


def _separable_conv_macs(
    output, inputs, depthwise_kernel, pointwise_kernel, *args, **kwargs
):
    op = "separable_conv"
    depthwise = _static_shape(depthwise_kernel, op)
    pointwise = _static_shape(pointwise_kernel, op)
    positions = _numel(output, op) // pointwise[-1]
    intermediate_channels = depthwise[-2] * depthwise[-1]
    return (
        positions * intermediate_channels * (math.prod(depthwise[:-2]) + pointwise[-1])
    )


def _conv_transpose_macs(output, inputs, kernel, *args, **kwargs):
    # Kernel: (*spatial, out_channels, in_channels); every input element is
    # spread over spatial x out_channels outputs.
    op = "conv_transpose"
    return _numel(inputs, op) * math.prod(_static_shape(kernel, op)[:-1])


def _matmul_macs(output, x1, x2, *args, **kwargs):
    return _numel(output, "matmul") * _static_shape(x1, "matmul")[-1]


def _dot_macs(output, x1, x2, *args, **kwargs):
    shape1 = _static_shape(x1, "dot")
    if not shape1 or not _static_shape(x2, "dot"):
        return _numel(output, "dot")  # a product with a scalar
    return _numel(output, "dot") * shape1[-1]


def _tensordot_macs(output, x1, x2, axes=2, *args, **kwargs):
    shape1 = _static_shape(x1, "tensordot")
    try:
        axes = operator.index(axes)
    except TypeError:
        pass
    if isinstance(axes, int):
        contracted = shape1[len(shape1) - axes :] if axes else ()
    else:
        axes1 = axes[0]
        axes1 = [axes1] if isinstance(axes1, int) else list(axes1)
        contracted = [shape1[axis] for axis in axes1]
    return _numel(output, "tensordot") * math.prod(contracted)


def _dot_product_attention_macs(output, query, key, value, *args, **kwargs):
    # softmax(q k^T) v: every query position meets every key position twice,
    # once per query channel and once per value channel.
    op = "dot_product_attention"
    key_positions = _static_shape(key, op)[-3]
    return (_numel(query, op) + _numel(output, op)) * key_positions


def _einsum_macs(output, subscripts, *operands, **kwargs):
    """Pairwise contractions from left to right; one operand costs 0."""
    shapes = [_static_shape(x, "einsum") for x in operands]
    if len(shapes) < 2:
        return 0
    inputs, outputs = _parse_einsum(subscripts, shapes)
    sizes = {}
    for labels, shape in zip(inputs, shapes):
        for label, dim in zip(labels, shape):
            sizes[label] = max(sizes.get(label, 1), dim)
    macs = 0
    current = inputs[0]
    for index in range(1, len(inputs)):
        operand = inputs[index]
        involved = dict.fromkeys(current + operand)
        macs += math.prod(sizes[label] for label in involved)
        needed = set(outputs).union(*inputs[index + 1 :])
        current = [label for label in involved if label in needed]
    return macs


def _parse_einsum(subscripts, shapes):
    """Lists of index labels per operand and for the output; `...` expanded."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, rhs = subscripts.split("->")
    else:
        lhs, rhs = subscripts, None
    terms = lhs.split(",")
    ellipsis_rank = max(
        (
            len(shape) - len(term.replace("...", ""))
            for term, shape in zip(terms, shapes)
        ),
        default=0,
    )
    ellipsis = [f"...{i}" for i in range(ellipsis_rank)]

    def labels(term, rank):
        if "..." not in term:
            return list(term)
        head, tail = term.split("...")
        extra = rank - len(head) - len(tail)
        return list(head) + ellipsis[ellipsis_rank - extra :] + list(tail)

    inputs = [labels(term, len(shape)) for term, shape in zip(terms, shapes)]
    if rhs is None:
        counts = {}
        for term in inputs:
            for label in term:
                counts[label] = counts.get(label, 0) + 1
        single = sorted(
            label for label, n in counts.items() if n == 1 and label not in ellipsis
        )
        used = [label for label in ellipsis if label in counts]
        outputs = used + single
    else:
        outputs = labels(rhs, len(rhs.replace("...", "")) + ellipsis_rank)
    return inputs, outputs


def _resize_macs(output, images, size, interpolation="bilinear", *args, **kwargs):
    return RESIZE_TAPS.get(interpolation, 0) * _numel(output, "resize")


# (backend submodule, function, category, MACs from output and arguments)
_COUNTED_OPS = (
    ("nn", "conv", CONV, _conv_macs),
    ("nn", "depthwise_conv", CONV, _depthwise_conv_macs),
    ("nn", "separable_conv", CONV, _separable_conv_macs),
    ("nn", "conv_transpose", CONV, _conv_transpose_macs),
    ("nn", "dot_product_attention", MATMUL, _dot_product_attention_macs),
    ("numpy", "matmul", MATMUL, _matmul_macs),
    ("numpy", "einsum", MATMUL, _einsum_macs),
    ("numpy", "dot", MATMUL, _dot_macs),
    ("numpy", "tensordot", MATMUL, _tensordot_macs),
    ("image", "resize", SAMPLING, _resize_macs),
)


# --- Recording --------------------------------------------------------------


class _Counter:
    """Collects `(category, op, top-level layer, MACs)` records of one pass."""

    def __init__(self, model):
        self.model = model
        self.records = []
        self.passes = 0

    def reset(self):
        self.records = []
        self.passes += 1

    def add(self, category, op, macs):
        self.records.append((category, op, self._top_level_layer(), int(macs)))

    def _top_level_layer(self):
        """The model's direct sublayer whose call is running, from the name
        scopes that `Layer.__call__` opens."""
        stack = global_state.get_global_attribute("name_scope_stack") or []
        inside_model = False
        for scope in stack:
            caller = getattr(scope, "caller", None)
            if inside_model and isinstance(caller, keras.layers.Layer):
                return caller.name
            if caller is self.model:
                inside_model = True
        return self.model.name

    def result(self, input_shape, include_sampling):
        totals = dict.fromkeys(CATEGORIES, 0)
        by_op = {}
        # Every direct sublayer is listed, in the order the model tracks
        # them, also those that count 0 (normalisation, pooling, ...).
        by_layer = {
            layer.name: 0
            for layer in self.model._flatten_layers(include_self=False, recursive=False)
            if not isinstance(layer, keras.layers.InputLayer)
        }
        for category, op, layer, macs in self.records:
            totals[category] += macs
            by_op[op] = by_op.get(op, 0) + macs
            if include_sampling or category != SAMPLING:
                by_layer[layer] = by_layer.get(layer, 0) + macs
            else:
                by_layer.setdefault(layer, 0)
        return FlopCount(
            conv=totals[CONV],
            matmul=totals[MATMUL],
            sampling=totals[SAMPLING],
            include_sampling=include_sampling,
            input_shape=input_shape,
            by_op=by_op,
            by_layer=by_layer,
        )


def _counting_wrapper(original, op, category, macs_fn):
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        counter = _STATE.counter
        if counter is None or _STATE.depth or cost.ops_hidden():
            return original(*args, **kwargs)
        _STATE.depth += 1
        try:
            output = original(*args, **kwargs)
        finally:
            _STATE.depth -= 1
        counter.add(category, op, macs_fn(output, *args, **kwargs))
        return output

    wrapper.__wrapped_for_flops__ = original
    return wrapper


def _counted_originals():
    """`{id: (function, wrapper)}` for the active backend's counted ops."""
    name = keras.backend.backend()
    originals = {}
    for submodule, function_name, category, macs_fn in _COUNTED_OPS:
        candidates = [
            getattr(getattr(keras_backend, submodule, None), function_name, None)
        ]
        try:
            module = importlib.import_module(f"keras.src.backend.{name}.{submodule}")
            candidates.append(getattr(module, function_name, None))
        except ImportError:
            pass
        for function in candidates:
            if function is not None and id(function) not in originals:
                wrapper = _counting_wrapper(function, function_name, category, macs_fn)
                originals[id(function)] = (function, wrapper)
    return originals


class _counting:
    """Activates `counter` in this thread and wraps the counted ops in every
    module that refers to them; undoes both on exit, also on error."""

    def __init__(self, counter):
        self.counter = counter
        self.patched = []

    def __enter__(self):
        originals = _counted_originals()
        try:
            for module in list(sys.modules.values()):
                if not isinstance(module, types.ModuleType):
                    continue
                namespace = getattr(module, "__dict__", None)
                if not namespace:
                    continue
                for attribute, value in list(namespace.items()):
                    entry = originals.get(id(value))
                    if entry is not None and entry[0] is value:
                        namespace[attribute] = entry[1]
                        self.patched.append((namespace, attribute, value, entry[1]))
        except BaseException:
            self._restore()
            raise
        _STATE.counter = self.counter
        _STATE.depth = 0
        return self

    def __exit__(self, *exc_info):
        _STATE.counter = None
        _STATE.depth = 0
        self._restore()
        return False

    def _restore(self):
        for namespace, attribute, original, wrapper in reversed(self.patched):
            if namespace.get(attribute) is wrapper:
                namespace[attribute] = original
        self.patched = []


# --- Arguments ----------------------------------------------------------------


def _check_layer(model):
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            "Expected a keras.Model or keras.layers.Layer. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )


def _map_shapes(fn, input_shape):
    if is_shape(input_shape):
        return fn(input_shape)
    if isinstance(input_shape, dict):
        return {key: fn(shape) for key, shape in input_shape.items()}
    return [fn(shape) for shape in input_shape]


def _standardize_input_shape(input_shape):
    def check(shape):
        if not is_shape(shape) or not all(is_int(d) and d > 0 for d in shape):
            raise ValueError(
                "count_flops needs a fully static input shape with the batch "
                "size, e.g. (1, 1024, 2048, 3): the count depends on every "
                f"dimension. Received: input_shape={input_shape!r}"
            )
        return tuple(shape)

    if isinstance(input_shape, dict):
        if not input_shape:
            raise ValueError("`input_shape` must not be empty.")
        return {key: check(shape) for key, shape in input_shape.items()}
    if not isinstance(input_shape, (tuple, list)) or not input_shape:
        raise ValueError(
            "`input_shape` must be a shape tuple, or a list or dict of them. "
            f"Received: input_shape={input_shape!r}"
        )
    if is_shape(input_shape):
        return check(input_shape)
    return [check(shape) for shape in input_shape]
