"""Checkpoint, resume and logging callbacks of a training run."""

import csv
import math
import shutil
from pathlib import Path

import keras

BEST_CHECKPOINT = "best.keras"
LAST_CHECKPOINT = "last.keras"
HISTORY_FILE = "history.csv"
BACKUP_DIR = "backup"
_MODES = ("max", "min")


def _best_logged_value(history_path, monitor, mode):
    """The best value of `monitor` in a CSVLogger file, or None."""
    if not history_path.is_file():
        return None
    values = []
    with history_path.open(newline="") as file:
        for row in csv.DictReader(file):
            try:
                value = float(row.get(monitor) or "nan")
            except ValueError:
                continue
            if math.isfinite(value):
                values.append(value)
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def _remove(path):
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def training_callbacks(
    output_dir,
    *,
    monitor="val_mean_iou",
    mode="max",
    save_best=True,
    backup=True,
    csv_log=True,
    overwrite=False,
):
    """Returns the callbacks of a resumable training run in `output_dir`.

    The run directory holds:

    - `best.keras`: the model at the epoch with the best `monitor` value
      (`save_best=True`);
    - `last.keras`: the model at the end of the latest epoch (always);
    - `backup/`: the state of an unfinished run (`backup=True`): weights,
      optimizer state (so the step count and the learning-rate schedule
      continue) and the epoch, written by `keras.callbacks.BackupAndRestore`
      at the end of every epoch and deleted when `fit` finishes;
    - `history.csv`: one row of logs per epoch (`csv_log=True`), appended
      to across resumptions.

    **Resuming.** If `fit` is interrupted (a crash, a pre-empted job),
    running the same script again, with the same `output_dir` and
    `epochs`, restores the model and the optimizer from `backup/` and
    continues with the first epoch that did not finish; the epoch in
    progress is run again from its start. The best value in `history.csv`
    becomes the threshold of `best.keras`, so a resumed run does not replace
    a better checkpoint of the first attempt. Resuming always wins over
    `overwrite`: to start an interrupted run afresh, delete its directory.

    **Reuse.** A directory that holds the checkpoints or the history of a
    finished run (and no `backup/`) is refused with a `ValueError`, so that
    a second run does not silently mix its history and checkpoints with the
    first one; `overwrite=True` deletes those files first.

    **Monitor.** `keras_srcrm.metrics.MeanIoU` is named `"mean_iou"` unless
    given another `name`, so with validation data the key is
    `"val_mean_iou"`. A model with auxiliary heads (dict outputs) reports
    its metrics per output: `"val_segmentation_mean_iou"`. Without
    validation data use e.g. `monitor="mean_iou"`; Keras warns and skips
    `best.keras` at each epoch if the key is missing.

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

    Returns:
        A list of Keras callbacks for `model.fit(..., callbacks=...)`.

    Raises:
        ValueError: If `output_dir` holds a finished run and `overwrite` is
            False, or if an argument is invalid.

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

    resuming = backup and backup_dir.is_dir() and any(backup_dir.iterdir())
    if not resuming:
        previous = [
            path
            for path in (best_path, last_path, history_path, backup_dir)
            if path.exists()
        ]
        if previous and not overwrite:
            names = ", ".join(f"'{path}'" for path in previous)
            raise ValueError(
                f"The run directory '{output_dir}' already holds the results of "
                f"a previous run ({names}) and no backup of an unfinished run "
                "to resume. Pass overwrite=True to delete them, or choose "
                "another `output_dir`."
            )
        for path in previous:
            _remove(path)
    output_dir.mkdir(parents=True, exist_ok=True)

    callbacks = []
    if csv_log:
        callbacks.append(keras.callbacks.CSVLogger(str(history_path), append=True))
    if save_best:
        threshold = (
            _best_logged_value(history_path, monitor, mode) if resuming else None
        )
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                str(best_path),
                monitor=monitor,
                mode=mode,
                save_best_only=True,
                initial_value_threshold=threshold,
            )
        )
    callbacks.append(keras.callbacks.ModelCheckpoint(str(last_path)))
    if backup:
        # Last, so that an epoch is backed up only after it is logged: a crash
        # in between repeats a row of the log rather than losing one.
        callbacks.append(keras.callbacks.BackupAndRestore(str(backup_dir)))
    return callbacks
