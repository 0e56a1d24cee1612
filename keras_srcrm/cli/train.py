"""`keras-srcrm train`: fit an SRM + CRM segmenter with `model.fit`."""

import math
import time
from pathlib import Path

from keras_srcrm.cli import common

MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "train",
        help="Train a segmenter (default: a small SRM + CRM model on synthetic data).",
        description=(
            "Trains an SRCRMSegmenter with model.fit: poly learning rate with "
            "linear warmup, SGD or AdamW, mIoU on the validation split after "
            "each epoch, checkpoints (best.keras, last.keras) and a backup "
            "that resumes an interrupted run when the same command is run "
            "again. Writes OUTPUT_DIR/model.keras (the trained network, "
            "without auxiliary heads) and OUTPUT_DIR/run.json."
        ),
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        default="srcrm_lite",
        help=(
            "A named configuration (srcrm_lite, srcrm_resnet18, srcrm_resnet50, "
            "srcrm_resnet101, fpn_resnet18), a KerasHub/KerasCV preset name or "
            "local preset directory, a keras.applications name (ResNet50, ...) "
            "or a named backbone configuration (hub_resnet_mini, ...). "
            "Default: srcrm_lite."
        ),
    )
    model.add_argument(
        "--backbone-weights",
        choices=("auto", "imagenet", "none"),
        default="auto",
        help=(
            "Pretrained backbone weights: 'imagenet' downloads them on first "
            "use; 'none' is random init; 'auto' (default) is 'none' for the "
            "synthetic data and 'imagenet' otherwise."
        ),
    )
    model.add_argument("--decoder-filters", type=int, help="Decoder channels.")
    model.add_argument(
        "--no-srm", action="store_true", help="Ablation: bilinear top-down path."
    )
    model.add_argument("--no-crm", action="store_true", help="Ablation: no CRM.")
    model.add_argument(
        "--aux-weight",
        type=float,
        default=0.0,
        help="Weight of deep-supervision auxiliary losses (0 = no aux heads).",
    )
    common.add_dataset_arguments(parser, default_split="train", default_samples=512)
    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=int, default=4, help="Epochs (default: 4).")
    fit.add_argument(
        "--steps-per-epoch", type=int, default=64, help="Steps per epoch (default: 64)."
    )
    fit.add_argument("--batch-size", type=int, default=8, help="Default: 8.")
    fit.add_argument(
        "--crop-size",
        type=int,
        nargs="+",
        default=[64],
        help="Training crop: SIDE or HEIGHT WIDTH (default: 64).",
    )
    fit.add_argument(
        "--optimizer", choices=("sgd", "adamw"), default="adamw", help="Default: adamw."
    )
    fit.add_argument(
        "--learning-rate", type=float, help="Peak learning rate (sgd 0.01, adamw 1e-3)."
    )
    fit.add_argument("--weight-decay", type=float, help="Weight decay.")
    fit.add_argument(
        "--warmup-steps", type=int, help="Linear warmup steps (default: 5%% of all)."
    )
    fit.add_argument(
        "--mixed-precision",
        choices=MIXED_PRECISION,
        default="none",
        help="Keras dtype policy (default: none, float32).",
    )
    fit.add_argument(
        "--no-jit",
        action="store_true",
        help="Do not compile the train step with XLA (jit is on for tensorflow/jax).",
    )
    fit.add_argument(
        "--val-split",
        default="val",
        help="Split scored after each epoch (default: val); 'none' to skip.",
    )
    fit.add_argument(
        "--val-samples",
        type=int,
        default=64,
        help="Synthetic scenes of the validation split (default: 64).",
    )
    parser.add_argument(
        "--output-dir", default="runs/train", help="Default: runs/train."
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="Replace the outputs of a finished run in OUTPUT_DIR.",
    )
    parser.add_argument(
        "--verbose", type=int, default=1, choices=(0, 1, 2), help="fit's verbosity."
    )
    parser.set_defaults(run=run)
    return parser


def _crop_size(values):
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 8:
        raise ValueError(
            f"--crop-size takes SIDE or HEIGHT WIDTH, each >= 8. Received: {values}"
        )
    return tuple(values)


def _check_positive(args, *names):
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(
                f"--{name.replace('_', '-')} must be >= 1. Received: {value}"
            )


