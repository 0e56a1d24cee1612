"""Tiny runs and datasets for the command-line tests."""

import keras
import numpy as np

# The train step is compiled by `tests/training/test_fit.py`; here the
# cheapest way on each backend: TensorFlow traces a graph without XLA in half
# the time of an XLA compilation, JAX compiles the step as a whole faster
# than it runs it op by op, and torch runs eagerly either way.
NO_JIT = ["--no-jit"] if keras.backend.backend() == "tensorflow" else []

# A tiny run: 48x48 scenes (the stride-32 level is 2x2, so the attention has
# more than one position), a narrow decoder, four steps. `train` and `demo`
# both take these options.
TINY_RUN = [
    "--decoder-filters", "8",
    "--synthetic-size", "48",
    "--synthetic-samples", "8",
    "--val-samples", "2",
    "--crop-size", "48",
    "--batch-size", "2",
    "--epochs", "2",
    "--steps-per-epoch", "2",
]  # fmt: skip

# A tiny SRM + CRM model and run: test-sized backbone.
TINY_TRAIN = [
    *NO_JIT,
    "--model", "hub_resnet_mini",
    *TINY_RUN,
    "--verbose", "0",
]  # fmt: skip

# The cheapest run that writes every file: one step, no validation.
ONE_STEP = [
    *NO_JIT,
    "--model", "hub_resnet_mini",
    "--decoder-filters", "8",
    "--synthetic-size", "48",
    "--synthetic-samples", "2",
    "--val-split", "none",
    "--crop-size", "48",
    "--batch-size", "2",
    "--epochs", "1",
    "--steps-per-epoch", "1",
    "--verbose", "0",
]  # fmt: skip


def write_folder(image_dir, mask_dir, names, *, size=(16, 20), mask_value=None):
    """Writes PNG images and masks (values 0..2, or all `mask_value`)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        image = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        Image.fromarray(image).save(image_dir / f"{name}.png")
        if mask_value is None:
            mask = rng.integers(0, 3, size, dtype=np.uint8)
        else:
            mask = np.full(size, mask_value, np.uint8)
        Image.fromarray(mask).save(mask_dir / f"{name}.png")
