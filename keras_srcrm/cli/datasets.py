"""The dataset arguments the commands share, and the readers behind them."""

from pathlib import Path

DATASETS = ("synthetic", "cityscapes", "ade20k", "bdd100k", "folder")


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
