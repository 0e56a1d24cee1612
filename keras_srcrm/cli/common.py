"""What several commands share: dataset and inference arguments, run files,
output checks and the errors that end a command with one line."""

import argparse
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

from keras_srcrm.utils import atomic
from keras_srcrm.utils.validation import argument_spellings
from keras_srcrm.utils.validation import check_num_classes
from keras_srcrm.utils.validation import check_positive_int

DATASETS = ("synthetic", "cityscapes", "ade20k", "bdd100k", "folder")
MODEL_FILE = "model.keras"
RUN_FILE = "run.json"
# Where `train --tensorboard` writes its logs.
TENSORBOARD_DIR = "tensorboard"
# Split sub-directories that `--dataset folder` recognises.
FOLDER_SPLITS = ("train", "val", "test")
# Where `train --overwrite` moves the files of the earlier run before
# deleting them; if it exists, an overwrite was interrupted.
OVERWRITE_TRASH = ".keras-srcrm-overwritten"

# How the messages of the library name the arguments that the command line
# sets with flags (see `keras_srcrm.utils.validation.argument_spellings`).
SPELLINGS = {
    ("overwrite", True): "--overwrite",
    ("load_weights", False): "--backbone-weights none",
    ("on_missing_mask", "skip"): "--skip-missing-masks",
    "output_dir": "--output-dir",
    "path": "PATH",
}


class RunFailed(Exception):
    """The command ran but its job failed (e.g. training diverged).

    `keras-srcrm` prints the message as one line and exits with status 1.
    """


