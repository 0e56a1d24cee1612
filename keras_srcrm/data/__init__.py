"""Datasets and input pipelines for semantic segmentation.

Every dataset yields `(image, mask)`: a float32 `(H, W, 3)` image of raw pixel
values in [0, 255] and an int32 `(H, W)` mask of train ids in
`[0, num_classes)`, or the ignore label (255 by default) where a pixel is not
evaluated. `dataset_info(name)` gives each dataset's class names.

Names are imported on first use: `keras_srcrm.data.synthetic_arrays` and the
label tables need only NumPy, the dataset readers and pipelines import
TensorFlow, and only the `*_tfds_dataset` readers import
`tensorflow_datasets`.
"""

import importlib

# Public name -> module that defines it.
_EXPORTS = {
    "DEFAULT_IGNORE_LABEL": "labels",
    "DatasetInfo": "labels",
    "dataset_info": "labels",
    "label_lookup_table": "labels",
    "CITYSCAPES_INFO": "labels",
    "ADE20K_INFO": "labels",
    "BDD100K_INFO": "labels",
    "SYNTHETIC_INFO": "labels",
    "synthetic_example": "synthetic",
    "synthetic_arrays": "synthetic",
    "synthetic_dataset": "synthetic",
    "cityscapes_files": "cityscapes",
    "cityscapes_dataset": "cityscapes",
    "cityscapes_tfds_dataset": "cityscapes",
    "ade20k_files": "ade20k",
    "ade20k_dataset": "ade20k",
    "ade20k_tfds_dataset": "ade20k",
    "bdd100k_files": "bdd100k",
    "bdd100k_dataset": "bdd100k",
    "folder_dataset": "folder",
    "read_image_and_mask": "decode",
    "read_image": "decode",
    "DataFileError": "files",
    "file_error_message": "files",
    "IMAGE_SUFFIXES": "files",
    "random_scale": "augmentation",
    "random_crop": "augmentation",
    "random_flip": "augmentation",
    "pad_to_size": "augmentation",
    "photometric_jitter": "augmentation",
    "augment": "augmentation",
    "training_pipeline": "pipeline",
    "evaluation_pipeline": "pipeline",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{module_name}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
