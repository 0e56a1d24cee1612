"""A run killed (SIGKILL) while it writes a file resumes from a complete backup."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest

from keras_srcrm.training import read_backup_state
from keras_srcrm.training import read_history
from keras_srcrm.training import training_callbacks
from tests.training import kill_child

REPO_ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("kill_child.py")

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason=(
        "what a run writes, and when, does not depend on the backend: the "
        "kill test runs once, on JAX, whose child process starts fastest"
    ),
)


def kill_while_writing(run_dir, file_name, occurrence, tmp_path):
    """Runs `kill_child.py` and kills it mid-write of the named file."""
    marker = tmp_path / "writing"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
        ),
    )
    argv = [sys.executable, str(CHILD), str(run_dir), file_name, str(occurrence)]
    child = subprocess.Popen(
        [*argv, str(marker)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            if child.poll() is not None:
                pytest.fail(f"the child ended early: {child.stderr.read()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the child did not reach the file to kill it at")
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def test_a_kill_while_the_backup_is_written_keeps_the_previous_backup(tmp_path):
    run_dir = tmp_path / "run"
    # The second backup, at the end of epoch 1: the first one must survive.
    kill_while_writing(run_dir, ".weights.h5", 2, tmp_path)

    state = read_backup_state(run_dir / "backup")
    assert state["epoch"] == 1
    # Epoch 1 was logged before its backup was cut short; it runs again.
    assert [row["epoch"] for row in read_history(run_dir / "history.csv")] == [0, 1]

    # The same script again resumes from the end of epoch 0.
    model = kill_child.build_model()
    history = kill_child.fit(
        model, training_callbacks(run_dir, monitor="loss", mode="min")
    )
    assert len(history.history["loss"]) == kill_child.EPOCHS - 1
    assert [row["epoch"] for row in read_history(run_dir / "history.csv")] == [
        0,
        1,
        2,
        3,
    ]
    assert not (run_dir / "backup").exists()
    assert not list(run_dir.glob(".tmp-*"))
