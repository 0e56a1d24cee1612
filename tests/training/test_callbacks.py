"""training_callbacks: checkpoints, resuming after an interruption, reuse."""

import csv
import json
import shutil

import keras
import numpy as np
import pytest

from keras_srcrm.losses import SegmentationCrossEntropy
from keras_srcrm.metrics import MeanIoU
from keras_srcrm.training import BackupError
from keras_srcrm.training import PolynomialDecayWithWarmup
from keras_srcrm.training import StopOnNonFiniteLoss
from keras_srcrm.training import build_optimizer
from keras_srcrm.training import read_backup_state
from keras_srcrm.training import read_history
from keras_srcrm.training import remove_backup
from keras_srcrm.training import training_callbacks

BACKEND = keras.backend.backend()
NUM_CLASSES = 3
EPOCHS = 4
BATCH_SIZE = 4
STEPS_PER_EPOCH = 2


class Interrupted(Exception):
    pass


class Interrupt(keras.callbacks.Callback):
    """Raises in the middle of `epoch`, as a crash or a pre-emption would."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.current = None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 0:
            raise Interrupted(f"interrupted in epoch {self.epoch}")


class Recorder(keras.callbacks.Callback):
    """Records the epochs run, the weights, and the optimizer's step."""

    def __init__(self):
        super().__init__()
        self.epochs = []
        self.weights_at_begin = None
        self.step_at_begin = None
        self.weights_after_epoch = {}

    def _weights(self):
        return [np.array(w) for w in self.model.get_weights()]

    def on_train_begin(self, logs=None):
        self.weights_at_begin = self._weights()
        self.step_at_begin = int(
            keras.ops.convert_to_numpy(self.model.optimizer.iterations)
        )

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.weights_after_epoch[epoch] = self._weights()


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH_SIZE * STEPS_PER_EPOCH, 8, 8, 3)).astype("float32")
    y = np.argmax(x, axis=-1).astype("int32")
    return x, y


def _model(filters=4):
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(NUM_CLASSES, 1),
        ]
    )
    schedule = PolynomialDecayWithWarmup(0.1, EPOCHS * STEPS_PER_EPOCH, warmup_steps=2)
    model.compile(
        optimizer=build_optimizer("sgd", schedule, weight_decay=1e-3),
        loss=SegmentationCrossEntropy(),
        metrics=[MeanIoU(NUM_CLASSES)],
        jit_compile=BACKEND in ("tensorflow", "jax"),
    )
    return model


def _fit(model, callbacks):
    x, y = _data()
    return model.fit(
        x,
        y,
        validation_data=(x, y),
        batch_size=BATCH_SIZE,
        epochs=EPOCHS,
        shuffle=False,
        callbacks=callbacks,
        verbose=0,
    )


def _logged_epochs(path):
    with path.open(newline="") as file:
        return [int(row["epoch"]) for row in csv.DictReader(file)]


def _best_checkpoint(callbacks):
    (checkpoint,) = [
        c
        for c in callbacks
        if isinstance(c, keras.callbacks.ModelCheckpoint) and c.save_best_only
    ]
    return checkpoint


def test_resumes_after_an_interruption(tmp_path):
    run_dir = tmp_path / "run"
    first = Recorder()
    with pytest.raises(Interrupted):
        _fit(_model(), training_callbacks(run_dir) + [first, Interrupt(epoch=2)])
    assert first.epochs == [0, 1, 2]
    # An unfinished run: checkpoints, a log of the finished epochs, a backup.
    assert (run_dir / "best.keras").is_file()
    assert (run_dir / "last.keras").is_file()
    assert (run_dir / "backup").is_dir()
    assert _logged_epochs(run_dir / "history.csv") == [0, 1]

    # The same script again, in a new process: a new model, new callbacks.
    callbacks = training_callbacks(run_dir)
    with (run_dir / "history.csv").open(newline="") as file:
        best_so_far = max(float(row["val_mean_iou"]) for row in csv.DictReader(file))
    assert _best_checkpoint(callbacks).best == pytest.approx(best_so_far)
    second = Recorder()
    history = _fit(_model(), callbacks + [second])

    # Only the epoch that did not finish and the next one ran again...
    assert second.epochs == [2, 3]
    assert len(history.history["loss"]) == 2
    # ...from the weights and optimizer state at the end of epoch 1.
    for restored, saved in zip(second.weights_at_begin, first.weights_after_epoch[1]):
        np.testing.assert_array_equal(restored, saved)
    assert second.step_at_begin == 2 * STEPS_PER_EPOCH
    assert not np.allclose(
        second.weights_after_epoch[3][0], first.weights_after_epoch[1][0]
    )
    # Every epoch logged once; the backup is gone once the run finished.
    assert _logged_epochs(run_dir / "history.csv") == [0, 1, 2, 3]
    assert not (run_dir / "backup").exists()

    last = keras.models.load_model(run_dir / "last.keras")
    for loaded, trained in zip(last.get_weights(), second.weights_after_epoch[3]):
        np.testing.assert_allclose(loaded, trained)
    assert int(keras.ops.convert_to_numpy(last.optimizer.iterations)) == (
        EPOCHS * STEPS_PER_EPOCH
    )