class _StoreGiven(argparse.Action):
    """Stores the value and records that the user gave the option."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


# --- Datasets (train, evaluate) ---------------------------------------------


def add_dataset_arguments(parser, *, default_split, default_samples):
    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset",
        choices=DATASETS,
        default="synthetic",
        help="Dataset to read (default: the built-in synthetic scenes, no download).",
    )
    group.add_argument(
        "--data-dir",
        help=(
            "Root of the dataset: the Cityscapes root (leftImg8bit/, gtFine/), "
            "ADEChallengeData2016, or the BDD100K root (images/10k, labels/sem_seg)."
        ),
    )
    group.add_argument(
        "--split",
        default=default_split,
        action=_StoreGiven,
        help=(
            f"Split (default: {default_split}). With --dataset folder, the "
            "sub-directory of --image-dir and --mask-dir of that name."
        ),
    )
    parser.set_defaults(split_given=False)
    group.add_argument(
        "--image-dir",
        help=(
            "--dataset folder: the images, in split sub-directories (train/, "
            "val/, ...) or all in the directory itself (one split)."
        ),
    )
    group.add_argument(
        "--mask-dir", help="--dataset folder: the masks, laid out like the images."
    )
    group.add_argument(
        "--image-suffix",
        nargs="+",
        help=(
            "--dataset folder: ends of the image file names (default: .jpg "
            ".jpeg .png .bmp .gif, lower or upper case)."
        ),
    )
    group.add_argument(
        "--mask-suffix",
        default=".png",
        help="--dataset folder: end of the mask file names (default: .png).",
    )
    group.add_argument(
        "--skip-missing-masks",
        action="store_true",
        help="--dataset folder: leave out images without a mask (with a warning).",
    )
    group.add_argument(
        "--num-classes",
        type=int,
        help="--dataset folder: number of classes (others know theirs).",
    )
    group.add_argument(
        "--synthetic-samples",
        type=int,
        default=default_samples,
        help=f"Synthetic scenes per split (default: {default_samples}).",
    )
    group.add_argument(
        "--synthetic-size",
        type=int,
        default=96,
        help="Side of the synthetic scenes in pixels (default: 96).",
    )
    group.add_argument(
        "--seed", type=int, default=0, help="Seed of data order and augmentation."
    )


def dataset_classes(args):
    """Returns `(num_classes, class_names)` of the dataset of `args`."""
    from keras_srcrm import data

    if args.dataset == "folder":
        if args.num_classes is None:
            raise ValueError("--dataset folder needs --num-classes.")
        num_classes = check_num_classes(args.num_classes, "--num-classes")
        return num_classes, tuple(f"class_{i}" for i in range(num_classes))
    info = data.dataset_info(args.dataset)
    return info.num_classes, tuple(info.class_names)


def folder_directories(args, split, *, flag="--split", given=None):
    """The `(image_dir, mask_dir)` of a split of `--dataset folder`.

    A split is a sub-directory of `--image-dir` (and `--mask-dir`) of its
    name. An `--image-dir` without split sub-directories holds one set of
    images, read whole, unless the user named a split: a split that cannot
    be honoured is refused rather than replaced by other images.

    Args:
        args: The parsed arguments of `add_dataset_arguments`.
        split: The split's name.
        flag: The option that named it, for the messages.
        given: Whether the user gave that option (default: `args.split_given`).
    """
    if not args.image_dir or not args.mask_dir:
        raise ValueError("--dataset folder needs --image-dir and --mask-dir.")
    image_dir, mask_dir = Path(args.image_dir), Path(args.mask_dir)
    if (image_dir / split).is_dir():
        return image_dir / split, mask_dir / split
    if not image_dir.is_dir():
        raise FileNotFoundError(f"--image-dir '{image_dir}' is not a directory.")
    splits = sorted(
        path.name
        for path in image_dir.iterdir()
        if path.is_dir() and path.name in FOLDER_SPLITS
    )
    given = getattr(args, "split_given", False) if given is None else given
    if splits or given:
        holds = (
            f"it has {', '.join(splits)}"
            if splits
            else "it holds one set of images, read whole without " + flag
        )
        raise ValueError(
            f"{flag} {split}: --image-dir '{image_dir}' has no '{split}' "
            f"sub-directory ({holds})."
        )
    return image_dir, mask_dir


def load_dataset(args, split=None, *, shuffle=False, flag="--split", folder=None):
    """Returns a `tf.data.Dataset` of `(image, mask)` for `args.dataset`.

    Args:
        args: The parsed arguments of `add_dataset_arguments`.
        split: The split to read; defaults to `args.split`.
        shuffle: Whether to shuffle the file list (or the synthetic scenes).
        flag: The option that named `split`, for the messages.
        folder: `--dataset folder` only: `(image_dir, mask_dir)` to read
            instead of the split's directories.

    Raises:
        ValueError: If the split is unknown or empty.
    """
    from keras_srcrm import data

    split = split or args.split
    with argument_spellings({"split": flag, "root": "--data-dir"}):
        dataset = _read_dataset(data, args, split, shuffle, flag, folder)
    if int(dataset.cardinality()) == 0:
        raise ValueError(
            f"--dataset {args.dataset} {flag} {split} is empty: there is "
            "nothing to read."
        )
    return dataset


def _read_dataset(data, args, split, shuffle, flag, folder):
    if args.dataset == "synthetic":
        check_positive_int("--synthetic-samples", args.synthetic_samples)
        return data.synthetic_dataset(
            args.synthetic_samples,
            args.synthetic_size,
            seed=args.seed,
            split=split,
            shuffle=shuffle,
        )
    if args.dataset == "folder":
        num_classes, _ = dataset_classes(args)
        image_dir, mask_dir = folder or folder_directories(args, split, flag=flag)
        return data.folder_dataset(
            image_dir,
            mask_dir,
            num_classes=num_classes,
            image_suffix=tuple(args.image_suffix or data.IMAGE_SUFFIXES),
            mask_suffix=args.mask_suffix,
            on_missing_mask="skip" if args.skip_missing_masks else "raise",
            shuffle=shuffle,
            seed=args.seed,
        )
    if not args.data_dir:
        raise ValueError(f"--dataset {args.dataset} needs --data-dir.")
    if not Path(args.data_dir).is_dir():
        raise FileNotFoundError(f"--data-dir {args.data_dir!r} is not a directory.")
    reader = {
        "cityscapes": data.cityscapes_dataset,
        "ade20k": data.ade20k_dataset,
        "bdd100k": data.bdd100k_dataset,
    }[args.dataset]
    return reader(args.data_dir, split, shuffle=shuffle, seed=args.seed)


# --- Inference modes (evaluate, predict) -------------------------------------


def add_inference_arguments(parser):
    group = parser.add_argument_group("inference")
    group.add_argument(
        "--mode",
        choices=("whole", "sliding", "multiscale"),
        default="whole",
        help=(
            "whole: the image at once (default); sliding: overlapping tiles "
            "with averaged logits; multiscale: several scales (+ flip) with "
            "averaged probabilities."
        ),
    )
    group.add_argument(
        "--tile-size",
        type=int,
        nargs="+",
        help="sliding (and multiscale, optional): tile SIDE or HEIGHT WIDTH.",
    )
    group.add_argument(
        "--stride", type=int, nargs="+", help="sliding: tile stride (default 2/3 tile)."
    )
    group.add_argument(
        "--scales",
        type=float,
        nargs="+",
        default=[0.5, 0.75, 1.0, 1.25, 1.5, 1.75],
        help="multiscale: scales (default: 0.5 0.75 1.0 1.25 1.5 1.75).",
    )
    group.add_argument(
        "--no-flip", action="store_true", help="multiscale: no horizontal flip."
    )


def _pair(values, flag):
    if values is None:
        return None
    if len(values) == 1:
        return (values[0], values[0])
    if len(values) == 2:
        return tuple(values)
    raise ValueError(f"{flag} takes SIDE or HEIGHT WIDTH. Received: {values}")


def inference_options(args):
    """The keyword arguments of `keras_srcrm.inference.predict` that `args` set."""
    tile_size = _pair(args.tile_size, "--tile-size")
    stride = _pair(args.stride, "--stride")
    if args.mode == "whole":
        return {}
    if args.mode == "sliding":
        if tile_size is None:
            raise ValueError("--mode sliding needs --tile-size.")
        return {"tile_size": tile_size, "stride": stride}
    return {
        "scales": tuple(args.scales),
        "flip": not args.no_flip,
        "tile_size": tile_size,
        "stride": stride,
    }


def predict(model, images, args, output="probabilities"):
    """Runs the inference mode of `args` on a batch of images (NumPy)."""
    from keras_srcrm import inference

    return inference.predict(
        model, images, mode=args.mode, output=output, **inference_options(args)
    )


# --- Run directories and model files (every command) -------------------------


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
    """Loads a `.keras` segmentation model saved by this library, for inference.

    Without its training configuration (`compile=False`): the commands that
    load a model only run it, and a model trained with `jit_compile=True`
    would otherwise, on PyTorch, go through `torch.compile`, which compiles
    again for every new image size.
    """
    import keras

    import keras_srcrm  # noqa: F401  (registers the library's layers)

    return keras.saving.load_model(resolve_model_path(path), compile=False)


def json_number(value):
    """A float for JSON: itself if finite, else `"nan"`, `"inf"` or `"-inf"`.

    JSON has no NaN or infinity; `run.json` records them as these strings.
    """
    value = float(value)
    return value if math.isfinite(value) else str(value)


def write_run_info(output_dir, info):
    """Writes `run.json` atomically (strict JSON: see `json_number`)."""
    text = json.dumps(info, indent=2, allow_nan=False)
    atomic.write_text(Path(output_dir) / RUN_FILE, text + "\n")


def read_run_info(model_path):
    """Returns the `run.json` beside a trained model, or `{}`."""
    run_file = resolve_model_path(model_path).parent / RUN_FILE
    if not run_file.is_file():
        return {}
    with open(run_file) as file:
        return json.load(file)


def check_writable(directory, flag):
    """Creates `directory` if needed and checks that a file can be written in it.

    Commands call this before their work, so that an output they cannot
    write (a read-only or immutable directory, a path through a file) is
    reported at once, not after a long evaluation or training.

    Args:
        directory: The output directory.
        flag: The option that named it, for the message.

    Raises:
        ValueError: If the directory cannot be created or written.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{flag} '{directory}' is a file, not a directory.")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=atomic.TEMPORARY_PREFIX, dir=directory)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ValueError(f"{flag}: cannot write to '{directory}': {reason}.") from None
    return directory


