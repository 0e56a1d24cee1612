"""What the layers share: their kernel arguments and the float32 sublayer policy.

The convolutional layers of this package take some of `activation`,
`kernel_initializer` and `kernel_regularizer`, pass them on to their
sublayers and serialise them the same way; `kernel_arguments_config` is that
one `get_config` block.
"""

import keras

_SERIALIZERS = {
    "activation": keras.activations.serialize,
    "kernel_initializer": keras.initializers.serialize,
    "kernel_regularizer": keras.regularizers.serialize,
}


def kernel_arguments_config(layer):
    """The serialised kernel arguments that `layer` holds, for `get_config`.

    Args:
        layer: A layer with some of the attributes `activation`,
            `kernel_initializer` and `kernel_regularizer`, set from the
            `keras.activations.get`, `keras.initializers.get` and
            `keras.regularizers.get` of its arguments.

    Returns:
        A dict with an entry for each of those attributes the layer has.
    """
    return {
        name: serialize(getattr(layer, name))
        for name, serialize in _SERIALIZERS.items()
        if hasattr(layer, name)
    }


def conv_arguments(layer):
    """The arguments a layer passes on to its `ConvBNAct` sublayers."""
    return {
        "activation": layer.activation,
        "kernel_initializer": layer.kernel_initializer,
        "kernel_regularizer": layer.kernel_regularizer,
        "dtype": layer.dtype_policy,
    }


def precise_dtype_policy(policy):
    """The policy for sublayers that must not compute in 16 bits.

    Float32 when `policy` computes in float16 or bfloat16 (mixed precision),
    otherwise `policy` itself.
    """
    if policy.compute_dtype in ("float16", "bfloat16"):
        return keras.DTypePolicy("float32")
    return policy
