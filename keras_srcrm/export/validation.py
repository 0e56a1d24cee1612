"""Argument checks and the error that points other backends to TensorFlow."""


def check_bool(name, value):
    """Raises a ValueError naming `name` if `value` is not a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")


def unsupported_backend_error(function, supported, backend, format, reason):
    """The error for an export the active backend cannot do, with the way out.

    Args:
        function: Name of the export function, e.g. `"export_onnx"`.
        supported: The backends it runs on, in words.
        backend: The active Keras backend.
        format: The `format` argument of `export_with_tensorflow_backend`.
        reason: Why this backend cannot do it; may be empty.

    Returns:
        A `NotImplementedError` to raise.
    """
    return NotImplementedError(
        f"{function} runs on the {supported}; the active Keras backend is "
        f"{backend!r}. {reason}\n"
        "Export through the TensorFlow backend instead, in one call:\n\n"
        f"    keras_srcrm.export.export_with_tensorflow_backend(model, path, "
        f"format={format!r})\n\n"
        "which saves the model as `.keras` and exports it in a subprocess with "
        "KERAS_BACKEND=tensorflow; or by hand: `model.save('model.keras')`, "
        "then, in a new process with KERAS_BACKEND=tensorflow, "
        f"`model = keras.models.load_model('model.keras')` and "
        f"`keras_srcrm.export.{function}(model, path)`. "
        "See docs/deployment.md."
    )
