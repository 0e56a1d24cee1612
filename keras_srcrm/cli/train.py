"""`keras-srcrm train`: fit an SRM + CRM segmenter with `model.fit`."""

import importlib
import importlib.util
import re
import time
from pathlib import Path

from keras_srcrm.cli import common
from keras_srcrm.cli.losses import build_loss
from keras_srcrm.cli.losses import parse_loss_spec
from keras_srcrm.utils import atomic
from keras_srcrm.utils.backend import install_hint
from keras_srcrm.utils.validation import check_int
from keras_srcrm.utils.validation import check_number
from keras_srcrm.utils.validation import check_positive_int
from keras_srcrm.utils.validation import check_positive_number

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
            "again. Writes OUTPUT_DIR/run.json (the resolved configuration, "
            "at the start) and OUTPUT_DIR/model.keras (the trained network, "
            "without auxiliary heads). Options can come from a --config file."
        ),
    )
    parser.add_argument(
        "--config",
        help=(
            "YAML or JSON file of options (e.g. learning_rate: 0.01), or the "
            "run.json of an earlier run; flags on the command line override it."
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
        "--init-from",
        help=(
            "Start from the weights of a trained model: a .keras file, a "
            "training output directory or a preset directory (save_to_preset). "
            "Layers whose shapes differ (e.g. the classifier of another "
            "number of classes) keep their fresh initialisation."
        ),
    )
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
        "--scale-range",
        type=float,
        nargs=2,
        default=[0.5, 2.0],
        metavar=("MIN", "MAX"),
        help="Random scale of the training images before the crop (default: 0.5 2).",
    )
    fit.add_argument(
        "--loss",
        default="ce",
        help=(
            "ce, ohem (cross-entropy on pixels with p < 0.7, at least 100k per "
            "batch), dice, lovasz, focal, or a weighted sum such as "
            "'ce+0.5*dice' (default: ce)."
        ),
    )
    fit.add_argument(
        "--optimizer", choices=("sgd", "adamw"), default="adamw", help="Default: adamw."
    )
    fit.add_argument(
        "--learning-rate", type=float, help="Peak learning rate (sgd 0.01, adamw 1e-3)."
    )
    fit.add_argument("--weight-decay", type=float, help="Weight decay.")
    fit.add_argument(
        "--warmup-steps",
        type=int,
        help="Linear warmup steps (default: 5%% of all, at most 1000).",
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
        "--val-every",
        type=int,
        help=(
            "Validate every N training steps, a multiple of --steps-per-epoch "
            "(default: after every epoch)."
        ),
    )
    fit.add_argument(
        "--val-split",
        default="val",
        help="Split scored after each epoch (default: val); 'none' to skip.",
    )
    fit.add_argument(
        "--val-image-dir",
        help=(
            "--dataset folder: the validation images (default: the --val-split "
            "sub-directory of --image-dir)."
        ),
    )
    fit.add_argument(
        "--val-mask-dir", help="--dataset folder: the masks of --val-image-dir."
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
        help=(
            "Start afresh: first delete every file of an earlier run in "
            "OUTPUT_DIR (model.keras, run.json, checkpoints, history.csv, "
            "backup/), finished or not."
        ),
    )
    parser.add_argument(
        "--tensorboard",
        action="store_true",
        help="Also write TensorBoard logs to OUTPUT_DIR/tensorboard.",
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


def _check_arguments(args):
    for name in ("epochs", "steps_per_epoch", "batch_size", "val_samples"):
        check_positive_int(f"--{name.replace('_', '-')}", getattr(args, name))
    if args.learning_rate is not None:
        check_positive_number("--learning-rate", args.learning_rate)
    if args.warmup_steps is not None:
        check_int("--warmup-steps", args.warmup_steps, minimum=0)
    if args.decoder_filters is not None:
        check_positive_int("--decoder-filters", args.decoder_filters)
    check_number("--aux-weight", args.aux_weight, minimum=0.0)
    low, high = args.scale_range
    if not 0 < low <= high:
        raise ValueError(
            f"--scale-range takes MIN MAX with 0 < MIN <= MAX. Received: {low} {high}"
        )
    if args.val_every is not None:
        check_positive_int("--val-every", args.val_every)
        if args.val_every % args.steps_per_epoch:
            epochs = max(1, round(args.val_every / args.steps_per_epoch))
            raise ValueError(
                f"--val-every {args.val_every} must be a multiple of "
                f"--steps-per-epoch {args.steps_per_epoch}: a run validates at "
                "the end of an epoch (e.g. --val-every "
                f"{epochs * args.steps_per_epoch})."
            )
    parse_loss_spec(args.loss)
    # Checked before the run starts; imported only when Keras writes logs.
    if args.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ValueError(
            "--tensorboard needs the tensorboard package, which is not "
            f"installed: {install_hint('tensorboard')}"
        )
    if args.weight_decay is not None:
        check_number("--weight-decay", args.weight_decay, minimum=0.0)
    if args.val_split != "none" and args.val_split == args.split:
        raise ValueError(
            f"--val-split must differ from --split ({args.split}): a run never "
            "picks its best checkpoint on its own training images. Pass "
            "another --val-split, or --val-split none."
        )
    if (args.val_image_dir or args.val_mask_dir) and args.dataset != "folder":
        raise ValueError("--val-image-dir and --val-mask-dir need --dataset folder.")
    if bool(args.val_image_dir) != bool(args.val_mask_dir):
        raise ValueError("--val-image-dir and --val-mask-dir go together.")


def _model_options(args, num_classes):
    """What the backup must have been made with to resume: the options that
    shape the model's weights and the optimizer's state."""
    return {
        "--model": args.model,
        "--decoder-filters": args.decoder_filters,
        "--no-srm": args.no_srm,
        "--no-crm": args.no_crm,
        "--aux-weight": args.aux_weight > 0,
        "--optimizer": args.optimizer,
        "--mixed-precision": args.mixed_precision,
        "number of classes": num_classes,
    }


def _backup_message(error):
    """The command line's remedy for a backup that cannot be resumed."""
    if error.kind == "mismatch":
        remedy = (
            "Run again with the options of the interrupted run to resume it, "
            "or pass --overwrite to start afresh."
        )
    else:
        remedy = "Pass --overwrite to start the run afresh (or delete the backup)."
    return f"{error.problem} {remedy}"


def _validation_data(args, train_folder):
    """The validation split as a dataset, or None with --val-split none."""
    from keras_srcrm import data

    if args.val_split == "none":
        if args.val_image_dir:
            raise ValueError("--val-image-dir has no use with --val-split none.")
        return None
    val_args = _with(args, synthetic_samples=args.val_samples)
    folder = None
    if args.dataset == "folder":
        if args.val_image_dir:
            folder = (Path(args.val_image_dir), Path(args.val_mask_dir))
        elif not (Path(args.image_dir) / args.val_split).is_dir():
            raise ValueError(
                f"--dataset folder: --image-dir '{args.image_dir}' has no "
                f"'{args.val_split}' sub-directory to validate on (--val-split "
                f"{args.val_split}), and a run never validates on its training "
                "images. Pass --val-image-dir and --val-mask-dir, or --val-split "
                "none."
            )
        else:
            folder = common.folder_directories(
                args, args.val_split, flag="--val-split", given=True
            )
        if [p.resolve() for p in folder] == [p.resolve() for p in train_folder]:
            raise ValueError(
                "--dataset folder: the validation images are the training "
                "images; a run never validates on its training images."
            )
    dataset = common.load_dataset(
        val_args, args.val_split, flag="--val-split", folder=folder
    )
    return data.evaluation_pipeline(dataset, batch_size=1)


def _download_problem(error):
    """A short reason if `error` comes from a failed download, else None."""
    names = {
        "ConnectionError",
        "ConnectTimeout",
        "ReadTimeout",
        "Timeout",
        "ProxyError",
        "SSLError",
        "MaxRetryError",
        "NameResolutionError",
        "NewConnectionError",
        "URLError",
        "gaierror",
        "timeout",
    }
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error)
        if type(error).__name__ in names or text.startswith("URL fetch failure"):
            host = re.search(r"host='([^']+)'", text)
            return f"cannot reach {host.group(1)}" if host else "no connection"
        error = error.__cause__ or error.__context__
    return None


