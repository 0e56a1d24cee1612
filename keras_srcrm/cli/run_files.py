"""What a training run writes, and how the other commands read it back."""

import json
from pathlib import Path

MODEL_FILE = "model.keras"
RUN_FILE = "run.json"


def resolve_model_path(path):
    """Accepts a `.keras` file or a training output directory."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No model at {str(path)!r}: pass a `.keras` file or the output "
            "directory of `keras-srcrm train`."
        )
    return path


def load_model(path):
    """Loads a `.keras` segmentation model saved by this library."""
    import keras

    import keras_srcrm  # noqa: F401  (registers the library's layers)

    return keras.saving.load_model(resolve_model_path(path))


def write_run_info(output_dir, info):
    with open(Path(output_dir) / RUN_FILE, "w") as file:
        json.dump(info, file, indent=2)


def read_run_info(model_path):
    """Returns the `run.json` beside a trained model, or `{}`."""
    run_file = resolve_model_path(model_path).parent / RUN_FILE
    if not run_file.is_file():
        return {}
    with open(run_file) as file:
        return json.load(file)


def prepare_output_path(path, *, overwrite):
    """Refuses to replace an existing file unless `overwrite`."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass --overwrite to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
