"""Exporting from any backend through a TensorFlow-backend subprocess.

The parent saves the model as `.keras`; a fresh interpreter with
`KERAS_BACKEND=tensorflow` reloads it and runs `export_saved_model` or
`export_onnx` (`run_request`).
"""

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from keras_srcrm.export import atomic
from keras_srcrm.export.serving import ExportResult
from keras_srcrm.utils.validation import check_choice

FORMATS = ("saved_model", "onnx")
# The child's program: `python -c` rather than `-m`, so that the module is
# imported once, as a module, and not run a second time as `__main__`.
_CHILD_PROGRAM = (
    "import sys; "
    "from keras_srcrm.export.subprocess_export import run_request; "
    "run_request(sys.argv[1])"
)
# Imported by the child before loading, so that the library's layers and
# models are registered for deserialisation.
_LIBRARY_MODULES = ("keras_srcrm.layers", "keras_srcrm.models")
# The end of the child's output kept in an error message.
_ERROR_TAIL_CHARS = 4000


def export_with_tensorflow_backend(
    model, path, *, format="saved_model", overwrite=False, imports=(), **kwargs
):
    """Exports a model from any backend by re-loading it under TensorFlow.

    The model is saved as a `.keras` file in a temporary directory, and a new
    Python process with `KERAS_BACKEND=tensorflow` loads it and calls
    `export_saved_model` (or `export_onnx`) with `kwargs`. This is the way to
    export from the PyTorch backend, and from JAX when a graph of standard
    TensorFlow ops (no `XlaCallModule`) or an ONNX file is wanted. The child
    needs TensorFlow (and tf2onnx and onnx for ONNX) installed in the same
    environment.

    The child must be able to rebuild every layer of the model: the
    library's own layers and models are imported for it; for your own custom
    layers, name the modules that register them (with
    `@keras.saving.register_keras_serializable`) in `imports`.

    Args:
        model: A functional Keras segmentation model (see
            `export_saved_model`); it must be savable as `.keras`.
        path: Destination: a SavedModel directory or an `.onnx` file.
        format: `"saved_model"` (the default) or `"onnx"`.
        overwrite: Whether to replace an existing `path`. Defaults to False.
        imports: Names of modules the child imports before loading the
            model, e.g. `("my_project.layers",)`.
        **kwargs: Further arguments of `export_saved_model` or `export_onnx`,
            e.g. `include_probabilities=True`; they must be JSON-serialisable.

    Returns:
        The child's `ExportResult` (with `backend="tensorflow"`).

    Raises:
        ValueError: If `format`, `imports` or `kwargs` are invalid.
        FileExistsError: If `path` exists and `overwrite` is False.
        ImportError: If TensorFlow is not installed.
        RuntimeError: If the child fails; the message holds the end of its
            output. Nothing is written at `path` then.

    Example:

    ```python
    # Under KERAS_BACKEND=torch:
    result = keras_srcrm.export.export_with_tensorflow_backend(
        model, "models/srcrm/1", include_probabilities=True
    )
    ```
    """
    check_choice("format", format, FORMATS)
    if isinstance(imports, str) or not all(isinstance(m, str) for m in imports):
        raise ValueError(
            f"`imports` must be a list of module names. Received: imports={imports!r}"
        )
    kind = "directory" if format == "saved_model" else "file"
    destination = atomic.resolve_destination(path, overwrite, kind)
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError(
            "Exporting through the TensorFlow backend needs the optional package "
            "`tensorflow`, which is not installed. Install it with: "
            "pip install 'keras-srcrm[tensorflow]'"
        )
    with tempfile.TemporaryDirectory(prefix="keras_srcrm_export_") as workdir:
        workdir = Path(workdir)
        model_path = workdir / "model.keras"
        request_path = workdir / "request.json"
        result_path = workdir / "result.json"
        model.save(model_path)
        request = {
            "model": str(model_path),
            "path": str(destination),
            "format": format,
            "overwrite": overwrite,
            "imports": list(_LIBRARY_MODULES) + list(imports),
            "kwargs": kwargs,
            "result": str(result_path),
        }
        try:
            request_path.write_text(json.dumps(request))
        except TypeError as error:
            raise ValueError(
                "The export arguments must be JSON-serialisable to reach the "
                f"subprocess. Received: kwargs={kwargs!r}"
            ) from error
        completed = subprocess.run(
            [sys.executable, "-c", _CHILD_PROGRAM, str(request_path)],
            env=_child_environment(),
            capture_output=True,
            text=True,
        )
        if completed.returncode != 0:
            output = (completed.stdout + completed.stderr)[-_ERROR_TAIL_CHARS:]
            raise RuntimeError(
                "The TensorFlow-backend export subprocess failed (exit code "
                f"{completed.returncode}); nothing was written at "
                f"'{destination}'. The end of its output:\n{output}"
            )
        return ExportResult.from_dict(json.loads(result_path.read_text()))


def _child_environment():
    environment = dict(os.environ)
    environment["KERAS_BACKEND"] = "tensorflow"
    # The child must import this very copy of the library, also when it is
    # used from a source checkout that is not installed.
    package_root = str(Path(__file__).resolve().parents[2])
    path = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = (
        package_root if not path else os.pathsep.join([package_root, path])
    )
    return environment


def run_request(request_path):
    """The child process: loads the request's model and exports it."""
    import keras

    request = json.loads(Path(request_path).read_text())
    for module in request["imports"]:
        importlib.import_module(module)
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "The export subprocess must run with KERAS_BACKEND=tensorflow. "
            f"Received: {keras.backend.backend()!r}"
        )
    from keras_srcrm.export.onnx import export_onnx
    from keras_srcrm.export.saved_model import export_saved_model

    export = export_saved_model if request["format"] == "saved_model" else export_onnx
    model = keras.models.load_model(request["model"], compile=False)
    result = export(
        model, request["path"], overwrite=request["overwrite"], **request["kwargs"]
    )
    Path(request["result"]).write_text(json.dumps(result.to_dict()))
