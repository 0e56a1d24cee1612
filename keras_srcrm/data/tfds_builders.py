"""Prepares a TensorFlow Datasets builder, with errors that name the files.

`tensorflow_datasets` is imported only when a `*_tfds_dataset` function is
called, never on `import keras_srcrm` or `import keras_srcrm.data`.
"""

import os

from keras_srcrm.utils.backend import import_optional


def prepared_builder(
    name, *, data_dir, manual_dir, download, manual_files, manual_files_required
):
    """Returns the TFDS builder `name`, prepared if `download` is true.

    Args:
        name: TFDS name with config, e.g. `"cityscapes/semantic_segmentation"`.
        data_dir: TFDS data directory, or `None` for TFDS's default.
        manual_dir: Directory of manually downloaded archives, or `None` for
            TFDS's default (`<data_dir>/downloads/manual`).
        download: Whether to prepare the dataset if it is not prepared yet.
        manual_files: Archive names TFDS reads from `manual_dir`.
        manual_files_required: Whether the archives must be in `manual_dir`
            (manual-download datasets), rather than only used when present.

    Returns:
        A prepared `tfds.core.DatasetBuilder`.

    Raises:
        FileNotFoundError: If the dataset is not prepared and `download` is
            false, or if an archive that must be in `manual_dir` is missing.
        ImportError: If `tensorflow_datasets` (or `importlib_resources`, which
            tensorflow-datasets 4.9 needs to prepare a dataset but does not
            declare on Python 3.9+) is not installed.
    """
    tfds = import_optional("tensorflow_datasets", "TFDS dataset readers")
    builder = tfds.builder(
        name, data_dir=None if data_dir is None else os.fspath(data_dir)
    )
    if builder.is_prepared():
        return builder
    if not download:
        raise FileNotFoundError(
            f"TFDS dataset '{name}' is not prepared in '{builder.data_dir_root}' "
            "(argument `data_dir`). Pass download=True to prepare it."
        )
    if manual_dir is None:
        manual_dir = os.path.join(
            os.fspath(builder.data_dir_root), "downloads", "manual"
        )
    manual_dir = os.fspath(manual_dir)
    missing = [
        os.path.join(manual_dir, file)
        for file in manual_files
        if not os.path.isfile(os.path.join(manual_dir, file))
    ]
    if missing and (manual_files_required or len(missing) < len(manual_files)):
        raise FileNotFoundError(
            f"TFDS dataset '{name}' is prepared from archives in `manual_dir`, "
            f"but these are missing: {', '.join(repr(m) for m in missing)}"
        )
    import_optional("importlib_resources", "Preparing a TFDS dataset")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=manual_dir, try_download_gcs=False
        )
    )
    return builder


def read_split(builder, split, *, keys, shuffle, seed, shuffle_buffer):
    """Reads `split` of `builder` as a dataset of still-encoded features.

    Decoding is left to the caller so that shuffling holds encoded bytes,
    not decoded images.

    Args:
        builder: A prepared TFDS builder.
        split: TFDS split name.
        keys: Feature names to read.
        shuffle: Whether to shuffle (file order and a buffer of examples).
        seed: Seed of the shuffle.
        shuffle_buffer: Number of encoded examples in the shuffle buffer.

    Returns:
        A `tf.data.Dataset` of dicts of scalar string tensors.
    """
    tfds = import_optional("tensorflow_datasets", "TFDS dataset readers")
    dataset = builder.as_dataset(
        split=split,
        shuffle_files=shuffle,
        read_config=tfds.ReadConfig(shuffle_seed=seed),
        decoders={key: tfds.decode.SkipDecoding() for key in keys},
    )
    dataset = dataset.map(lambda example: {key: example[key] for key in keys})
    if shuffle:
        dataset = dataset.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    return dataset
