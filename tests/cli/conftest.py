"""The tiny training run that the command-line tests read."""

import warnings

import pytest

from keras_srcrm.cli import main
from tests.cli.runs import TINY_TRAIN

# Part of the tiny run comes from a --config file, part from flags; it
# validates once, after its last epoch (4 steps), logs to TensorBoard, and
# sums two losses.
TINY_CONFIG = """\
# keras-srcrm train options
loss: ce+0.5*dice
scale_range: [0.75, 1.5]
val-every: 4
tensorboard: true
learning_rate: 0.002
"""


_TRAINING_WARNINGS = []


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One tiny training run that the other commands read: its directory."""
    output_dir = tmp_path_factory.mktemp("train")
    config = output_dir.parent / "tiny_run.yaml"
    config.write_text(TINY_CONFIG)
    argv = ["train", "--config", str(config), *TINY_TRAIN]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*argv, "--output-dir", str(output_dir)]) == 0
    _TRAINING_WARNINGS.extend(str(w.message) for w in caught)
    return output_dir


@pytest.fixture(scope="session")
def trained_warnings(trained):
    """The messages of the warnings that the `trained` run gave."""
    return list(_TRAINING_WARNINGS)
