"""The example script and notebook run to the end.

With a test-sized backbone, two training steps and tiny splits: what is tested
is that every step of the walk-through runs on the backend, not the model.
"""

import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# Fits are compiled with XLA by tests/training/test_fit.py; here TensorFlow
# traces the step without XLA, in about half the time. JAX keeps its jit
# (faster than running op by op) and torch runs eagerly either way.
JIT_COMPILE = "off" if keras.backend.backend() == "tensorflow" else "auto"


def _environment():
    environment = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return environment


def test_quickstart_script(tmp_path):
    command = [
        sys.executable,
        str(EXAMPLES / "quickstart.py"),
        "--output-dir", str(tmp_path),
        "--model", "hub_resnet_mini",
        "--epochs", "1",
        "--steps-per-epoch", "2",
        "--val-samples", "2",
        "--jit-compile", JIT_COMPILE,
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, env=_environment(), timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val mIoU" in result.stdout
    assert (tmp_path / "saved_model" / "saved_model.pb").is_file()
    assert (tmp_path / "overlay.png").is_file()
    assert (tmp_path / "train" / "last.keras").is_file()


def test_quickstart_notebook():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(EXAMPLES / "notebooks" / "quickstart.ipynb", as_version=4)
    environment = _environment()
    environment["QUICKSTART_STEPS"] = "2"
    environment["QUICKSTART_MODEL"] = "hub_resnet_mini"
    environment["QUICKSTART_JIT_COMPILE"] = JIT_COMPILE
    previous = dict(os.environ)
    os.environ.update(environment)  # the kernel inherits this process's env
    try:
        nbclient.NotebookClient(notebook, timeout=600).execute()
    finally:
        os.environ.clear()
        os.environ.update(previous)
    outputs = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert keras.backend.backend() in outputs
    assert "val mIoU" in outputs
    assert "stride 4: offsets of" in outputs
