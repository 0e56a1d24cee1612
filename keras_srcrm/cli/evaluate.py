"""`keras-srcrm evaluate`: mIoU, mAcc, mDice, pixel accuracy and Boundary IoU
of a model, its confusion matrix, and pictures of its predictions."""

import json
import time
from pathlib import Path

import numpy as np

from keras_srcrm.cli import common
from keras_srcrm.utils import atomic
from keras_srcrm.utils.validation import check_positive_int


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="Score a model: mIoU, mAcc, mDice, pixel accuracy, boundary IoU.",
        description=(
            "Scores a model on a dataset split the way the benchmarks do: "
            "the confusion matrix over all scored pixels (the ignore label "
            "excluded), then per-class and mean IoU, class accuracy (mAcc) "
            "and Dice (mDice); also pixel accuracy and Boundary IoU."
        ),
    )
    parser.add_argument(
        "model", help="A .keras file, or the output directory of `keras-srcrm train`."
    )
    common.add_dataset_arguments(parser, default_split="val", default_samples=64)
    common.add_inference_arguments(parser)
    parser.add_argument(
        "--max-images", type=int, help="Score only the first N images of the split."
    )
    parser.add_argument(
        "--boundary-band",
        type=int,
        help="Boundary IoU band width in pixels (default: 2%% of the diagonal).",
    )
    parser.add_argument("--output", help="Also write the scores to this JSON file.")
    parser.add_argument(
        "--output-dir",
        help=(
            "Also write scores.json, confusion_matrix.npy (rows: true class, "
            "columns: predicted), confusion_matrix.png and per_class_iou.png here."
        ),
    )
    parser.add_argument(
        "--show-dir",
        help=(
            "Paint each scored image as image | ground truth | prediction, "
            "one PNG per image, in this directory."
        ),
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="Replace existing files of --output, --output-dir and --show-dir.",
    )
    parser.set_defaults(run=run)
    return parser


def evaluate(
    model,
    dataset,
    num_classes,
    args,
    *,
    max_images=None,
    progress=True,
    on_prediction=None,
):
    """Scores `model` on a dataset of `(image, mask)`; returns a dict.

    `on_prediction(index, image, mask, classes)`, if given, sees each image,
    its mask and the predicted class map (NumPy).
    """
    import keras

    from keras_srcrm import metrics

    mean_iou = metrics.MeanIoU(num_classes)
    accuracy = metrics.PixelAccuracy(num_classes)
    band = {} if args.boundary_band is None else {"band_width": args.boundary_band}
    boundary = metrics.BoundaryIoU(num_classes, **band)
    if max_images is not None:
        dataset = dataset.take(max_images)
    total = int(dataset.cardinality())
    bar = keras.utils.Progbar(total if total > 0 else None, verbose=int(progress))
    count = 0
    scored = 0
    start = time.time()
    for image, mask in dataset.as_numpy_iterator():
        images = np.asarray(image, "float32")[None]
        masks = np.asarray(mask, "int32")[None]
        scored += int(np.count_nonzero((masks >= 0) & (masks < num_classes)))
        classes = common.predict(model, images, args, output="classes")
        for metric in (mean_iou, accuracy, boundary):
            metric.update_state(masks, classes)
        if on_prediction is not None:
            on_prediction(count, images[0], masks[0], np.asarray(classes)[0])
        count += 1
        bar.update(count)
    if count == 0:
        raise ValueError("The dataset split is empty: nothing to evaluate.")
    if scored == 0:
        raise ValueError(no_scored_pixel_message(args, count))
    per_class_accuracy = mean_iou.per_class_accuracy()
    per_class_dice = mean_iou.per_class_dice()
    return {
        "images": count,
        "seconds": round(time.time() - start, 2),
        "mean_iou": float(mean_iou.result()),
        # mmsegmentation's mAcc and mDice: the mean over the classes that
        # occur, from the same confusion matrix as the mIoU.
        "mean_accuracy": float(np.nanmean(per_class_accuracy)),
        "mean_dice": float(np.nanmean(per_class_dice)),
        "pixel_accuracy": float(accuracy.result()),
        "boundary_iou": float(boundary.result()),
        "per_class_iou": _listed(mean_iou.per_class_iou()),
        "per_class_accuracy": _listed(per_class_accuracy),
        "per_class_dice": _listed(per_class_dice),
        "confusion_matrix": mean_iou.confusion_matrix().tolist(),
    }


def _listed(values):
    return [None if np.isnan(v) else float(v) for v in values]