def build_model(args, num_classes):
    """Builds the segmenter that `args` describe."""
    from keras_srcrm.models import BACKBONE_CONFIGS
    from keras_srcrm.models import SRCRMSegmenter

    weights = backbone_weights(args)
    if weights == "imagenet" and args.model in BACKBONE_CONFIGS:
        raise ValueError(
            f"--model {args.model} is a backbone configuration without "
            "pretrained weights (--backbone-weights is "
            f"{args.backbone_weights}, so ImageNet weights). Pass "
            "--backbone-weights none to train it from random weights, or a "
            "--model with ImageNet weights such as srcrm_lite."
        )
    overrides = {}
    if args.decoder_filters is not None:
        overrides["decoder_filters"] = args.decoder_filters
    if args.no_srm:
        overrides["use_srm"] = False
    if args.no_crm:
        overrides["use_crm"] = False
    try:
        model = SRCRMSegmenter.from_preset(
            args.model,
            num_classes,
            load_weights=weights == "imagenet",
            auxiliary_heads=args.aux_weight > 0,
            **overrides,
        )
    except Exception as error:
        problem = _download_problem(error) if weights == "imagenet" else None
        if problem is None:
            raise
        raise ValueError(
            f"Cannot download the pretrained backbone weights of --model "
            f"{args.model} ({problem}; offline?). Pass --backbone-weights none "
            "to train from random weights, or give --model a local preset "
            "directory."
        ) from None
    if args.init_from:
        _initialize_from(model, args.init_from, args.model, verbose=args.verbose)
    return model


