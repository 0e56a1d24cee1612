"""What several commands share: dataset and inference arguments, run files."""

import json
from pathlib import Path

DATASETS = ("synthetic", "cityscapes", "ade20k", "bdd100k", "folder")
MODEL_FILE = "model.keras"
RUN_FILE = "run.json"


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
        "--split", default=default_split, help=f"Split (default: {default_split})."
    )
    group.add_argument("--image-dir", help="--dataset folder: the images.")
    group.add_argument("--mask-dir", help="--dataset folder: the masks.")
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
        return args.num_classes, tuple(f"class_{i}" for i in range(args.num_classes))
    info = data.dataset_info(args.dataset)
    return info.num_classes, tuple(info.class_names)


def load_dataset(args, split=None, *, shuffle=False):
    """Returns a `tf.data.Dataset` of `(image, mask)` for `args.dataset`.

    Args:
        args: The parsed arguments of `add_dataset_arguments`.
        split: The split to read; defaults to `args.split`.
        shuffle: Whether to shuffle the file list (or the synthetic scenes).
    """
    from keras_srcrm import data

    split = split or args.split
    if args.dataset == "synthetic":
        return data.synthetic_dataset(
            args.synthetic_samples,
            args.synthetic_size,
            seed=args.seed,
            split=split,
            shuffle=shuffle,
        )
    if args.dataset == "folder":
        if not args.image_dir or not args.mask_dir:
            raise ValueError("--dataset folder needs --image-dir and --mask-dir.")
        num_classes, _ = dataset_classes(args)
        return data.folder_dataset(
            args.image_dir,
            args.mask_dir,
            num_classes=num_classes,
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