def prepare_output_path(path, *, overwrite, flag="--output"):
    """Refuses to replace an existing file unless `overwrite`; checks that the
    file's directory can be written."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass --overwrite to replace it.")
    check_writable(path.parent, flag)
    return path


def _run_artefacts():
    from keras_srcrm.training import callbacks

    return (
        MODEL_FILE,
        RUN_FILE,
        callbacks.BEST_CHECKPOINT,
        callbacks.LAST_CHECKPOINT,
        callbacks.HISTORY_FILE,
        callbacks.BACKUP_DIR,
        TENSORBOARD_DIR,
    )


def clear_run(output_dir):
    """Removes every file of an earlier training run from `output_dir`.

    The final model goes first, so that from the first moment the directory
    no longer looks like a finished run; everything is moved into
    `OVERWRITE_TRASH`, which is then deleted. If the process is killed on
    the way, the trash directory is still there, and the next `train` in
    `output_dir` finishes the job before it starts (`finish_clearing`).
    Other files of the directory are left alone.

    Returns:
        The names of the files removed.
    """
    output_dir = Path(output_dir)
    trash = output_dir / OVERWRITE_TRASH
    present = [
        output_dir / name
        for name in _run_artefacts()
        if (output_dir / name).exists() or (output_dir / name).is_symlink()
    ]
    if present or trash.exists():
        trash.mkdir(exist_ok=True)
        for path in present:
            target = trash / path.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(path, target)
        atomic.fsync_directory(output_dir)
        shutil.rmtree(trash)
    atomic.remove_temporaries(output_dir)
    return [path.name for path in present]


def finish_clearing(output_dir):
    """Completes a `clear_run` that a killed process left half-done."""
    if (Path(output_dir) / OVERWRITE_TRASH).exists():
        clear_run(output_dir)
