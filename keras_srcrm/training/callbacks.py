"""Checkpoint, resume and logging callbacks of a training run.

Every file of a run is written atomically (`keras_srcrm.utils.atomic`): a
process killed at any moment leaves each file either as it was or complete,
never half-written, and the backup keeps its previous state until the new
one is complete.
"""

import csv
import io
import json
import math
import os
import shutil
import warnings
from pathlib import Path

import keras
import numpy as np

from keras_srcrm.utils import atomic
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import spell

BEST_CHECKPOINT = "best.keras"
LAST_CHECKPOINT = "last.keras"
HISTORY_FILE = "history.csv"
BACKUP_DIR = "backup"
BACKUP_STATE_FILE = "training_state.json"
_BACKUP_FORMAT = 1
# What `keras.callbacks.BackupAndRestore` writes (earlier versions used it).
_LEGACY_WEIGHTS = "latest.weights.h5"
_LEGACY_METADATA = "training_metadata.json"
_MODES = ("max", "min")


class BackupError(ValueError):
    """The backup of an unfinished run cannot be resumed.

    Attributes:
        backup_dir: The backup directory, as a string.
        problem: What is wrong, in one sentence, without the remedy.
        kind: `"damaged"` (a file cannot be read) or `"mismatch"` (the
            backup was made with another model or other options).
    """

    def __init__(self, backup_dir, problem, kind):
        self.backup_dir = str(backup_dir)
        self.problem = problem
        self.kind = kind
        if kind == "mismatch":
            remedy = (
                "Resume with the model and options of the interrupted run, or "
                f"delete '{self.backup_dir}' and pass {spell('overwrite', True)} "
                "to start afresh."
            )
        else:
            remedy = (
                f"Delete '{self.backup_dir}' and pass {spell('overwrite', True)} "
                "to start the run afresh."
            )
        super().__init__(f"{problem} {remedy}")


# --- Reading a run's files ----------------------------------------------------


def _first_line(error):
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


def _read_all_datasets(name, item):
    import h5py

    if isinstance(item, h5py.Dataset):
        item[()]


def _check_weights_file(path, backup_dir):
    """Reads every array of a weights file, so that damage shows up here."""
    import h5py

    if not path.is_file():
        raise BackupError(
            backup_dir, f"The backup weights '{path}' are missing.", "damaged"
        )
    try:
        with h5py.File(path, "r") as file:
            file.visititems(_read_all_datasets)
    except Exception as error:
        raise BackupError(
            backup_dir,
            f"The backup weights '{path}' cannot be read ({_first_line(error)}); "
            "the file is damaged, e.g. by a crash while it was written.",
            "damaged",
        ) from None


def read_backup_state(backup_dir):
    """Returns the state of the unfinished run backed up in `backup_dir`.

    The state is a dict with `"epoch"` (the number of epochs finished, so
    the next one to run), `"weights"` (the file name of the weights and
    optimizer state in `backup_dir`, or None before the first epoch ended)
    and `"options"` (the `backup_options` of `training_callbacks`, or None).
    A backup written by `keras.callbacks.BackupAndRestore` is read too.
    The weights file is read in full, so that a damaged one is reported
    here rather than half-way through loading it.

    Args:
        backup_dir: The `backup/` directory of a run.

    Returns:
        The state dict, or None if `backup_dir` does not exist or is empty.

    Raises:
        BackupError: If the backup is damaged or incomplete; the message
            names the file.
    """
    backup_dir = Path(backup_dir)
    if not backup_dir.is_dir():
        return None
    atomic.remove_temporaries(backup_dir)
    state_path = backup_dir / BACKUP_STATE_FILE
    legacy_path = backup_dir / _LEGACY_METADATA
    if state_path.is_file() or legacy_path.is_file():
        path = state_path if state_path.is_file() else legacy_path
        try:
            state = json.loads(path.read_text())
            valid = (
                isinstance(state, dict)
                and isinstance(state.get("epoch"), int)
                and state["epoch"] >= 0
                and isinstance(state.get("weights"), (str, type(None)))
            )
        except (OSError, ValueError):
            valid = False
        if not valid:
            raise BackupError(
                backup_dir, f"The backup state '{path}' is damaged.", "damaged"
            )
        if path == legacy_path:
            weights = backup_dir / _LEGACY_WEIGHTS
            state = {
                "epoch": state["epoch"],
                "weights": weights.name if weights.exists() else None,
            }
    else:
        names = sorted(path.name for path in backup_dir.iterdir())
        if not names:
            return None
        raise BackupError(
            backup_dir,
            f"The backup directory '{backup_dir}' holds no training state (only "
            f"{', '.join(names[:3])}): it is incomplete, or was not written by "
            "keras-srcrm.",
            "damaged",
        )
    if state["weights"] is not None:
        _check_weights_file(backup_dir / state["weights"], backup_dir)
    state.setdefault("options", None)
    return state


