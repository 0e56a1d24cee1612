"""Shared pytest set-up: backend in the header, seeded randomness, slow tests."""

import gc
import os
import shutil
import tempfile
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

# XLA (TensorFlow's jit_compile and everything JAX runs) compiles for speed
# by default; the tests run each compiled function a few times on tiny
# inputs, where compiling takes longer than running. These flags halve the
# compile time of a train step on CPU (LLVM without optimisation passes, and
# the classic loop emitters), and do not change what is computed. Set before
# the backends start; a flag set in XLA_FLAGS already wins; subprocesses of
# the tests (examples, exports, the data-parallel child) inherit them.
_FAST_COMPILE_FLAGS = (
    "--xla_backend_optimization_level=0",
    "--xla_cpu_use_fusion_emitters=false",
)
_xla_flags = os.environ.get("XLA_FLAGS", "").split()
_xla_flags += [
    flag
    for flag in _FAST_COMPILE_FLAGS
    if not any(f.startswith(flag.split("=")[0] + "=") for f in _xla_flags)
]
os.environ["XLA_FLAGS"] = " ".join(_xla_flags)

# JAX keeps what XLA compiled in one directory for the whole run, shared by
# the pytest-xdist workers and the subprocesses: a function compiled once
# (an initializer for a weight shape, the predict step of a model and of
# the same model reloaded) is not compiled again by another worker or
# model. The process that creates the directory removes it at the end.
_OWNS_JAX_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ
if _OWNS_JAX_CACHE:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(
        prefix="keras-srcrm-tests-jax-cache-"
    )
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

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


def pytest_unconfigure(config):
    if _OWNS_JAX_CACHE:
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


def pytest_collection_finish(session):
    # What the imports created lives to the end: out of the collector's
    # sight, the `gc.collect()` after each long test below takes a fraction
    # of the time.
    gc.collect()
    gc.freeze()


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