def test_refuses_a_finished_run_unless_overwrite(tmp_path):
    run_dir = tmp_path / "run"
    _fit(_model(), training_callbacks(run_dir))
    assert (run_dir / "best.keras").is_file()
    assert not (run_dir / "backup").exists()

    with pytest.raises(ValueError, match="best.keras.*overwrite=True"):
        training_callbacks(run_dir)
    callbacks = training_callbacks(run_dir, overwrite=True)
    assert not (run_dir / "best.keras").exists()
    assert not (run_dir / "history.csv").exists()
    # A fresh run: no threshold carried over from the old history.
    assert _best_checkpoint(callbacks).best is None


def test_a_backup_alone_resumes_even_without_checkpoints(tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 1}')
    (tmp_path / "last.keras").write_bytes(b"")
    callbacks = training_callbacks(tmp_path)  # no error: an unfinished run
    assert isinstance(callbacks[-1], keras.callbacks.BackupAndRestore)
    assert (tmp_path / "last.keras").exists()


def test_the_pieces_can_be_turned_off(tmp_path):
    callbacks = training_callbacks(
        tmp_path / "run",
        save_best=False,
        backup=False,
        csv_log=False,
        stop_on_nan=False,
    )
    assert len(callbacks) == 1
    assert isinstance(callbacks[0], keras.callbacks.ModelCheckpoint)
    assert str(callbacks[0].filepath).endswith("last.keras")


def test_monitor_and_mode_reach_the_best_checkpoint(tmp_path):
    callbacks = training_callbacks(tmp_path, monitor="val_loss", mode="min")
    checkpoint = _best_checkpoint(callbacks)
    assert checkpoint.monitor == "val_loss"
    assert checkpoint.mode == "min"


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="`mode`.*'maximum'"):
        training_callbacks(tmp_path, mode="maximum")
    with pytest.raises(ValueError, match="`monitor`"):
        training_callbacks(tmp_path, monitor="")
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ValueError, match="`output_dir`.*file"):
        training_callbacks(a_file)