def read_history(path):
    """Reads the `history.csv` of a run: one dict per epoch.

    Numbers are floats (`nan`, `inf` included) and `"epoch"` is an int;
    rows that cannot be parsed (from a crash of an earlier version, which
    appended to the file in place) are left out.

    Args:
        path: The `history.csv` file.

    Returns:
        A list of dicts, in file order; empty if the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            try:
                parsed = {"epoch": int(row["epoch"])}
            except (KeyError, TypeError, ValueError):
                continue
            for key, value in row.items():
                if key in (None, "epoch") or value in (None, ""):
                    continue
                try:
                    parsed[key] = float(value)
                except ValueError:
                    parsed[key] = value
            rows.append(parsed)
    return rows


def _best_logged_value(history_path, monitor, mode, before_epoch):
    """The best finite value of `monitor` logged for epochs < `before_epoch`."""
    values = [
        row[monitor]
        for row in read_history(history_path)
        if row["epoch"] < before_epoch
        and isinstance(row.get(monitor), float)
        and math.isfinite(row[monitor])
    ]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def _remove(path):
    """Deletes a file, or renames a directory aside and then deletes it.

    The rename makes a directory disappear at once: a process killed while
    deleting leaves a temporary name that the next run removes, not a
    half-deleted backup that would look damaged.
    """
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        trash = atomic.temporary_sibling(path)
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def remove_backup(output_dir):
    """Deletes the backup of a run whose results are safely written.

    With `training_callbacks(..., keep_backup=True)` the backup outlives
    `fit`; call this once what remains to be written (e.g. the final model)
    is on disk.

    Args:
        output_dir: The run directory of `training_callbacks`.
    """
    _remove(Path(output_dir) / BACKUP_DIR)


# --- Finite losses and weights -------------------------------------------------


def _value(value):
    return float(np.asarray(keras.ops.convert_to_numpy(value)))


def _losses_finite(logs):
    for key, value in (logs or {}).items():
        if key.endswith("loss"):
            try:
                if not math.isfinite(_value(value)):
                    return False
            except (TypeError, ValueError):
                continue
    return True


def _weights_finite(model):
    return all(
        np.all(np.isfinite(np.asarray(keras.ops.convert_to_numpy(v), "float32")))
        for v in model.trainable_weights
    )


class _FiniteEpochs:
    """Decides, once per epoch, whether the state at its end may be saved.

    It may if every logged loss and every trainable weight is finite: a
    checkpoint or backup of a diverged model would replace the last good one.
    """

    def __init__(self):
        self._epoch = None
        self._finite = True

    def check(self, model, epoch, logs):
        if epoch != self._epoch:
            self._epoch = epoch
            self._finite = _losses_finite(logs) and _weights_finite(model)
        return self._finite


class StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """Stops `fit` at the first batch whose loss is NaN or infinite.

    Like `keras.callbacks.TerminateOnNaN`, and it records where:

    Attributes:
        epoch: The (0-based) epoch of the first non-finite loss, or None.
        batch: Its batch within that epoch, or None.
        loss: The loss value (`nan`, `inf` or `-inf`), or None.
    """

    def __init__(self):
        super().__init__()
        self.epoch = None
        self.batch = None
        self.loss = None
        self._current_epoch = 0

    @property
    def stopped(self):
        """Whether a non-finite loss stopped the training."""
        return self.loss is not None

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or self.stopped:
            return
        loss = _value(loss)
        if not math.isfinite(loss):
            self.epoch, self.batch, self.loss = self._current_epoch, batch, loss
            self.model.stop_training = True


# --- Atomic checkpoints, log and backup ---------------------------------------


class _AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` that writes atomically and skips non-finite epochs."""

    def __init__(self, filepath, finite, **kwargs):
        super().__init__(str(filepath), **kwargs)
        self._finite = finite

    def _improves(self, value):
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not self._finite.check(self.model, epoch, logs):
            return
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None and self.monitor.startswith("val_"):
                if not any(key.startswith("val_") for key in logs):
                    return  # no validation at this epoch (`validation_freq`)
            if current is None:
                warnings.warn(
                    f"Can save best model only with {self.monitor} available; "
                    f"{self.filepath} is not updated.",
                    stacklevel=2,
                )
                return
            current = _value(current)
            if not (math.isfinite(current) and self._improves(current)):
                return
            self.best = current
        with atomic.atomic_path(self.filepath) as temporary:
            self.model.save(temporary)