def build_model(args, num_classes):
    """Builds the segmenter that `args` describe."""
    from keras_srcrm.models import SRCRMSegmenter

    weights = args.backbone_weights
    if weights == "auto":
        weights = "none" if args.dataset == "synthetic" else "imagenet"
    overrides = {}
    if args.decoder_filters is not None:
        overrides["decoder_filters"] = args.decoder_filters
    if args.no_srm:
        overrides["use_srm"] = False
    if args.no_crm:
        overrides["use_crm"] = False
    return SRCRMSegmenter.from_preset(
        args.model,
        num_classes,
        load_weights=weights == "imagenet",
        auxiliary_heads=args.aux_weight > 0,
        **overrides,
    )


def run(args):
    import keras

    from keras_srcrm import data
    from keras_srcrm import training
    from keras_srcrm.losses import deep_supervision_targets

    _check_positive(args, "epochs", "steps_per_epoch", "batch_size", "val_samples")
    crop_size = _crop_size(args.crop_size)
    output_dir = Path(args.output_dir)
    model_path = output_dir / common.MODEL_FILE
    if model_path.exists() and not args.overwrite:
        raise FileExistsError(
            f"{str(model_path)!r} holds a finished run; pass --overwrite to "
            "train again, or choose another --output-dir."
        )
    num_classes, class_names = common.dataset_classes(args)
    if args.mixed_precision != "none":
        keras.config.set_dtype_policy(args.mixed_precision)
    keras.utils.set_random_seed(args.seed)

    # Reading the data first reports a wrong path before a backbone downloads.
    train_data = common.load_dataset(args, shuffle=True)
    train_data = data.training_pipeline(
        train_data.repeat(),
        batch_size=args.batch_size,
        crop_size=crop_size,
        seed=args.seed,
    )
    validation = None
    if args.val_split != "none":
        val_args = _with(args, synthetic_samples=args.val_samples)
        validation = data.evaluation_pipeline(
            common.load_dataset(val_args, args.val_split), batch_size=1
        )
    monitor, mode = _monitor(args.aux_weight > 0, validation is not None)
    callbacks = training.training_callbacks(
        output_dir, monitor=monitor, mode=mode, overwrite=args.overwrite
    )
    model = build_model(args, num_classes)
    total_steps = args.epochs * args.steps_per_epoch
    warmup = args.warmup_steps
    if warmup is None:
        warmup = min(total_steps // 20, 1000)
    peak = args.learning_rate or (0.01 if args.optimizer == "sgd" else 1e-3)
    schedule = training.PolynomialDecayWithWarmup(
        peak, decay_steps=total_steps, warmup_steps=warmup
    )
    optimizer_options = {}
    if args.weight_decay is not None:
        optimizer_options["weight_decay"] = args.weight_decay
    optimizer = training.build_optimizer(args.optimizer, schedule, **optimizer_options)
    training.compile_segmenter(
        model,
        num_classes,
        optimizer=optimizer,
        aux_loss_weight=args.aux_weight,
        jit_compile=False if args.no_jit else "auto",
    )

    if model.auxiliary_heads:
        train_data = train_data.map(
            lambda x, y: (x, deep_supervision_targets(y, model))
        )
        if validation is not None:
            validation = validation.map(
                lambda x, y: (x, deep_supervision_targets(y, model))
            )

    start = time.time()
    history = model.fit(
        train_data,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        validation_data=validation,
        callbacks=callbacks,
        shuffle=False,  # the pipeline shuffles
        verbose=args.verbose,
    )
    seconds = time.time() - start

    final = model.inference_model()
    final.save(model_path)
    metrics = {
        key: float(values[-1])
        for key, values in history.history.items()
        if values and math.isfinite(float(values[-1]))
    }
    common.write_run_info(
        output_dir,
        {
            "backend": keras.backend.backend(),
            "model": args.model,
            "dataset": args.dataset,
            "num_classes": num_classes,
            "class_names": list(class_names),
            "crop_size": list(crop_size),
            "epochs": args.epochs,
            "steps_per_epoch": args.steps_per_epoch,
            "batch_size": args.batch_size,
            "train_seconds": round(seconds, 1),
            "final_metrics": metrics,
        },
    )
    print(f"Trained {total_steps} steps in {seconds:.0f} s; model: {model_path}")
    return final


def _monitor(auxiliary_heads, validated):
    """The quantity that picks `best.keras`: validation mIoU when there is one."""
    if not validated:
        return "loss", "min"
    prefix = "segmentation_" if auxiliary_heads else ""
    return f"val_{prefix}mean_iou", "max"


def _with(args, **changes):
    import argparse

    return argparse.Namespace(**{**vars(args), **changes})
