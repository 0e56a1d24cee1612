"""What importing each part of the package pulls in, in one fresh interpreter.

The package promises that its heavy and optional dependencies load only when
a feature needs them: no TensorFlow for the data, inference, training or export
modules on JAX or PyTorch until a `tf.data` reader or an export runs, no
KerasHub or KerasCV until a backbone is built, never TensorFlow Datasets or the
ONNX toolchain at import. One child process imports the parts one after the
other and reports, after each, which of the watched modules are loaded: since
each step's imports include the earlier steps', a module absent after a step was
pulled in by none of the imports before it. The test process itself cannot
tell: it may already hold those modules.
"""

import json
import subprocess
import sys

import keras

WATCHED = (
    "tensorflow",
    "tensorflow_datasets",
    "keras_hub",
    "keras_cv",
    "tf2onnx",
    "onnx",
    "onnxruntime",
    "jax.experimental.jax2tf",
)

CHILD = """
import json, sys
watched = {watched!r}
steps = {{}}

def record(step):
    steps[step] = sorted(name for name in watched if name in sys.modules)

import keras
record("keras")
import keras_srcrm
record("keras_srcrm")
import keras_srcrm.models
record("keras_srcrm.models")
import keras_srcrm.inference
record("keras_srcrm.inference")
import keras_srcrm.export
record("keras_srcrm.export")
import keras_srcrm.training as training
training.build_optimizer("sgd", training.PolynomialDecayWithWarmup(0.1, 10))
training.resolve_jit_compile()
record("keras_srcrm.training, an optimizer built")
import keras_srcrm.data as data
data.synthetic_arrays, data.SYNTHETIC_INFO
record("keras_srcrm.data, the synthetic set")
data.cityscapes_tfds_dataset, data.ade20k_tfds_dataset, data.training_pipeline
record("keras_srcrm.data, the tf.data readers")
print("STEPS " + json.dumps(steps))
"""


def loaded_after_each_step():
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(watched=WATCHED)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(
        line for line in result.stdout.splitlines() if line.startswith("STEPS ")
    )
    return json.loads(line[len("STEPS ") :])


def test_each_import_pulls_in_only_what_it_needs():
    # Keras itself imports TensorFlow on the TensorFlow backend.
    keras_needs = ["tensorflow"] if keras.backend.backend() == "tensorflow" else []
    expected = {
        "keras": keras_needs,
        "keras_srcrm": keras_needs,
        "keras_srcrm.models": keras_needs,
        "keras_srcrm.inference": keras_needs,
        "keras_srcrm.export": keras_needs,
        "keras_srcrm.training, an optimizer built": keras_needs,
        "keras_srcrm.data, the synthetic set": keras_needs,
        # The tf.data readers need TensorFlow; TFDS loads when a reader runs.
        "keras_srcrm.data, the tf.data readers": ["tensorflow"],
    }
    assert loaded_after_each_step() == expected
