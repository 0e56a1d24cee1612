"""The tiny training run that the command-line tests read."""

import keras
import pytest

from keras_srcrm.cli import main
from tests.cli.runs import TINY_TRAIN

# The train step is compiled by `tests/training/test_fit.py`; here the
# cheapest way on each backend: TensorFlow traces a graph without XLA in half
# the time of an XLA compilation, JAX compiles the step as a whole faster
# than it runs it op by op, and torch runs eagerly either way.
NO_JIT = ["--no-jit"] if keras.backend.backend() == "tensorflow" else []


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One tiny training run that the other commands read."""
    output_dir = tmp_path_factory.mktemp("train")
    assert main(["train", *TINY_TRAIN, *NO_JIT, "--output-dir", str(output_dir)]) == 0
    return output_dir
