"""Checkpoints written by keras-srcrm 0.1 load and give the same outputs.

The fixtures in `data/` hold an SRM and a full SRM + CRM decoder with their
default arguments and random (non-zero) weights, saved by version 0.1 on
TensorFlow, with their inputs and outputs. New arguments must default to
the behaviour these files were saved with.
"""

from pathlib import Path

import keras
import numpy as np

import keras_srcrm  # noqa: F401  (registers the layers)
from tests.helpers import call_jitted

DATA = Path(__file__).resolve().parent / "data"


def test_default_srm_checkpoint_loads_unchanged():
    io = np.load(DATA / "checkpoint_io_v0_1.npz")
    model = keras.saving.load_model(DATA / "srm_v0_1.keras")
    outputs = call_jitted(model, [io["srm_high"], io["srm_low"]], training=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(outputs), io["srm_out"], atol=2e-5, rtol=1e-5
    )


def test_default_decoder_checkpoint_loads_unchanged():
    io = np.load(DATA / "checkpoint_io_v0_1.npz")
    model = keras.saving.load_model(DATA / "decoder_v0_1.keras")
    inputs = [io[f"decoder_in_{i}"] for i in range(4)]
    outputs = call_jitted(model, inputs, training=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(outputs), io["decoder_out"], atol=2e-5, rtol=1e-5
    )
