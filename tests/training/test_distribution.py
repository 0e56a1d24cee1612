"""data_parallel_scope on two logical CPU devices, in a fresh process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from keras_srcrm.training import data_parallel_scope
from keras_srcrm.training import logical_cpu_devices

BACKEND = keras.backend.backend()
CHILD = Path(__file__).with_name("data_parallel_child.py")
NOT_ON_TORCH = pytest.mark.skipif(
    BACKEND not in ("jax", "tensorflow"),
    reason="Keras's torch backend has no data parallelism for `fit`",
)


def _run_child():
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, str(CHILD)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@NOT_ON_TORCH
def test_fits_on_two_devices():
    report = _run_child()
    assert report["devices"] == ["cpu:0", "cpu:1"]
    # Each device holds a copy of the weights.
    assert report["replicas"] == 2
    assert report["iterations"] == 2
    assert all(abs(loss) < 1e3 for loss in report["losses"])  # finite
    if BACKEND == "jax":
        assert report["scope"] == "DataParallel"
        assert report["jit_compile"] is True
        assert report["explicit_jit"] == "accepted"
    else:
        # XLA cannot compile MirroredStrategy's replicated step: "auto" turns
        # it off and an explicit True is refused with an explanation.
        assert report["scope"] == "MirroredStrategy"
        assert report["jit_compile"] is False
        assert "multi-replica" in report["explicit_jit"]
    # The previous (default) distribution is back after the scope.
    assert report["distribution_after"] == "None"


@pytest.mark.skipif(BACKEND != "torch", reason="the torch backend's message")
def test_torch_explains_what_to_use_instead():
    with pytest.raises(NotImplementedError, match="torchrun"):
        with data_parallel_scope():
            pass
    with pytest.raises(NotImplementedError, match="DistributedDataParallel"):
        logical_cpu_devices(2)


@NOT_ON_TORCH
def test_invalid_devices():
    with pytest.raises(ValueError, match="`devices`"):
        with data_parallel_scope("cpu:0"):
            pass
    with pytest.raises(ValueError, match="`devices`"):
        with data_parallel_scope([]):
            pass


@NOT_ON_TORCH
def test_logical_cpu_devices_after_the_backend_started():
    keras.ops.ones(())  # the backend has set up its devices by now
    count = len(keras.distribution.list_devices("cpu")) + 1
    with pytest.raises(RuntimeError, match="before"):
        logical_cpu_devices(count)


def test_logical_cpu_devices_validates_count():
    with pytest.raises(ValueError, match="`count`"):
        logical_cpu_devices(0)