def _csv_value(value):
    if isinstance(value, str):
        return value
    array = np.asarray(keras.ops.convert_to_numpy(value))
    if array.ndim == 0:
        return str(array.item())
    return "[" + ", ".join(str(v) for v in array.ravel().tolist()) + "]"


class _AtomicCSVLogger(keras.callbacks.CSVLogger):
    """`CSVLogger` that rewrites the whole file atomically at each epoch.

    A resumed run runs again the epoch that was in progress (and any epoch
    whose row was written but not backed up): the rows of such epochs are
    replaced, so every epoch is logged once.
    """

    def __init__(self, filename):
        super().__init__(str(filename), append=True)
        self._path = Path(filename)
        self._fields = []
        self._rows = []

    def on_train_begin(self, logs=None):
        self._fields, self._rows = [], []
        if self._path.is_file():
            with self._path.open(newline="") as file:
                reader = csv.DictReader(file)
                self._fields = list(reader.fieldnames or [])
                self._rows = [row for row in reader if _row_epoch(row) is not None]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": str(epoch)}
        for key, value in sorted((logs or {}).items()):
            row[key] = _csv_value(value)
        rows = [r for r in self._rows if _row_epoch(r) < epoch] + [row]
        fields = self._fields or ["epoch"]
        fields = fields + [key for key in row if key not in fields]
        text = io.StringIO()
        writer = csv.DictWriter(
            text, fieldnames=fields, restval="", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k in fields} for r in rows)
        atomic.write_text(self._path, text.getvalue())
        self._fields, self._rows = fields, rows

    def on_train_end(self, logs=None):
        pass


def _row_epoch(row):
    try:
        return int(row.get("epoch"))
    except (TypeError, ValueError):
        return None


def _shapes(model):
    return [list(variable.shape) for variable in model.weights]


def _jsonable(value):
    return None if value is None else json.loads(json.dumps(value))


def _show(value):
    return "(not set)" if value is None else str(value)


