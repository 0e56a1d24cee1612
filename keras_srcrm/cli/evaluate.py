"""`keras-srcrm evaluate`: mIoU, pixel accuracy and Boundary IoU of a model."""

import json
import time

import numpy as np

from keras_srcrm.cli import common
from keras_srcrm.utils import atomic
from keras_srcrm.utils.validation import check_positive_int


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="Score a model: mIoU, per-class IoU, pixel accuracy, boundary IoU.",
        description=(
            "Scores a model on a dataset split the way the benchmarks do: "
            "the confusion matrix over all scored pixels (the ignore label "
            "excluded), then per-class and mean IoU; also pixel accuracy and "
            "Boundary IoU."
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
        "--overwrite", action="store_true", help="Replace an existing --output file."
    )
    parser.set_defaults(run=run)
    return parser


def evaluate(model, dataset, num_classes, args, *, max_images=None, progress=True):
    """Scores `model` on a dataset of `(image, mask)`; returns a dict."""
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
        count += 1
        bar.update(count)
    if count == 0:
        raise ValueError("The dataset split is empty: nothing to evaluate.")
    if scored == 0:
        raise ValueError(no_scored_pixel_message(args, count))
    per_class = mean_iou.per_class_iou()
    return {
        "images": count,
        "seconds": round(time.time() - start, 2),
        "mean_iou": float(mean_iou.result()),
        "pixel_accuracy": float(accuracy.result()),
        "boundary_iou": float(boundary.result()),
        "per_class_iou": [None if np.isnan(v) else float(v) for v in per_class],
    }


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


def run(args):
    if args.max_images is not None:
        check_positive_int("--max-images", args.max_images)
    output = None
    if args.output:
        # Before the evaluation, so that an output that cannot be written
        # does not throw its result away.
        output = common.prepare_output_path(args.output, overwrite=args.overwrite)
    model = common.load_model(args.model)
    num_classes, class_names = common.dataset_classes(args)
    model_classes = model.output_shape[-1]
    if model_classes != num_classes:
        raise ValueError(
            f"The model predicts {model_classes} classes but --dataset "
            f"{args.dataset} has {num_classes}."
        )
    dataset = common.load_dataset(args)
    scores = evaluate(model, dataset, num_classes, args, max_images=args.max_images)
    scores = {"dataset": args.dataset, "split": args.split, "mode": args.mode, **scores}
    print(format_scores(scores, class_names))
    if output is not None:
        text = json.dumps({**scores, "class_names": list(class_names)}, indent=2)
        atomic.write_text(output, text + "\n")
    return scores


def format_scores(scores, class_names):
    lines = [
        f"{scores['dataset']} {scores['split']} ({scores['images']} images, "
        f"{scores['mode']}): mIoU {100 * scores['mean_iou']:.2f}  "
        f"pixel accuracy {100 * scores['pixel_accuracy']:.2f}  "
        f"boundary IoU {100 * scores['boundary_iou']:.2f}",
    ]
    width = max(len(name) for name in class_names)
    for name, iou in zip(class_names, scores["per_class_iou"]):
        shown = "  n/a" if iou is None else f"{100 * iou:5.1f}"
        lines.append(f"  {name:<{width}}  {shown}")
    return "\n".join(lines)
