"""Input checks and dtype choices shared by the multi-input layers."""

import keras


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        d is None or isinstance(d, int) for d in value
    )


def check_input_list(layer, input_shape, names):
    """Checks that a layer got one rank-4 shape per name; returns the shapes.

    Raises:
        ValueError: Naming the layer, the expected inputs and what it got.
    """
    expected = ", ".join(names)
    if _is_shape(input_shape) or not isinstance(input_shape, (list, tuple)):
        raise ValueError(
            f"{layer.__class__.__name__} expects a list of {len(names)} tensors "
            f"[{expected}]. Received a single input of shape {input_shape}"
        )
    if len(input_shape) != len(names):
        raise ValueError(
            f"{layer.__class__.__name__} expects a list of {len(names)} tensors "
            f"[{expected}]. Received {len(input_shape)} inputs with shapes "
            f"{[tuple(s) for s in input_shape]}"
        )
    for name, shape in zip(names, input_shape):
        if len(shape) != 4:
            raise ValueError(
                f"{layer.__class__.__name__} expects `{name}` to be rank 4 "
                f"(batch, height, width, channels). Received: {name}.shape="
                f"{tuple(shape)}"
            )
        if shape[-1] is None:
            raise ValueError(
                f"{layer.__class__.__name__} needs the channel count of `{name}` "
                f"to be known. Received: {name}.shape={tuple(shape)}"
            )
    return [tuple(s) for s in input_shape]


def check_batch_sizes(layer, input_shape, names):
    """Raises a ValueError if the known batch sizes of the inputs differ."""
    # Only Python ints are compared: under tracing (e.g. torch.export) a
    # dimension can be a symbolic value that equality cannot decide.
    known = {n: s[0] for n, s in zip(names, input_shape) if isinstance(s[0], int)}
    if len(set(known.values())) > 1:
        raise ValueError(
            f"{layer.__class__.__name__} expects inputs with the same batch size."
            f" Received batch sizes {known}"
        )


def check_call_inputs(layer, inputs, names):
    """The call-time counterpart of `check_input_list` + `check_batch_sizes`.

    A built layer can be called with other tensors than it was built for;
    this catches a wrong count, rank or (statically known) batch size there.
    """
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(
            f"{layer.__class__.__name__} expects a list of {len(names)} tensors "
            f"[{', '.join(names)}]. Received a single tensor of shape "
            f"{tuple(inputs.shape)}"
        )
    shapes = check_input_list(layer, [tuple(x.shape) for x in inputs], names)
    check_batch_sizes(layer, shapes, names)


def precise_dtype_policy(policy):
    """The policy for sublayers that must not compute in 16 bits.

    Float32 when `policy` computes in float16 or bfloat16 (mixed precision),
    otherwise `policy` itself.
    """
    if policy.compute_dtype in ("float16", "bfloat16"):
        return keras.DTypePolicy("float32")
    return policy