def no_scored_pixel_message(args, count):
    """Why a split without a single scored pixel has no score."""
    message = (
        f"No pixel of the {count} images of --dataset {args.dataset} --split "
        f"{args.split} has a label to score (all are the ignore label), so "
        "there is no mIoU."
    )
    if args.dataset == "cityscapes" and args.split == "test":
        message += (
            " The public masks of the Cityscapes test split are all void: "
            "score on --split val, or submit test predictions to the "
            "benchmark server."
        )
    return message


OUTPUT_FILES = (
    "scores.json",
    "confusion_matrix.npy",
    "confusion_matrix.png",
    "per_class_iou.png",
)


def _prepare_output_dir(directory, overwrite):
    directory = Path(directory)
    for name in OUTPUT_FILES:
        common.prepare_output_path(
            directory / name, overwrite=overwrite, flag="--output-dir"
        )
    return directory


def _prepare_show_dir(directory, overwrite):
    directory = Path(directory)
    if directory.is_dir() and any(directory.glob("*.png")) and not overwrite:
        raise FileExistsError(
            f"--show-dir '{directory}' already holds pictures; pass --overwrite "
            "to replace them, or choose another directory."
        )
    return common.check_writable(directory, "--show-dir")


def _painter(show_dir, class_names):
    """Writes image | ground truth | prediction of one scored image."""
    from keras_srcrm.cli import pictures

    def paint(index, image, mask, classes):
        figure = pictures.prediction_panel(
            image[None], mask[None], classes[None], class_names
        )
        pictures.save(figure, show_dir / f"{index:05d}.png")

    return paint


def _write_output_dir(directory, scores, class_names):
    from keras_srcrm.cli import pictures

    text = json.dumps({**scores, "class_names": list(class_names)}, indent=2)
    atomic.write_text(directory / "scores.json", text + "\n")
    counts = np.asarray(scores["confusion_matrix"], "int64")
    with atomic.atomic_path(directory / "confusion_matrix.npy") as temporary:
        with open(temporary, "wb") as file:
            np.save(file, counts)
    title = (
        f"{scores['dataset']} {scores['split']}: confusion matrix "
        "(% of each true class)"
    )
    figures = {
        "confusion_matrix.png": pictures.confusion_matrix_chart(
            class_names, counts, title=title
        ),
        "per_class_iou.png": pictures.per_class_iou_chart(
            class_names, scores["per_class_iou"]
        ),
    }
    for name, figure in figures.items():
        with atomic.atomic_path(directory / name) as temporary:
            pictures.save(figure, temporary)


def run(args):
    if args.max_images is not None:
        check_positive_int("--max-images", args.max_images)
    output = output_dir = show_dir = None
    # Before the evaluation, so that an output that cannot be written does
    # not throw its result away.
    if args.output:
        output = common.prepare_output_path(args.output, overwrite=args.overwrite)
    if args.output_dir:
        output_dir = _prepare_output_dir(args.output_dir, args.overwrite)
    if args.show_dir:
        show_dir = _prepare_show_dir(args.show_dir, args.overwrite)
    model = common.load_model(args.model)
    num_classes, class_names = common.dataset_classes(args)
    model_classes = model.output_shape[-1]
    if model_classes != num_classes:
        raise ValueError(
            f"The model predicts {model_classes} classes but --dataset "
            f"{args.dataset} has {num_classes}."
        )
    dataset = common.load_dataset(args)
    scores = evaluate(
        model,
        dataset,
        num_classes,
        args,
        max_images=args.max_images,
        on_prediction=None if show_dir is None else _painter(show_dir, class_names),
    )
    scores = {"dataset": args.dataset, "split": args.split, "mode": args.mode, **scores}
    print(format_scores(scores, class_names))
    if output is not None:
        text = json.dumps({**scores, "class_names": list(class_names)}, indent=2)
        atomic.write_text(output, text + "\n")
    if output_dir is not None:
        _write_output_dir(output_dir, scores, class_names)
    written = [str(path) for path in (output, output_dir, show_dir) if path]
    if written:
        print(f"Wrote {', '.join(written)}.")
    return scores


def format_scores(scores, class_names):
    lines = [
        f"{scores['dataset']} {scores['split']} ({scores['images']} images, "
        f"{scores['mode']}): mIoU {100 * scores['mean_iou']:.2f}  "
        f"mAcc {100 * scores['mean_accuracy']:.2f}  "
        f"mDice {100 * scores['mean_dice']:.2f}  "
        f"pixel accuracy {100 * scores['pixel_accuracy']:.2f}  "
        f"boundary IoU {100 * scores['boundary_iou']:.2f}",
    ]
    width = max(len(name) for name in class_names)
    for name, iou in zip(class_names, scores["per_class_iou"]):
        shown = "  n/a" if iou is None else f"{100 * iou:5.1f}"
        lines.append(f"  {name:<{width}}  {shown}")
    return "\n".join(lines)