class _RunBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backup is replaced atomically at each epoch.

    The weights and optimizer state go to a new file,
    `backup/epoch_NNNNN.weights.h5`; then `backup/training_state.json`,
    which names the file and the epoch, is replaced atomically: that rename
    is the moment the new backup takes effect. Only then is the previous
    weights file deleted. The state file is written before the first epoch
    too, so that a run killed during its first epoch is recognised as
    unfinished.
    """

    def __init__(self, backup_dir, finite, *, delete_on_finish, options):
        super().__init__(str(backup_dir), delete_checkpoint=delete_on_finish)
        self._dir = Path(backup_dir)
        self._finite = finite
        self._options = _jsonable(options)
        self._state = None
        self._skipped = False

    def _write_state(self, state):
        self._dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(self._dir / BACKUP_STATE_FILE, json.dumps(state, indent=1))
        self._state = state

    def on_train_begin(self, logs=None):
        state = read_backup_state(self._dir)
        if state is None:
            self._write_state(
                {
                    "format": _BACKUP_FORMAT,
                    "epoch": 0,
                    "weights": None,
                    "options": self._options,
                    "shapes": None,
                }
            )
            return
        saved = state.get("options")
        if saved is not None and self._options is not None and saved != self._options:
            changed = [
                f"{key} {_show(saved.get(key))} (now {_show(self._options.get(key))})"
                for key in sorted(set(saved) | set(self._options))
                if saved.get(key) != self._options.get(key)
            ]
            raise BackupError(
                self._dir,
                f"The backup in '{self._dir}' was made with other options: "
                f"{', '.join(changed)}.",
                "mismatch",
            )
        if state["weights"] is not None:
            self._restore(self._dir / state["weights"], state.get("shapes"))
        self.model._initial_epoch = state["epoch"]
        self._state = {
            "format": _BACKUP_FORMAT,
            "shapes": None,
            **state,
            "options": self._options if saved is None else saved,
        }

    def _restore(self, path, shapes):
        model = self.model
        if not model.built:
            raise ValueError(
                "To resume from a backup the model must be built before `fit()`: "
                "call it on a batch of data first."
            )
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        if shapes is not None:
            current = _shapes(model)
            if len(shapes) != len(current):
                raise BackupError(
                    self._dir,
                    f"The backup in '{self._dir}' was made with another model: "
                    f"{len(shapes)} variables there, {len(current)} here.",
                    "mismatch",
                )
            for index, (saved, now) in enumerate(zip(shapes, current)):
                if list(saved) != list(now):
                    raise BackupError(
                        self._dir,
                        f"The backup in '{self._dir}' was made with another "
                        f"model: variable '{model.weights[index].path}' has shape "
                        f"{tuple(saved)} there and {tuple(now)} here.",
                        "mismatch",
                    )
        try:
            model.load_weights(path)
        except Exception as error:
            raise BackupError(
                self._dir,
                f"The backup '{path}' was made with another model or optimizer: "
                f"it does not load into this one ({type(error).__name__}).",
                "mismatch",
            ) from None

    def on_epoch_end(self, epoch, logs=None):
        if not self._finite.check(self.model, epoch, logs):
            self._skipped = True
            return
        name = f"epoch_{epoch + 1:05d}.weights.h5"
        self._dir.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(self._dir / name) as temporary:
            self.model.save_weights(temporary)
        self._write_state(
            {
                **self._state,
                "epoch": epoch + 1,
                "weights": name,
                "shapes": _shapes(self.model),
            }
        )
        for path in self._dir.iterdir():
            if path.name.endswith(".weights.h5") and path.name != name:
                path.unlink(missing_ok=True)
        (self._dir / _LEGACY_METADATA).unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        # A run stopped by a non-finite loss keeps the backup of its last
        # finite epoch.
        if self.delete_checkpoint and not self._skipped:
            _remove(self._dir)


def _history_has_rows(path):
    return bool(read_history(path))


def training_callbacks(
    output_dir,
    *,
    monitor="val_mean_iou",
    mode="max",
    save_best=True,
    backup=True,
    csv_log=True,
    overwrite=False,
    stop_on_nan=True,
    keep_backup=False,
    backup_options=None,
):
    """Returns the callbacks of a resumable training run in `output_dir`.

    The run directory holds:

    - `best.keras`: the model at the epoch with the best `monitor` value
      (`save_best=True`);
    - `last.keras`: the model at the end of the latest epoch (always);
    - `backup/`: the state of an unfinished run (`backup=True`): weights,
      optimizer state (so the step count and the learning-rate schedule
      continue) and the epoch, written at the end of every epoch and
      deleted when `fit` finishes (unless `keep_backup`);
    - `history.csv`: one row of logs per epoch (`csv_log=True`), kept
      across resumptions.

    **Crash safety.** Every file is written under a temporary name and
    renamed into place, so a process killed at any moment (even while it
    writes) leaves each file as it was or complete. The backup keeps its
    previous state until the new one is complete, and it is created when
    `fit` starts, so a run killed in its first epoch resumes too.

    **Resuming.** If `fit` is interrupted (a crash, a pre-empted job, a
    kill), running the same script again, with the same `output_dir` and
    `epochs`, restores the model and the optimizer from `backup/` and
    continues with the first epoch that did not finish; the epoch in
    progress is run again from its start and its row of `history.csv`, if
    any, is replaced. The best value in `history.csv` becomes the threshold
    of `best.keras`, so a resumed run does not replace a better checkpoint of
    the first attempt. Resuming always wins over `overwrite`: to start an
    interrupted run afresh, delete its `backup/` (or the whole directory).
    A backup that cannot be read, or that was made with another model or
    other `backup_options`, raises a `BackupError` (a `ValueError`) naming
    the file: when the callbacks are made, or when `fit` starts.

    **Non-finite loss.** With `stop_on_nan=True`, `fit` stops at the first
    batch whose loss is NaN or infinite (`StopOnNonFiniteLoss`, first in
    the list, records where). No file is written for an epoch whose loss or
    weights are not finite: `best.keras`, `last.keras` and `backup/` keep
    the last finite epoch, and the backup is not deleted; `history.csv`
    logs the non-finite epoch.

    **Reuse.** A directory that holds the checkpoints or the history of a
    finished run (and no `backup/`) is refused with a `ValueError`, so that
    a second run does not silently mix its history and checkpoints with the
    first one; `overwrite=True` deletes those files first.

    **Monitor.** `keras_srcrm.metrics.MeanIoU` is named `"mean_iou"` unless
    given another `name`, so with validation data the key is
    `"val_mean_iou"`. A model with auxiliary heads (dict outputs) reports
    its metrics per output: `"val_segmentation_mean_iou"`. Without
    validation data use e.g. `monitor="mean_iou"`; a warning is given and
    `best.keras` is not written at each epoch where the key is missing.

    Args:
        output_dir: Directory of the run (created if needed).
        monitor: The log key that decides `best.keras`. Defaults to
            `"val_mean_iou"`.
        mode: `"max"` (default) if a larger `monitor` is better, or `"min"`.
        save_best: Whether to keep `best.keras`.
        backup: Whether to back up the run for resuming.
        csv_log: Whether to log every epoch to `history.csv`.
        overwrite: Whether to delete the files of a finished run in
            `output_dir` instead of refusing it.
        stop_on_nan: Whether to stop at the first non-finite loss.
        keep_backup: Whether `backup/` outlives `fit`. Keep it when more
            is written after `fit` (a final model, a report) and delete it
            with `remove_backup(output_dir)` once that is on disk: a crash
            in between then resumes (with no epoch left to run) instead of
            losing the run. Defaults to False.
        backup_options: None, or a JSON-serialisable dict of the options
            that define the model (e.g. its configuration). It is stored in
            the backup, and a resumption with other options is refused with
            a `BackupError` that lists the differences.

    Returns:
        A list of Keras callbacks for `model.fit(..., callbacks=...)`.

    Raises:
        ValueError: If `output_dir` holds a finished run and `overwrite` is
            False, or if an argument is invalid.
        BackupError: If `backup/` holds a damaged backup.

    Example:

    ```python
    callbacks = training_callbacks("runs/cityscapes_r18")
    model.fit(train, validation_data=val, epochs=100, callbacks=callbacks)
    # Interrupted? Run the same script again: it resumes.
    ```
    """
    if mode not in _MODES:
        raise ValueError(f"`mode` must be one of {_MODES}. Received: mode={mode!r}")
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(
            f"`monitor` must be a non-empty string. Received: monitor={monitor!r}"
        )
    for name, value in (
        ("save_best", save_best),
        ("backup", backup),
        ("csv_log", csv_log),
        ("overwrite", overwrite),
        ("stop_on_nan", stop_on_nan),
        ("keep_backup", keep_backup),
    ):
        check_bool(name, value)
    if backup_options is not None and not isinstance(backup_options, dict):
        raise ValueError(
            "`backup_options` must be a dict or None. Received: "
            f"backup_options={backup_options!r}"
        )
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(
            f"`output_dir` must be a directory. Received: '{output_dir}', "
            "which is a file"
        )
    best_path = output_dir / BEST_CHECKPOINT
    last_path = output_dir / LAST_CHECKPOINT
    history_path = output_dir / HISTORY_FILE
    backup_dir = output_dir / BACKUP_DIR

    atomic.remove_temporaries(output_dir)
    state = read_backup_state(backup_dir) if backup else None
    if state is None:
        previous = [path for path in (best_path, last_path) if path.exists()]
        # A log without a row (a run of an earlier version killed in its
        # first epoch) holds nothing to keep.
        stale = []
        if history_path.exists():
            (previous if _history_has_rows(history_path) else stale).append(
                history_path
            )
        if backup_dir.exists():
            (stale if backup and not any(backup_dir.iterdir()) else previous).append(
                backup_dir
            )
        if previous and not overwrite:
            names = ", ".join(f"'{path}'" for path in previous)
            raise ValueError(
                f"The run directory '{output_dir}' already holds the results of "
                f"a previous run ({names}) and no backup of an unfinished run "
                f"to resume. Pass {spell('overwrite', True)} to delete them, or "
                f"choose another {spell('output_dir')}."
            )
        for path in previous + stale:
            _remove(path)
    output_dir.mkdir(parents=True, exist_ok=True)

    finite = _FiniteEpochs()
    callbacks = []
    if stop_on_nan:
        callbacks.append(StopOnNonFiniteLoss())
    if csv_log:
        callbacks.append(_AtomicCSVLogger(history_path))
    if save_best:
        threshold = (
            None
            if state is None
            else _best_logged_value(history_path, monitor, mode, state["epoch"])
        )
        callbacks.append(
            _AtomicModelCheckpoint(
                best_path,
                finite,
                monitor=monitor,
                mode=mode,
                save_best_only=True,
                initial_value_threshold=threshold,
            )
        )
    callbacks.append(_AtomicModelCheckpoint(last_path, finite))
    if backup:
        # Last, so that an epoch is backed up only after it is logged and
        # checkpointed: a crash in between runs the epoch again.
        callbacks.append(
            _RunBackup(
                backup_dir,
                finite,
                delete_on_finish=not keep_backup,
                options=backup_options,
            )
        )
    return callbacks
