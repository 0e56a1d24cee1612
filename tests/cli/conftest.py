"""The tiny training run that the command-line tests read."""

import pytest

from keras_srcrm.cli import main
from tests.cli.runs import TINY_TRAIN


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One tiny training run that the other commands read."""
    output_dir = tmp_path_factory.mktemp("train")
    assert main(["train", *TINY_TRAIN, "--output-dir", str(output_dir)]) == 0
    return output_dir
