"""Small helpers that answer "which backend?" and import optional packages."""

import importlib

import keras

# Which `pip install keras-srcrm[extra]` provides each optional package. The
# core dependencies (keras, keras-hub, numpy, tensorflow) are not optional;
# `tensorflow` is listed for its backend extra, which names it too.
_EXTRA_OF_PACKAGE = {
    "tensorflow": "tensorflow",
    "keras_cv": "keras-cv",
    "tensorflow_datasets": "tfds",
    "importlib_resources": "tfds",
    "jax": "jax",
    "torch": "torch",
    "onnx": "export",
    "onnxruntime": "export",
    "tf2onnx": "export",
    "tensorboard": "tensorboard",
}


def backend_name():
    """Returns the name of the active Keras backend.

    Returns:
        One of `"tensorflow"`, `"jax"`, `"torch"` or `"numpy"`.
    """
    return keras.backend.backend()


def import_optional(package, purpose):
    """Imports an optional dependency, or explains how to install it.

    Args:
        package: The importable module name, e.g. `"keras_hub"`.
        purpose: What needs it, for the error message, e.g.
            `"KerasHub backbones"`.

    Returns:
        The imported module.

    Raises:
        ImportError: If the package is not installed; the message names the
            `pip install` command that provides it.

    Example:

    ```python
    keras_hub = import_optional("keras_hub", "KerasHub backbones")
    ```
    """
    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise ImportError(
            f"{purpose} need the optional package `{package}`, which is not "
            f"installed. Install it with: {install_hint(package)}"
        ) from error


def install_hint(package):
    """The `pip install` command that provides an optional package.

    Args:
        package: The importable module name, e.g. `"tensorboard"`.

    Returns:
        The command, e.g. `"pip install 'keras-srcrm[tensorboard]'"`.
    """
    extra = _EXTRA_OF_PACKAGE.get(package)
    if extra:
        return f"pip install 'keras-srcrm[{extra}]'"
    return f"pip install {package.replace('_', '-')}"
