"""training_callbacks: checkpoints, resuming after an interruption, reuse."""

import csv

import keras
import numpy as np
import pytest

from keras_srcrm.losses import SegmentationCrossEntropy
from keras_srcrm.metrics import MeanIoU
from keras_srcrm.training import PolynomialDecayWithWarmup
from keras_srcrm.training import build_optimizer
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


def _model():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
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
        tmp_path / "run", save_best=False, backup=False, csv_log=False
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