def backbone_weights(args):
    """`--backbone-weights` resolved: `"imagenet"` or `"none"`."""
    if args.backbone_weights != "auto":
        return args.backbone_weights
    if args.init_from or args.dataset == "synthetic":
        return "none"
    return "imagenet"


def _initialize_from(model, path, model_name, *, verbose):
    """Copies the weights of the model at `path` into `model`'s same parts."""
    from keras_srcrm.models import SRCRMSegmenter
    from keras_srcrm.models.preset_io import is_segmenter_preset
    from keras_srcrm.models.preset_io import transfer_weights

    if is_segmenter_preset(path):
        source = SRCRMSegmenter.from_preset(path)
    else:
        try:
            source = common.load_model(path)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"--init-from '{path}' is not a .keras file, a training output "
                "directory or a preset directory."
            ) from None
    fresh = transfer_weights(source, model)
    with_weights = [layer.name for layer in model.layers if layer.weights]
    if len(fresh) == len(with_weights):
        raise ValueError(
            f"--init-from '{path}' shares no part of the same shapes with the "
            f"model of --model {model_name}: pass a model trained with the "
            "same --model and --decoder-filters."
        )
    if verbose:
        kept = f"; trained from scratch: {', '.join(fresh)}" if fresh else ""
        print(
            f"Initialised {len(with_weights) - len(fresh)} of {len(with_weights)} "
            f"parts from {path}{kept}."
        )


