"""Shared pytest set-up: backend in the header, seeded randomness, slow tests."""

import gc
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The tests run tiny shapes, where compiling dominates: XLA (JAX, and
# TensorFlow with jit_compile) compiles several times faster without LLVM's
# optimisations, and computes the same values. Set before any backend loads;
# subprocesses inherit it.
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    ).strip()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

import keras_srcrm  # noqa: E402

SEED = 1337

# Derandomised so that a CI failure reproduces; deadline off because the first
# call of a backend op includes tracing/compilation.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=30)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_report_header(config):
    return (
        f"keras-srcrm {keras_srcrm.__version__}, keras {keras.__version__}, "
        f"KERAS_BACKEND={keras.backend.backend()}"
    )


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="run slow tests"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow test; run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(autouse=True)
def seeded_randomness():
    """Seeds Python, NumPy and the backend before every test."""
    keras.utils.set_random_seed(SEED)
    yield


@pytest.fixture(autouse=True)
def fresh_keras_state():
    """Resets Keras's global state (names, dtype policy) after every test.

    Also collects garbage after a test that took more than a second: those
    build models, and a worker that runs hundreds of them would otherwise
    keep their graphs and compiled functions until Python's collector gets
    to them (on TensorFlow, several GB by the end of the suite).
    """
    start = time.monotonic()
    yield
    keras.backend.clear_session(free_memory=False)
    if time.monotonic() - start > 1.0:
        gc.collect()


@pytest.fixture
def rng():
    """A NumPy generator, seeded per test."""
    return np.random.default_rng(SEED)
