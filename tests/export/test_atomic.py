"""Existing exports are kept unless asked, and failed exports leave nothing."""

import os
import stat

import keras
import pytest

from keras_srcrm import export
from keras_srcrm.export import atomic
from tests.export.conftest import IN_PROCESS
from tests.export.conftest import export_function

BACKEND = keras.backend.backend()
needs_in_process_export = pytest.mark.skipif(
    not IN_PROCESS,
    reason="PyTorch cannot export in-process; its exports are written by the "
    "TensorFlow child with this same code, tested on the tensorflow backend",
)


def tiny_model():
    """The smallest model of the contract: a 1x1 conv to 3 classes."""
    images = keras.Input((None, None, 3))
    return keras.Model(images, keras.layers.Conv2D(3, 1)(images))


def leftovers(directory, name):
    """Temporary or backup siblings of `name` left in `directory`."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(f".{name}"))


@pytest.mark.parametrize("format", ["saved_model", "onnx"])
def test_refuses_an_existing_destination(tmp_path, format):
    destination = tmp_path / ("1" if format == "saved_model" else "model.onnx")
    if format == "saved_model":
        destination.mkdir()
        (destination / "keep.txt").write_text("previous export")
    else:
        destination.write_text("previous export")
    with pytest.raises(FileExistsError, match="Pass `overwrite=True`"):
        export_function(format)(tiny_model(), destination)
    kept = destination / "keep.txt" if format == "saved_model" else destination
    assert kept.read_text() == "previous export"
    assert leftovers(tmp_path, destination.name) == []


@needs_in_process_export
def test_overwrite_replaces_the_previous_export(tmp_path):
    destination = tmp_path / "1"
    destination.mkdir()
    (destination / "stale.txt").write_text("previous export")
    result = export.export_saved_model(tiny_model(), destination, overwrite=True)
    assert result.path == str(destination)
    assert not (destination / "stale.txt").exists()
    assert (destination / "saved_model.pb").is_file()
    assert leftovers(tmp_path, "1") == []


def test_refuses_to_overwrite_a_file_with_a_directory(tmp_path):
    destination = tmp_path / "1"
    destination.write_text("not an export")
    with pytest.raises(ValueError, match="must be a directory to be overwritten"):
        export_function()(tiny_model(), destination, overwrite=True)
    assert destination.read_text() == "not an export"


class _Interrupted(Exception):
    pass


@needs_in_process_export
@pytest.mark.parametrize("previous", [False, True], ids=["new", "overwrite"])
def test_failure_while_writing_leaves_no_trace(tmp_path, monkeypatch, previous):
    import tensorflow as tf

    destination = tmp_path / "1"
    if previous:
        destination.mkdir()
        (destination / "keep.txt").write_text("previous export")
    real_save = tf.saved_model.save
    written = []

    def save_then_fail(obj, export_dir, *args, **kwargs):
        # The whole SavedModel is on disk when the failure hits.
        real_save(obj, export_dir, *args, **kwargs)
        written.append(export_dir)
        raise _Interrupted("disk full")

    monkeypatch.setattr(tf.saved_model, "save", save_then_fail)
    with pytest.raises(_Interrupted):
        export.export_saved_model(tiny_model(), destination, overwrite=previous)
    assert written and written[0] != str(destination)
    if previous:
        assert sorted(p.name for p in destination.iterdir()) == ["keep.txt"]
    else:
        assert not destination.exists()
    assert leftovers(tmp_path, "1") == []


@needs_in_process_export
def test_failure_while_tracing_leaves_no_trace(tmp_path):
    class Broken(keras.layers.Layer):
        def call(self, x):
            raise _Interrupted("cannot trace")

        def compute_output_shape(self, input_shape):
            return input_shape

    images = keras.Input((None, None, 3))
    model = keras.Model(images, Broken()(images))
    with pytest.raises(_Interrupted):
        export.export_saved_model(model, tmp_path / "1")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_atomic_destination_removes_a_half_written_export(tmp_path, kind):
    destination = tmp_path / "export"
    with pytest.raises(_Interrupted):
        with atomic.atomic_destination(destination, False, kind) as temporary:
            assert temporary.parent == tmp_path
            if kind == "directory":
                (temporary / "variables").mkdir()
                (temporary / "saved_model.pb").write_bytes(b"half")
            else:
                temporary.write_bytes(b"half")
            raise _Interrupted
    assert list(tmp_path.iterdir()) == []


def test_destination_appearing_during_the_export_is_kept(tmp_path):
    destination = tmp_path / "export"
    with pytest.raises(FileExistsError):
        with atomic.atomic_destination(destination, False, "file") as temporary:
            temporary.write_text("new")
            destination.write_text("someone else's")
    assert destination.read_text() == "someone else's"
    assert leftovers(tmp_path, "export") == []


@pytest.mark.parametrize(
    "path, message", [("", "non-empty"), (3, "path=3"), (None, "path=None")]
)
def test_rejects_invalid_paths(path, message):
    with pytest.raises(ValueError, match=message):
        atomic.resolve_destination(path, False, "directory")


def test_an_export_directory_gets_the_umask_permissions(tmp_path):
    # TF Serving often runs as another user: the export must be as readable
    # as any directory the user creates, not private like a temporary one.
    umask = os.umask(0o022)
    os.umask(umask)
    destination = atomic.resolve_destination(tmp_path / "1", False, "directory")
    with atomic.atomic_destination(destination, False, "directory") as temporary:
        (temporary / "saved_model.pb").write_bytes(b"")
    assert stat.S_IMODE(destination.stat().st_mode) == 0o777 & ~umask
