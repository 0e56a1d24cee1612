"""Writing files so that a crash never leaves one half-written.

A file is written under a temporary name in its own directory (hence on the
same file system), flushed to disk, and renamed over its destination with
`os.replace`, which is atomic: at every moment the destination is either
absent, the previous complete file, or the new complete file. A process
killed while writing leaves at most a temporary file, whose name starts with
`TEMPORARY_PREFIX`; `remove_temporaries` deletes such leftovers.

Temporary files are created by the writer (a plain `open`, `h5py`,
`zipfile`), so they get the usual permissions of the umask.
"""

import contextlib
import os
import shutil
import uuid
from pathlib import Path

TEMPORARY_PREFIX = ".tmp-"


def temporary_sibling(path):
    """A fresh name beside `path` that ends like it (`.keras`, `.weights.h5`).

    Keras chooses the file format from the end of the name, so the
    temporary name keeps the whole original name as its end:
    `dir/model.keras` -> `dir/.tmp-<hex>-model.keras`.
    """
    path = Path(path)
    return path.with_name(f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}-{path.name}")


def _fsync(path):
    """Flushes a file's data, or a directory's entries, where supported."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_directory(directory):
    """Flushes a directory's entries (renames) to disk, where supported."""
    _fsync(directory)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path to write; moves it to `path` when complete.

    The block must create the file at the yielded path. When the block
    returns, the file is flushed to disk and renamed to `path` (replacing an
    existing file). When it raises, the temporary file is deleted and `path`
    is left as it was.

    Example:

    ```python
    with atomic_path("runs/a/model.keras") as temporary:
        model.save(temporary)
    ```
    """
    path = Path(path)
    temporary = temporary_sibling(path)
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    fsync_directory(path.parent)


def write_bytes(path, data):
    """Writes `data` to `path` atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as file:
            file.write(data)


def write_text(path, text):
    """Writes `text` (UTF-8) to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def remove_temporaries(directory):
    """Deletes the temporary files a killed writer left in `directory`."""
    directory = Path(directory)
    if not directory.is_dir():
        return
    for path in directory.glob(f"{TEMPORARY_PREFIX}*"):
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
