"""A trained segmenter as a preset directory: config, weights and metadata.

    my_preset/
        segmenter.json          the Keras config of the segmenter (backbone
                                included), as `keras.saving` serialises it
        segmenter.weights.h5    all of its weights
        metadata.json           class names, palette, dataset, the metrics
                                it reached, versions, date, parameter count

Everything is JSON or a Keras weights file: no pickled Python code, so a
preset can be shared and loaded offline on any backend.
"""

import datetime
import json
import math
import os

import keras
import numpy as np

from keras_srcrm.data.labels import dataset_info
from keras_srcrm.utils.validation import check_num_classes
from keras_srcrm.version import __version__

CONFIG_FILE = "segmenter.json"
WEIGHTS_FILE = "segmenter.weights.h5"
METADATA_FILE = "metadata.json"
FORMAT = "keras_srcrm.SRCRMSegmenter"
FORMAT_VERSION = 1


def is_segmenter_preset(path):
    """Whether `path` is a directory written by `SRCRMSegmenter.save_to_preset`."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    return os.path.isfile(os.path.join(os.fspath(path), CONFIG_FILE))


def _check_class_names(class_names, num_classes):
    if class_names is None:
        return None
    if isinstance(class_names, str) or not all(
        isinstance(name, str) for name in class_names
    ):
        raise ValueError(
            "`class_names` must be a sequence of strings, one per class. "
            f"Received: class_names={class_names!r}"
        )
    class_names = list(class_names)
    if len(class_names) != num_classes:
        raise ValueError(
            f"`class_names` must have one name per class ({num_classes} "
            f"classes). Received {len(class_names)} names"
        )
    return class_names


def _check_palette(palette, num_classes):
    if palette is None:
        return None
    array = np.asarray(palette)
    if (
        array.shape != (num_classes, 3)
        or not np.issubdtype(array.dtype, np.integer)
        or array.min() < 0
        or array.max() > 255
    ):
        raise ValueError(
            f"`palette` must be {num_classes} RGB colours, shape "
            f"({num_classes}, 3), of ints in [0, 255]. Received: an array "
            f"of shape {array.shape} and dtype {array.dtype}"
        )
    return array.astype(int).tolist()


def _check_metrics(metrics):
    checked = {}
    for name, value in dict(metrics).items():
        value = np.asarray(value)
        if not isinstance(name, str) or value.size != 1:
            raise ValueError(
                "`metrics` must map metric names to numbers, e.g. "
                f"{{'val_mean_iou': 0.78}}. Received: {name!r}: {value!r}"
            )
        value = float(value.reshape(()))
        checked[name] = value if math.isfinite(value) else None
    return checked


def _last_fit_metrics(model):
    history = getattr(getattr(model, "history", None), "history", None)
    if not isinstance(history, dict):
        return {}
    return {name: values[-1] for name, values in history.items() if len(values)}


def _strip(config, keys=("compile_config", "build_config")):
    """Removes `keys` at every level of a nested config, like KerasHub."""
    if isinstance(config, dict):
        return {k: _strip(v, keys) for k, v in config.items() if k not in keys}
    if isinstance(config, list):
        return [_strip(v, keys) for v in config]
    return config


def save_preset(
    model,
    preset_dir,
    *,
    class_names=None,
    palette=None,
    dataset=None,
    metrics=None,
):
    """Writes `model` to `preset_dir`; see `SRCRMSegmenter.save_to_preset`."""
    num_classes = model.num_classes
    if dataset is not None and not isinstance(dataset, str):
        raise ValueError(
            "`dataset` must be a dataset name (a string) or None. "
            f"Received: dataset={dataset!r}"
        )
    if class_names is None and dataset is not None:
        try:
            info = dataset_info(dataset)
        except ValueError:
            info = None
        if info is not None and info.num_classes == num_classes:
            class_names = info.class_names
    class_names = _check_class_names(class_names, num_classes)
    palette = _check_palette(palette, num_classes)
    metrics = _check_metrics(_last_fit_metrics(model) if metrics is None else metrics)

    preset_dir = os.fspath(preset_dir)
    os.makedirs(preset_dir, exist_ok=True)
    config = _strip(keras.saving.serialize_keras_object(model))
    with open(os.path.join(preset_dir, CONFIG_FILE), "w") as file:
        json.dump(config, file, indent=2)
    model.save_weights(os.path.join(preset_dir, WEIGHTS_FILE), overwrite=True)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "keras_srcrm_version": __version__,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "date_saved": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "parameter_count": int(model.count_params()),
        "num_classes": num_classes,
        "class_names": class_names,
        "palette": palette,
        "dataset": dataset,
        "metrics": metrics,
    }
    with open(os.path.join(preset_dir, METADATA_FILE), "w") as file:
        json.dump(metadata, file, indent=2)
    return preset_dir


def load_preset_metadata(preset_dir):
    """Returns the metadata of a segmenter preset directory.

    Args:
        preset_dir: A directory written by `SRCRMSegmenter.save_to_preset`.

    Returns:
        A dict with the keys `num_classes`, `class_names` (a list, or None),
        `palette` (a list of `[r, g, b]`, or None), `dataset`, `metrics` (a
        dict of floats), `parameter_count`, `keras_srcrm_version`,
        `keras_version`, `backend` (the one it was saved from; it loads on
        any), `date_saved`, `format` and `format_version`.

    Raises:
        ValueError: If `preset_dir` is not a segmenter preset.

    Example:

    ```python
    metadata = keras_srcrm.models.load_preset_metadata("srcrm_cityscapes")
    metadata["class_names"][0], metadata["metrics"]["val_mean_iou"]
    ```
    """
    path = os.path.join(os.fspath(preset_dir), METADATA_FILE)
    if not is_segmenter_preset(preset_dir) or not os.path.isfile(path):
        raise ValueError(
            f"{os.fspath(preset_dir)!r} is not a segmenter preset directory: "
            f"expected `{CONFIG_FILE}`, `{WEIGHTS_FILE}` and `{METADATA_FILE}`, "
            "as `SRCRMSegmenter.save_to_preset` writes them."
        )
    with open(path) as file:
        return json.load(file)


def transfer_weights(source, target):
    """Copies the weights of the same parts of two models where shapes match.

    Parts are matched by layer name, then, for layers whose name the other
    model lacks (a backbone that Keras named `res_net_backbone_1` because
    another was built first), by class, in order.

    Args:
        source: The trained model.
        target: The model to initialise.

    Returns:
        The names of the target's layers with weights that kept their
        initialisation (e.g. a classifier for another number of classes).
    """
    with_weights = [layer for layer in source.layers if layer.weights]
    by_name = {layer.name: layer for layer in with_weights}
    target_names = {layer.name for layer in target.layers}
    unnamed = [layer for layer in with_weights if layer.name not in target_names]
    fresh = []
    for layer in target.layers:
        if not layer.weights:
            continue
        match = by_name.get(layer.name)
        if match is None:
            match = next(
                (s for s in unnamed if type(s).__name__ == type(layer).__name__), None
            )
            if match is not None:
                unnamed.remove(match)
        if match is not None and [w.shape for w in match.weights] == [
            w.shape for w in layer.weights
        ]:
            layer.set_weights(match.get_weights())
        else:
            fresh.append(layer.name)
    return fresh


def load_preset(cls, preset_dir, num_classes, load_weights, overrides):
    """Builds a segmenter from a preset; see `SRCRMSegmenter.from_preset`."""
    preset_dir = os.fspath(preset_dir)
    metadata = load_preset_metadata(preset_dir)
    if metadata.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"The preset {preset_dir!r} has format version "
            f"{metadata['format_version']}, newer than this keras-srcrm "
            f"({__version__}) reads ({FORMAT_VERSION}). Upgrade keras-srcrm."
        )
    with open(os.path.join(preset_dir, CONFIG_FILE)) as file:
        config = json.load(file)
    if num_classes is not None:
        num_classes = check_num_classes(num_classes)
        if num_classes != metadata["num_classes"]:
            overrides = {**overrides, "num_classes": num_classes}
    saved = keras.saving.deserialize_keras_object(config)
    if not isinstance(saved, cls):
        raise ValueError(
            f"The preset {preset_dir!r} holds a `{type(saved).__name__}`, "
            f"not a `{cls.__name__}`."
        )
    if not overrides:
        if load_weights:
            saved.load_weights(os.path.join(preset_dir, WEIGHTS_FILE))
        return saved
    model = cls.from_config({**saved.get_config(), **overrides})
    if load_weights:
        saved.load_weights(os.path.join(preset_dir, WEIGHTS_FILE))
        transfer_weights(saved, model)
    return model
