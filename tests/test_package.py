"""The package's own contract: version, lazy optional imports."""

import importlib.metadata
import os
import re
from pathlib import Path

import pytest

import keras_srcrm
from keras_srcrm.utils import backend_name
from keras_srcrm.utils import import_optional

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_pep440_and_matches_distribution():
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc|\.dev\d+)?\d*", keras_srcrm.__version__)
    # The installed metadata (what pip shows) is built from the same attribute.
    assert importlib.metadata.version("keras-srcrm") == keras_srcrm.__version__
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "keras-srcrm"
    assert "version" in pyproject["project"]["dynamic"]


def test_backend_name_is_the_one_requested():
    """`backend_name()` is the backend the environment asked Keras for."""
    requested = os.environ.get("KERAS_BACKEND")
    if requested is None:
        pytest.skip(
            "KERAS_BACKEND is not set: Keras chose the backend from "
            "~/.keras/keras.json, so there is no request to compare with"
        )
    assert backend_name() == requested


def test_import_optional_names_the_install_command(monkeypatch):
    from keras_srcrm.utils import backend as backend_module

    monkeypatch.setitem(backend_module._EXTRA_OF_PACKAGE, "_srcrm_missing", "export")
    with pytest.raises(ImportError, match=r"pip install 'keras-srcrm\[export\]'"):
        import_optional("_srcrm_missing", "ONNX export")


def test_import_optional_without_extra_suggests_the_package():
    with pytest.raises(ImportError, match="pip install srcrm-unknown"):
        import_optional("srcrm_unknown", "Something")


def test_import_optional_returns_the_module():
    assert import_optional("numpy", "tests").__name__ == "numpy"
