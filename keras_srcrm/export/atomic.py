"""Writing an export so that its destination is never left half-written.

An export is written into a temporary sibling of its destination (same
directory, hence same file system) and renamed into place only once it is
complete. A failure at any point removes the temporary copy and leaves the
destination as it was: absent, or the previous export when `overwrite=True`.
The export gets the permissions of the umask, like any file the user writes.
"""

import contextlib
import os
import shutil
import uuid
from pathlib import Path

from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import spell


def resolve_destination(path, overwrite, kind):
    """Checks an export destination before any work is done.

    Args:
        path: `str` or path-like destination.
        overwrite: Whether an existing destination may be replaced.
        kind: `"directory"` (a SavedModel) or `"file"` (an ONNX model).

    Returns:
        The destination as an absolute `Path`.

    Raises:
        ValueError: If `path` is not a path, or exists with the wrong kind.
        FileExistsError: If `path` exists and `overwrite` is False.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(
            f"`path` must be a non-empty str or path-like. Received: path={path!r}"
        )
    check_bool("overwrite", overwrite)
    destination = Path(path).expanduser().absolute()
    if destination.exists() or destination.is_symlink():
        if not overwrite:
            raise FileExistsError(
                f"The export destination already exists: '{destination}'. "
                f"Pass {spell('overwrite', True)} to replace it, or choose another "
                f"{spell('path')} "
                "(TF Serving expects a new numbered directory per model version)."
            )
        is_directory = destination.is_dir() and not destination.is_symlink()
        if is_directory != (kind == "directory"):
            raise ValueError(
                f"`path` must be a {kind} to be overwritten, but '{destination}' "
                f"is {'a directory' if is_directory else 'not a directory'}. "
                "Remove it yourself or choose another `path`."
            )
    return destination


@contextlib.contextmanager
def atomic_destination(destination, overwrite, kind):
    """Yields a temporary path to write; renames it to `destination` on success.

    Args:
        destination: The absolute `Path` from `resolve_destination`.
        overwrite: Whether an existing destination may be replaced.
        kind: `"directory"` or `"file"`.

    Yields:
        A `Path` beside `destination`: an empty directory for `"directory"`,
        a path that does not exist yet for `"file"`.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.parent / f".{destination.name}.tmp-{uuid.uuid4().hex}"
    if kind == "directory":
        # Not `tempfile.mkdtemp`: its directory is private (mode 0700), and the
        # rename would keep that mode, so that TF Serving running as another
        # user could not read the export. `mkdir` applies the umask, like
        # every other directory the user creates.
        temporary.mkdir()
    try:
        yield temporary
        _move_into_place(temporary, destination, overwrite, kind)
    except BaseException:
        _remove(temporary)
        raise


def _move_into_place(temporary, destination, overwrite, kind):
    if not (destination.exists() or destination.is_symlink()):
        os.rename(temporary, destination)
        return
    # Checked again: the destination may have appeared during the export.
    resolve_destination(destination, overwrite, kind)
    backup = destination.parent / f".{destination.name}.old-{uuid.uuid4().hex}"
    os.rename(destination, backup)
    try:
        os.rename(temporary, destination)
    except BaseException:
        os.rename(backup, destination)
        raise
    _remove(backup)


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
