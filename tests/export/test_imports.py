"""Importing `keras_srcrm.export` costs nothing until an export runs."""

import subprocess
import sys

import keras


def test_import_does_not_load_the_export_toolchain():
    # A fresh interpreter: this test process may already hold those modules.
    code = (
        "import sys, keras_srcrm.export\n"
        "heavy = {'tensorflow', 'tf2onnx', 'onnx', 'onnxruntime', 'jax2tf'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = result.stdout.strip().splitlines()[-1]
    # Keras itself imports TensorFlow on the tensorflow backend.
    expected = "['tensorflow']" if keras.backend.backend() == "tensorflow" else "[]"
    assert loaded == expected