class PoisonWeights(keras.callbacks.Callback):
    """Makes the weights NaN when `epoch` begins, as a diverging step would."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            for variable in self.model.trainable_variables:
                variable.assign(np.full(variable.shape, np.nan, "float32"))


def _assert_weights_equal(model, weights):
    for loaded, expected in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(loaded, expected)


def test_a_non_finite_loss_stops_and_keeps_the_last_finite_epoch(tmp_path):
    run_dir = tmp_path / "run"
    callbacks = training_callbacks(run_dir, monitor="loss", mode="min")
    recorder = Recorder()
    history = _fit(_model(), callbacks + [recorder, PoisonWeights(epoch=2)])

    stop = callbacks[0]
    assert isinstance(stop, StopOnNonFiniteLoss) and stop.stopped
    assert (stop.epoch, stop.batch) == (2, 0) and np.isnan(stop.loss)
    assert len(history.history["loss"]) == 3  # stopped in epoch 2
    # The checkpoints and the backup hold epoch 1, the last finite one; the
    # backup is kept, so that the run can resume from there.
    finite = recorder.weights_after_epoch[1]
    _assert_weights_equal(keras.models.load_model(run_dir / "last.keras"), finite)
    _assert_weights_equal(keras.models.load_model(run_dir / "best.keras"), finite)
    assert read_backup_state(run_dir / "backup")["epoch"] == 2
    # The log records the NaN.
    rows = read_history(run_dir / "history.csv")
    assert [row["epoch"] for row in rows] == [0, 1, 2]
    assert np.isnan(rows[-1]["loss"])


def test_resumes_after_an_interruption_in_the_first_epoch(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        _fit(_model(), training_callbacks(run_dir) + [Interrupt(epoch=0)])
    assert not (run_dir / "history.csv").exists()  # no epoch finished

    recorder = Recorder()
    _fit(_model(), training_callbacks(run_dir) + [recorder])
    assert recorder.epochs == [0, 1, 2, 3]
    assert _logged_epochs(run_dir / "history.csv") == [0, 1, 2, 3]


def test_an_empty_log_left_by_a_killed_run_does_not_block_a_new_run(tmp_path):
    # An earlier version created history.csv when fit began: a run killed in
    # its first epoch left it empty, and no backup.
    (tmp_path / "history.csv").write_text("")
    callbacks = training_callbacks(tmp_path)
    assert not (tmp_path / "history.csv").exists()
    assert _best_checkpoint(callbacks).best is None


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory):
    """A run directory whose run was interrupted in epoch 2, with options."""
    run_dir = tmp_path_factory.mktemp("interrupted") / "run"
    callbacks = training_callbacks(run_dir, backup_options={"filters": 4})
    with pytest.raises(Interrupted):
        _fit(_model(), callbacks + [Interrupt(epoch=2)])
    assert read_backup_state(run_dir / "backup")["epoch"] == 2
    return run_dir


def _copy(run_dir, tmp_path):
    return shutil.copytree(run_dir, tmp_path / "run")


def test_a_damaged_backup_is_one_line_that_names_the_file(interrupted_run, tmp_path):
    run_dir = _copy(interrupted_run, tmp_path)
    state = json.loads((run_dir / "backup" / "training_state.json").read_text())
    weights = run_dir / "backup" / state["weights"]
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(BackupError, match="damaged") as info:
        training_callbacks(run_dir)
    message = str(info.value)
    assert str(weights) in message and "\n" not in message
    assert "overwrite=True" in message

    # A backup directory without a state (what a kill during the first backup
    # of an earlier version left) is reported the same way.
    shutil.rmtree(run_dir / "backup")
    (run_dir / "backup").mkdir()
    (run_dir / "backup" / "latest.weights.h5").write_bytes(b"\x89HDF")
    with pytest.raises(BackupError, match="holds no training state"):
        training_callbacks(run_dir)


def test_a_backup_of_another_model_or_options_is_refused(interrupted_run, tmp_path):
    run_dir = _copy(interrupted_run, tmp_path)
    callbacks = training_callbacks(run_dir, backup_options={"filters": 6})
    with pytest.raises(BackupError, match=r"other options: filters 4 \(now 6\)"):
        _fit(_model(filters=6), callbacks)
    # Without options to compare, the weights' shapes still tell.
    with pytest.raises(BackupError, match="another model") as info:
        _fit(_model(filters=6), training_callbacks(run_dir))
    # Short apart from the paths it names (which depend on where tests run).
    assert len(str(info.value).replace(str(run_dir / "backup"), "DIR")) < 400
    # The backup is untouched: the right model still resumes from it.
    recorder = Recorder()
    _fit(_model(), training_callbacks(run_dir) + [recorder])
    assert recorder.epochs == [2, 3]


def test_keep_backup_keeps_it_until_remove_backup(tmp_path):
    run_dir = tmp_path / "run"
    _fit(_model(), training_callbacks(run_dir, keep_backup=True))
    assert read_backup_state(run_dir / "backup")["epoch"] == EPOCHS
    # A rerun now resumes with no epoch left to run.
    recorder = Recorder()
    history = _fit(_model(), training_callbacks(run_dir, keep_backup=True) + [recorder])
    assert recorder.epochs == [] and history.history == {}
    remove_backup(run_dir)
    assert not (run_dir / "backup").exists()