def _start(args, output_dir, model_options):
    """Gets `output_dir` ready: cleared (--overwrite), resumable, or refused.

    Returns:
        The backup state of an unfinished run to resume, or None.
    """
    from keras_srcrm import training

    common.check_writable(output_dir, "--output-dir")
    common.finish_clearing(output_dir)
    if args.overwrite:
        common.clear_run(output_dir)
        return None
    model_path = output_dir / common.MODEL_FILE
    if model_path.exists():
        raise FileExistsError(
            f"{str(model_path)!r} holds a finished run; pass --overwrite to "
            "train again, or choose another --output-dir."
        )
    try:
        state = training.read_backup_state(output_dir / "backup")
    except training.BackupError as error:
        raise ValueError(_backup_message(error)) from None
    saved = (state or {}).get("options")
    if saved is not None and saved != model_options:
        changed = [
            f"{key} {saved.get(key)} (now {model_options.get(key)})"
            for key in model_options
            if saved.get(key) != model_options.get(key)
        ]
        raise ValueError(
            f"The backup in '{output_dir / 'backup'}' was made with other model "
            f"options: {', '.join(changed)}. Run again with the options of the "
            "interrupted run to resume it, or pass --overwrite to start afresh."
        )
    return state


def run(args):
    import keras

    from keras_srcrm import data
    from keras_srcrm import training
    from keras_srcrm.losses import deep_supervision_targets
    from keras_srcrm.training.fit import output_is_softmax

    _check_arguments(args)
    crop_size = _crop_size(args.crop_size)
    num_classes, class_names = common.dataset_classes(args)
    output_dir = Path(args.output_dir)
    model_path = output_dir / common.MODEL_FILE
    model_options = _model_options(args, num_classes)
    if args.mixed_precision != "none":
        keras.config.set_dtype_policy(args.mixed_precision)
    keras.utils.set_random_seed(args.seed)

    # Reading the data first reports a wrong path before anything is deleted
    # or a backbone downloads.
    train_folder = None
    if args.dataset == "folder":
        train_folder = common.folder_directories(args, args.split)
    train_data = common.load_dataset(args, shuffle=True, folder=train_folder)
    train_data = data.training_pipeline(
        train_data.repeat(),
        batch_size=args.batch_size,
        crop_size=crop_size,
        scale_range=tuple(args.scale_range),
        seed=args.seed,
    )
    validation = _validation_data(args, train_folder)
    state = _start(args, output_dir, model_options)
    monitor, mode = _monitor(args.aux_weight > 0, validation is not None)
    callbacks = training.training_callbacks(
        output_dir,
        monitor=monitor,
        mode=mode,
        overwrite=args.overwrite,
        keep_backup=True,
        backup_options=model_options,
    )
    if args.tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(
                str(output_dir / common.TENSORBOARD_DIR), write_graph=False
            )
        )
    config = resolved_config(args)
    info = {
        "status": "running",
        "backend": keras.backend.backend(),
        "model": args.model,
        "dataset": args.dataset,
        "num_classes": num_classes,
        "class_names": list(class_names),
        "config": config,
        "versions": _versions(),
    }
    common.write_run_info(output_dir, info)
    model = build_model(args, num_classes)
    total_steps = args.epochs * args.steps_per_epoch
    schedule = training.PolynomialDecayWithWarmup(
        config["learning_rate"],
        decay_steps=total_steps,
        warmup_steps=config["warmup_steps"],
    )
    optimizer = training.build_optimizer(
        args.optimizer, schedule, weight_decay=config["weight_decay"]
    )
    from_logits = not output_is_softmax(model)
    training.compile_segmenter(
        model,
        num_classes,
        optimizer=optimizer,
        loss=build_loss(args.loss, from_logits=from_logits),
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

    if state is not None and args.verbose:
        print(
            f"Resuming the run in {output_dir} after epoch {state['epoch']} "
            f"of {args.epochs}."
        )
    start = time.time()
    try:
        model.fit(
            train_data,
            epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            validation_data=validation,
            validation_freq=(args.val_every or args.steps_per_epoch)
            // args.steps_per_epoch,
            callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles
            verbose=args.verbose,
        )
    except training.BackupError as error:
        raise ValueError(_backup_message(error)) from None
    seconds = time.time() - start

    rows = training.read_history(output_dir / training.callbacks.HISTORY_FILE)
    # The latest value of each log: with --val-every, the last epoch may
    # not have been validated.
    metrics = {
        key: common.json_number(value)
        for row in rows
        for key, value in row.items()
        if key != "epoch" and isinstance(value, float)
    }
    info = {
        **info,
        "status": "finished",
        "crop_size": list(crop_size),
        "epochs": args.epochs,
        "steps_per_epoch": args.steps_per_epoch,
        "batch_size": args.batch_size,
        "train_seconds": round(seconds, 1),
        "final_metrics": metrics,
    }
    stop = next(c for c in callbacks if isinstance(c, training.StopOnNonFiniteLoss))
    if stop.stopped:
        _diverged(output_dir, info, stop, args)

    # The final model is the marker of a finished run, so it is written after
    # run.json; the backup goes only once the model is safely on disk. A kill
    # at any moment leaves either the backup (the rerun resumes, with no epoch
    # left to run, and writes both again) or the finished run.
    final = model.inference_model()
    common.write_run_info(output_dir, info)
    with atomic.atomic_path(model_path) as temporary:
        final.save(temporary)
    training.remove_backup(output_dir)
    print(f"Trained {total_steps} steps in {seconds:.0f} s; model: {model_path}")
    return final


def _diverged(output_dir, info, stop, args):
    """Records a diverged run in run.json and ends the command (status 1)."""
    from keras_srcrm.training import read_backup_state

    state = read_backup_state(output_dir / "backup") or {"epoch": 0}
    info = {
        **info,
        "status": "diverged",
        # Counted from 1, as Keras's progress bar counts.
        "diverged": {
            "epoch": stop.epoch + 1,
            "batch": stop.batch + 1,
            "loss": common.json_number(stop.loss),
        },
        "finite_epochs": state["epoch"],
    }
    common.write_run_info(output_dir, info)
    if state["epoch"]:
        kept = (
            f"last.keras and the backup hold epoch {state['epoch']}, the last "
            "finite one; run again (e.g. with a lower --learning-rate) to resume "
            "from there, or with --overwrite to start afresh"
        )
    else:
        kept = (
            "no epoch finished with a finite loss, so no checkpoint was written; "
            "run again with --overwrite and a lower --learning-rate"
        )
    raise common.RunFailed(
        f"training diverged: the loss became {stop.loss} in epoch "
        f"{stop.epoch + 1} (batch {stop.batch + 1}); {kept}. See "
        f"{output_dir / common.RUN_FILE}."
    )


def resolved_config(args):
    """Every option of the run, with the defaults that depend on others
    (learning rate, weight decay, warmup, backbone weights) filled in.

    `--config` reads it back from `run.json`, so a run can be repeated.
    """
    from keras_srcrm.training.optimizers import ADAMW_DEFAULT_WEIGHT_DECAY

    skip = {"config", "run", "command", "split_given", "overwrite"}
    config = {
        key: value
        for key, value in sorted(vars(args).items())
        if key not in skip and not callable(value)
    }
    total_steps = args.epochs * args.steps_per_epoch
    if config["learning_rate"] is None:
        config["learning_rate"] = 0.01 if args.optimizer == "sgd" else 1e-3
    if config["warmup_steps"] is None:
        config["warmup_steps"] = min(total_steps // 20, 1000)
    if config["weight_decay"] is None:
        # build_optimizer's defaults.
        config["weight_decay"] = (
            ADAMW_DEFAULT_WEIGHT_DECAY if args.optimizer == "adamw" else 0.0
        )
    config["backbone_weights"] = backbone_weights(args)
    return config


def _versions():
    import platform

    import keras

    from keras_srcrm.version import __version__

    versions = {
        "keras_srcrm": __version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }
    backend = keras.backend.backend()  # also the name of its Python package
    versions[backend] = importlib.import_module(backend).__version__
    return versions


def _monitor(auxiliary_heads, validated):
    """The quantity that picks `best.keras`: validation mIoU when there is one."""
    if not validated:
        return "loss", "min"
    prefix = "segmentation_" if auxiliary_heads else ""
    return f"val_{prefix}mean_iou", "max"


def _with(args, **changes):
    import argparse

    return argparse.Namespace(**{**vars(args), **changes})
