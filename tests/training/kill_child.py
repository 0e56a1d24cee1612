"""A training run that `test_kill.py` kills with SIGKILL at a chosen moment.

Usage: `python kill_child.py RUN_DIR FILE_NAME OCCURRENCE MARKER`

Trains a tiny model with `training_callbacks(RUN_DIR)`. The moment the run
writes, for the OCCURRENCE-th time, a file whose name ends with FILE_NAME,
the file is cut to half its size (as if the write had only got half-way),
MARKER is created and the process waits to be killed: the test sees MARKER
appear and kills the process there, mid-write.
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_srcrm.training import training_callbacks  # noqa: E402

EPOCHS = 4
STEPS_PER_EPOCH = 2
BATCH_SIZE = 2


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH_SIZE * STEPS_PER_EPOCH, 8, 8, 3)).astype("float32")
    return x, np.argmax(x, axis=-1).astype("int32")


def build_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(3, 1),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    return model


def fit(model, callbacks):
    x, y = data()
    return model.fit(
        x,
        y,
        batch_size=BATCH_SIZE,
        epochs=EPOCHS,
        shuffle=False,
        callbacks=callbacks,
        verbose=0,
    )


def _die_while_writing(file_name, occurrence, marker):
    seen = []

    def wrap(method):
        def write(self, filepath, *args, **kwargs):
            method(self, filepath, *args, **kwargs)
            if not str(filepath).endswith(file_name):
                return
            seen.append(filepath)
            if len(seen) == occurrence:
                os.truncate(filepath, os.path.getsize(filepath) // 2)
                Path(marker).touch()
                time.sleep(600)

        return write

    keras.Model.save = wrap(keras.Model.save)
    keras.Model.save_weights = wrap(keras.Model.save_weights)


def main():
    run_dir, file_name, occurrence, marker = sys.argv[1:]
    _die_while_writing(file_name, int(occurrence), marker)
    fit(build_model(), training_callbacks(run_dir, monitor="loss", mode="min"))


if __name__ == "__main__":
    main()
