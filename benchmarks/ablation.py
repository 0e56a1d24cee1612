"""Do the SRM and CRM help? A controlled ablation on synthetic scenes.

Trains four `SRCRMSegmenter` variants that differ only in their decoder,

- `fpn`: plain FPN (`use_srm=False, use_crm=False`), the baseline;
- `srm`: SRMs on the top-down path (`use_srm=True, use_crm=False`);
- `crm`: the CRM on top of the pyramid (`use_srm=False, use_crm=True`);
- `srm_crm`: both (`use_srm=True, use_crm=True`),

on the library's synthetic scenes (`keras_srcrm.data.synthetic_arrays`: 1-3 px
poles and wires, discs and boxes that differ only in shape), with the same
randomly initialised backbone, data, schedule and budget, once per seed, and
scores each on a held-out split: mean IoU, Boundary IoU and the IoU of the
thin classes (pole, wire), reported as mean +- std over seeds and as paired
differences against the FPN (same seed: same backbone initialisation, data
order and augmentation).

    # The defaults: about 16 minutes of CPU time (2 cores: under 20 minutes).
    KERAS_BACKEND=tensorflow python benchmarks/ablation.py
    # Scaled up, for a GPU.
    python benchmarks/ablation.py --backbone hub_resnet18 --steps 4000 \
        --image-size 128 --batch-size 16 --decoder-filters 64 \
        --seeds 0 1 2 3 4 --output-dir runs/ablation_gpu

Writes into `--output-dir` (default `docs/figures/ablation/`):

- `ablation.md`: the settings and the tables (Markdown, included by
  `docs/benchmarks.md`);
- `ablation.json`: every number, per run and aggregated;
- `ablation_metrics.png`: bar charts with error bars (std over seeds);
- `ablation_scenes.png`: validation scenes: image | ground truth | FPN |
  +SRM | the SRM's stride-4 offsets as a colour-wheel flow picture (hue =
  direction, saturation = magnitude).

Each variant is compiled once (`keras_srcrm.training.compile_segmenter`,
`jit_compile="auto"`: XLA on TensorFlow and JAX). For every further seed, all
the model's variables (weights, batch-norm statistics, dropout seed state)
are overwritten by those of a model freshly built under that seed, and the
optimizer's variables are put back to their values before the first step: the
run is the one a freshly compiled model would do, without paying for the
compilation again. A seed sets the initialisation (`keras.utils.set_random_seed`),
the order of the training scenes and their augmentation; the scenes themselves
(the training and validation sets) are the same for every seed.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The repository root, so that the script runs from a clone without install.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

# name -> (label, use_srm, use_crm)
VARIANTS = {
    "fpn": ("FPN", False, False),
    "srm": ("+SRM", True, False),
    "crm": ("+CRM", False, True),
    "srm_crm": ("+SRM +CRM", True, True),
}
CLASS_NAMES = (
    "background",
    "ground",
    "polygon",
    "disc",
    "box",
    "pole",
    "wire",
)
NUM_CLASSES = len(CLASS_NAMES)
THIN_CLASSES = ("pole", "wire")
# (key, column title); IoU values are reported in percent.
METRICS = (
    ("mean_iou", "mIoU"),
    ("boundary_iou", "boundary IoU"),
    ("iou_pole", "IoU pole"),
    ("iou_wire", "IoU wire"),
)
# Class colours of the figures: the thin classes stand out.
PALETTE = np.array(
    [
        (40, 40, 60),  # background
        (140, 110, 70),  # ground
        (60, 160, 80),  # polygon
        (70, 110, 220),  # disc
        (170, 90, 200),  # box
        (240, 40, 40),  # pole
        (40, 230, 230),  # wire
    ],
    dtype=np.uint8,
)
FULL_SIZE_INPUT = (1, 1024, 2048, 3)
DEFAULT_OUTPUT_DIR = os.path.join("docs", "figures", "ablation")


def parse_args(argv=None):
    """Parses the command line.

    Args:
        argv: List of arguments, or None for `sys.argv[1:]`.

    Returns:
        An `argparse.Namespace`.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=tuple(VARIANTS),
        default=list(VARIANTS),
        help="Decoder variants to train.",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=400, help="Training steps.")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--image-size", type=int, default=64, help="Side of the square scenes."
    )
    parser.add_argument("--train-samples", type=int, default=1024)
    parser.add_argument("--val-samples", type=int, default=128)
    parser.add_argument("--decoder-filters", type=int, default=32)
    parser.add_argument(
        "--backbone",
        default="hub_resnet_mini",
        help="A named configuration of keras_srcrm.models.backbone_from_config "
        "(random weights).",
    )
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument(
        "--data-seed",
        type=int,
        default=0,
        help="Seed of the synthetic scenes (the same for every run).",
    )
    parser.add_argument(
        "--jit-compile",
        choices=("auto", "true", "false"),
        default="auto",
        help="compile_segmenter's jit_compile ('auto': XLA on TensorFlow, JAX).",
    )
    parser.add_argument(
        "--run-eagerly",
        action="store_true",
        help="Run the train and predict steps eagerly, not as compiled "
        "functions: slow per step, but without tracing (for quick checks).",
    )
    parser.add_argument(
        "--panel-scenes", type=int, default=4, help="Validation scenes in the figure."
    )
    parser.add_argument(
        "--no-full-size-flops",
        action="store_true",
        help=f"Skip the GMACs count at {FULL_SIZE_INPUT}.",
    )
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    parser.add_argument(
        "--replot-from",
        metavar="JSON",
        help="Only re-write ablation.md and ablation_metrics.png into "
        "--output-dir from the ablation.json of an earlier run, without "
        "training (the scene figure needs the models and is left as it is).",
    )
    args = parser.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds) and len(args.seeds) > 1:
        # Repeating a seed is allowed (it checks reproducibility) but the std
        # over seeds then means nothing; say so.
        print("note: --seeds repeats a seed", flush=True)
    for name in ("steps", "batch_size", "train_samples", "val_samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.image_size < 32:
        parser.error("--image-size must be at least 32 (the backbone's stride)")
    args.variants = list(dict.fromkeys(args.variants))
    return args


# --- Data -------------------------------------------------------------------


def make_data(args):
    """Draws the training and validation scenes (the same for every run).

    Args:
        args: The parsed arguments.

    Returns:
        `((train_images, train_masks), (val_images, val_masks))`, float32
        images in [0, 255] and int32 masks.
    """
    from keras_srcrm.data import synthetic_arrays

    size = (args.image_size, args.image_size)
    train = synthetic_arrays(
        args.train_samples, size, seed=args.data_seed, split="train", dtype="float32"
    )
    val = synthetic_arrays(
        args.val_samples, size, seed=args.data_seed, split="val", dtype="float32"
    )
    return train, val


def training_dataset(images, masks, args, seed):
    """An endless, seeded stream of augmented training batches.

    The scenes are shuffled with `seed` on every pass and augmented by
    `keras_srcrm.data.training_pipeline` (mild random scale, crop, flip,
    photometric jitter), whose per-example seeds derive from `seed`.

    Args:
        images: float32 `(N, H, W, 3)` training images.
        masks: int32 `(N, H, W)` training masks.
        args: The parsed arguments.
        seed: The run's seed.

    Returns:
        A `tf.data.Dataset` of `(images, masks)` batches.
    """
    import tensorflow as tf

    from keras_srcrm.data import training_pipeline

    dataset = tf.data.Dataset.from_tensor_slices((images, masks))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return training_pipeline(
        dataset.repeat(),
        batch_size=args.batch_size,
        crop_size=args.image_size,
        scale_range=(0.75, 1.25),
        shuffle_buffer=0,
        seed=seed,
    )


# --- Models -----------------------------------------------------------------


def build_model(args, variant, seed):
    """Builds one variant with random weights, seeded.

    Args:
        args: The parsed arguments.
        variant: A key of `VARIANTS`.
        seed: Seed of the initialisation.

    Returns:
        A `keras_srcrm.models.SRCRMSegmenter`.
    """
    import keras

    from keras_srcrm.models import SRCRMSegmenter
    from keras_srcrm.models import backbone_from_config

    _, use_srm, use_crm = VARIANTS[variant]
    keras.utils.set_random_seed(seed)
    # The backbone is built first, so every variant of a seed starts from
    # the same backbone weights.
    backbone = backbone_from_config(args.backbone)
    return SRCRMSegmenter(
        backbone,
        NUM_CLASSES,
        decoder_filters=args.decoder_filters,
        use_srm=use_srm,
        use_crm=use_crm,
        name=f"ablation_{variant}",
    )


def compile_model(model, args):
    """Compiles a model with the run's optimizer and schedule.

    Args:
        model: The model.
        args: The parsed arguments.

    Returns:
        The model's optimizer variables before any step (NumPy arrays), to
        reset it between seeds.
    """
    from keras_srcrm.training import PolynomialDecayWithWarmup
    from keras_srcrm.training import build_optimizer
    from keras_srcrm.training import compile_segmenter

    schedule = PolynomialDecayWithWarmup(
        args.learning_rate,
        decay_steps=args.steps,
        warmup_steps=max(1, args.steps // 20),
    )
    optimizer = build_optimizer(
        "adamw", schedule, weight_decay=args.weight_decay, clipnorm=None
    )
    jit_compile = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    compile_segmenter(model, NUM_CLASSES, optimizer=optimizer, jit_compile=jit_compile)
    if args.run_eagerly:
        model.run_eagerly = True
    model.optimizer.build(model.trainable_variables)
    return [np.array(v.numpy()) for v in model.optimizer.variables]


def reinitialize(model, fresh, optimizer_state):
    """Gives a compiled model the state of a freshly built one.

    Args:
        model: The compiled model.
        fresh: A model of the same architecture, freshly built under the
            new seed.
        optimizer_state: `compile_model`'s return value.

    Raises:
        ValueError: If the two models' variables do not match.
    """
    targets, sources = model.variables, fresh.variables
    if len(targets) != len(sources):
        raise ValueError(
            f"{len(targets)} variables in the compiled model, "
            f"{len(sources)} in the fresh one"
        )
    for target, source in zip(targets, sources):
        if tuple(target.shape) != tuple(source.shape):
            raise ValueError(f"Shape mismatch: {target.path} vs {source.path}")
        target.assign(source.numpy())
    for variable, value in zip(model.optimizer.variables, optimizer_state):
        variable.assign(value)


def count_complexity(model, args):
    """GMACs (at the experiment's size and at Cityscapes size) and params.

    Args:
        model: A built model.
        args: The parsed arguments.

    Returns:
        A dict with `params`, `gmacs` and (unless disabled) `gmacs_full_size`.
    """
    from keras_srcrm.analysis import count_flops
    from keras_srcrm.analysis import count_params

    size = args.image_size
    result = {
        "params": int(count_params(model).total),
        "gmacs": count_flops(model, (1, size, size, 3)).gmacs,
    }
    if not args.no_full_size_flops:
        result["gmacs_full_size"] = count_flops(model, FULL_SIZE_INPUT).gmacs
    return result


# --- Evaluation -------------------------------------------------------------


def evaluate(model, images, masks, args):
    """Scores a model on the validation scenes.

    Args:
        model: A trained segmenter.
        images: float32 `(N, H, W, 3)` validation images.
        masks: int32 `(N, H, W)` validation masks.
        args: The parsed arguments.

    Returns:
        A tuple `(scores, predictions)`: a dict of mean IoU, Boundary IoU
        (fractions in [0, 1]), the IoU of every class and the Boundary IoU
        band width; and the int32 `(N, H, W)` predicted classes.
    """
    from keras_srcrm.inference import predict_whole
    from keras_srcrm.metrics import BoundaryIoU
    from keras_srcrm.metrics import MeanIoU

    predictions = predict_whole(
        model, images, batch_size=min(32, len(images)), output="classes"
    )
    mean_iou = MeanIoU(NUM_CLASSES)
    boundary_iou = BoundaryIoU(NUM_CLASSES)
    mean_iou.update_state(masks, predictions)
    boundary_iou.update_state(masks, predictions)
    per_class = np.asarray(mean_iou.per_class_iou(), dtype=np.float64)
    scores = {
        "mean_iou": float(mean_iou.result()),
        "boundary_iou": float(boundary_iou.result()),
        "boundary_band_px": boundary_iou.band_radius(*masks.shape[1:3]),
        "per_class_iou": {
            name: None if np.isnan(value) else float(value)
            for name, value in zip(CLASS_NAMES, per_class)
        },
    }
    for name in THIN_CLASSES:
        scores[f"iou_{name}"] = scores["per_class_iou"][name]
    return scores, np.asarray(predictions)


def _nearest_resize(array, size):
    """Nearest-neighbour resize of `(h, w, ...)` to `size`, with NumPy."""
    height, width = size
    rows = (np.arange(height) * array.shape[0]) // height
    cols = (np.arange(width) * array.shape[1]) // width
    return array[rows][:, cols]


# --- Aggregation and outputs --------------------------------------------------


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return float(np.mean(values)), std


def summarize(runs, variants):
    """Aggregates the runs: mean and std over seeds, paired differences.

    Args:
        runs: List of per-run dicts (`variant`, `seed`, scores).
        variants: The variants, in order.

    Returns:
        A dict per variant: `{metric: {"mean", "std", "values"}}` and, for
        every variant but the baseline (the first), `"vs_<baseline>"` with
        the paired differences and the count of seeds in which the variant
        is better.
    """
    keys = [key for key, _ in METRICS]
    # Runs of a variant, in seed order; run i of every variant has the same
    # seed (a repeated seed repeats the run).
    by_variant = {v: [r for r in runs if r["variant"] == v] for v in variants}
    baseline = variants[0]
    summary = {}
    for variant in variants:
        entry = {}
        for key in keys:
            values = [run[key] for run in by_variant[variant]]
            mean, std = _mean_std(values)
            entry[key] = {"mean": mean, "std": std, "values": values}
        if variant != baseline:
            paired = {}
            pairs = list(zip(by_variant[variant], by_variant[baseline]))
            for ours, theirs in pairs:
                if ours["seed"] != theirs["seed"]:
                    raise ValueError("runs of different seeds cannot be paired")
            for key in keys:
                deltas = [
                    ours[key] - theirs[key]
                    for ours, theirs in pairs
                    if ours[key] is not None and theirs[key] is not None
                ]
                mean, std = _mean_std(deltas)
                paired[key] = {
                    "mean": mean,
                    "std": std,
                    "values": deltas,
                    "better": int(sum(d > 0 for d in deltas)),
                    "seeds": len(deltas),
                }
            entry[f"vs_{baseline}"] = paired
        summary[variant] = entry
    return summary


def _pct(mean, std, signed=False):
    if mean is None:
        return "n/a"
    sign = "+" if signed else ""
    return f"{100 * mean:{sign}.1f} ± {100 * std:.1f}"


def write_table(path, result):
    """Writes the Markdown settings line and tables.

    Args:
        path: Output path.
        result: The JSON-able result dict of `main`.
    """
    settings = result["settings"]
    variants = settings["variants"]
    summary, complexity = result["summary"], result["complexity"]
    baseline = variants[0]
    size = settings["image_size"]
    seeds = ", ".join(str(s) for s in settings["seeds"])
    full_size = not settings["no_full_size_flops"]
    cpus = result["environment"]["cpu_count"]
    lines = [
        "<!-- Generated by benchmarks/ablation.py; do not edit by hand. -->",
        "",
        f"Backbone `{settings['backbone']}` (random initialisation), decoder "
        f"{settings['decoder_filters']} channels; {settings['train_samples']} "
        f"training and {settings['val_samples']} validation scenes of "
        f"{size} x {size} px; {settings['steps']} steps of batch "
        f"{settings['batch_size']} (AdamW, peak learning rate "
        f"{settings['learning_rate']:g}, 5 % warmup, polynomial decay, weight "
        f"decay {settings['weight_decay']:g}); seeds {seeds}; "
        f"Keras {result['environment']['keras']} on "
        f"{result['environment']['backend']} (jit_compile="
        f"{result['environment']['jit_compile']}). Boundary IoU band: "
        f"{result['boundary_band_px']} px. Wall time of the whole run: "
        f"{result['wall_seconds'] / 60:.1f} min on {cpus} CPU cores "
        f"({result['cpu_seconds'] / 60:.1f} min of CPU time).",
    ]
    load = (result["environment"].get("load_average_at_start") or [0.0])[0]
    if cpus and load > cpus:
        lines[-1] += (
            f" The load average was {load:.1f} at the start, higher than the "
            "core count, so the wall time is longer than on idle cores."
        )
    lines += ["", "IoU values in percent, mean ± std over seeds:", ""]
    header = ["variant", "params", f"GMACs ({size}²)"]
    if full_size:
        header.append("GMACs (1024 x 2048)")
    header += [title for _, title in METRICS]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("| --- |" + " ---: |" * (len(header) - 1))
    for variant in variants:
        cost = complexity[variant]
        row = [
            VARIANTS[variant][0],
            f"{cost['params'] / 1e6:.2f} M"
            if cost["params"] >= 1e6
            else f"{cost['params'] / 1e3:.1f} K",
            f"{cost['gmacs']:.4f}",
        ]
        if full_size:
            row.append(f"{cost['gmacs_full_size']:.1f}")
        for key, _ in METRICS:
            row.append(
                _pct(summary[variant][key]["mean"], summary[variant][key]["std"])
            )
        lines.append("| " + " | ".join(row) + " |")
    if len(variants) > 1:
        lines += [
            "",
            f"Paired differences against {VARIANTS[baseline][0]} (same seed: the "
            "same backbone initialisation, data order and augmentation), in "
            "IoU points, mean ± std over seeds, and in how many seeds the "
            "variant scored higher:",
            "",
            "| variant | " + " | ".join(f"Δ {title}" for _, title in METRICS) + " |",
            "| --- |" + " ---: |" * len(METRICS),
        ]
        for variant in variants[1:]:
            paired = summary[variant][f"vs_{baseline}"]
            row = [VARIANTS[variant][0]]
            for key, _ in METRICS:
                entry = paired[key]
                row.append(
                    f"{_pct(entry['mean'], entry['std'], signed=True)} "
                    f"({entry['better']}/{entry['seeds']})"
                )
            lines.append("| " + " | ".join(row) + " |")
    srm_variants = [v for v in variants if VARIANTS[v][1]]
    if srm_variants:
        lines += [
            "",
            "Mean offset magnitude of the trained SRMs on the validation "
            "scenes, in pixels of each step's output (stride 16, 8, 4), mean "
            "over seeds:",
            "",
            "| variant | stride 16 | stride 8 | stride 4 |",
            "| --- | ---: | ---: | ---: |",
        ]
        for variant in srm_variants:
            magnitudes = np.mean(
                [
                    run["offset_magnitude"]
                    for run in result["runs"]
                    if run["variant"] == variant
                ],
                axis=0,
            )
            lines.append(
                f"| {VARIANTS[variant][0]} | "
                + " | ".join(f"{m:.3f}" for m in magnitudes)
                + " |"
            )
    Path(path).write_text("\n".join(lines) + "\n")


def plot_metrics(path, result):
    """Bar charts of the metrics with error bars (std over seeds).

    Args:
        path: Output PNG path.
        result: The JSON-able result dict of `main`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = result["settings"]["variants"]
    summary = result["summary"]
    colours = ["#7f7f7f", "#1f77b4", "#2ca02c", "#d62728"]
    fig, axes = plt.subplots(1, len(METRICS), figsize=(2.6 * len(METRICS), 2.8))
    positions = np.arange(len(variants))
    for ax, (key, title) in zip(axes, METRICS):
        means = [100 * (summary[v][key]["mean"] or 0.0) for v in variants]
        stds = [100 * (summary[v][key]["std"] or 0.0) for v in variants]
        ax.bar(
            positions,
            means,
            yerr=stds,
            capsize=4,
            color=[colours[list(VARIANTS).index(v)] for v in variants],
        )
        for variant, position in zip(variants, positions):
            values = [100 * x for x in summary[variant][key]["values"] if x is not None]
            ax.plot([position] * len(values), values, "k.", markersize=3, alpha=0.6)
        ax.set_xticks(positions)
        ax.set_xticklabels(
            [VARIANTS[v][0] for v in variants], rotation=30, ha="right", fontsize=8
        )
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
        low = min(m - s for m, s in zip(means, stds))
        high = max(m + s for m, s in zip(means, stds))
        margin = max(2.0, 0.25 * (high - low))
        ax.set_ylim(max(0.0, low - margin), min(100.0, high + margin))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("IoU (%)", fontsize=9)
    fig.suptitle(
        f"Mean ± std over {len(result['settings']['seeds'])} seeds (dots: the "
        "seeds); the y axes do not start at 0",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_scenes(path, panel):
    """The scene panel: image | truth | predictions | SRM offsets.

    Args:
        path: Output PNG path.
        panel: Dict with `images`, `masks`, `predictions` (a dict of
            variant -> classes), `offsets` (None or the stride-4 offsets of
            the SRM variant), `offset_variant` and `seed`.
    """
    import matplotlib

    from keras_srcrm.inference import offsets_to_rgb

    matplotlib.use("Agg")
    import matplotlib.patches as mpatches
    import matplotlib.pyplot as plt

    images, masks = panel["images"], panel["masks"]
    predictions = panel["predictions"]
    offsets = panel["offsets"]
    columns = ["image", "ground truth"]
    columns += [f"{VARIANTS[v][0]} prediction" for v in predictions]
    if offsets is not None:
        columns.append(f"{VARIANTS[panel['offset_variant']][0]} stride-4 offsets")
        max_magnitude = float(np.hypot(offsets[..., 0], offsets[..., 1]).max())
    rows = len(images)
    fig, axes = plt.subplots(
        rows, len(columns), figsize=(1.9 * len(columns), 1.9 * rows + 0.9)
    )
    axes = np.asarray(axes).reshape(rows, len(columns))
    size = images.shape[1:3]
    for row in range(rows):
        pictures = [
            np.clip(images[row], 0, 255).astype(np.uint8),
            PALETTE[np.clip(masks[row], 0, NUM_CLASSES - 1)],
        ]
        pictures += [PALETTE[p[row]] for p in predictions.values()]
        if offsets is not None:
            pictures.append(
                _nearest_resize(offsets_to_rgb(offsets[row], max_magnitude), size)
            )
        for column, picture in enumerate(pictures):
            ax = axes[row, column]
            ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(columns[column], fontsize=8)
    handles = [
        mpatches.Patch(color=PALETTE[k] / 255.0, label=name)
        for k, name in enumerate(CLASS_NAMES)
    ]
    title = f"Validation scenes, models of seed {panel['seed']}."
    if offsets is not None:
        title += (
            " Offsets: hue = direction (red +x, green-yellow +y, cyan -x, "
            f"violet -y), saturation = magnitude, full at {max_magnitude:.2f} px "
            "(stride-4 pixels)."
        )
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(CLASS_NAMES),
        fontsize=7,
        frameon=False,
    )
    fig.suptitle(title, fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    fig.savefig(path, dpi=80)
    plt.close(fig)


# --- The experiment -----------------------------------------------------------


def main(argv=None):
    """Runs the ablation and writes its outputs.

    Args:
        argv: Command-line arguments, or None for `sys.argv[1:]`.

    Returns:
        The result dict that is also written to `ablation.json`.
    """
    args = parse_args(argv)
    if args.replot_from:
        with open(args.replot_from) as file:
            result = json.load(file)
        output_dir = Path(args.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        plot_metrics(output_dir / "ablation_metrics.png", result)
        write_table(output_dir / "ablation.md", result)
        print(f"wrote {output_dir}/ablation.md, ablation_metrics.png", flush=True)
        return result
    import keras

    from keras_srcrm.inference import srm_offsets
    from keras_srcrm.training import resolve_jit_compile

    start = time.perf_counter()
    cpu_start = time.process_time()
    # Other work on the machine slows the run down; the JSON records it.
    load_average = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (train_images, train_masks), (val_images, val_masks) = make_data(args)
    panel_count = min(args.panel_scenes, len(val_images))
    # The panel shows the scenes with the most thin-structure pixels.
    thin_ids = [CLASS_NAMES.index(name) for name in THIN_CLASSES]
    thin_pixels = np.isin(val_masks, thin_ids).sum(axis=(1, 2))
    panel_ids = np.sort(np.argsort(-thin_pixels, kind="stable")[:panel_count])
    panel = {
        "images": val_images[panel_ids],
        "masks": val_masks[panel_ids],
        "predictions": {},
        "offsets": None,
        "offset_variant": None,
        "seed": args.seeds[0],
    }
    print(
        f"ablation: {len(args.variants)} variants x {len(args.seeds)} seeds, "
        f"{args.steps} steps of batch {args.batch_size} at {args.image_size} px, "
        f"backend {keras.backend.backend()}",
        flush=True,
    )
    runs, complexity = [], {}
    boundary_band = None
    for variant in args.variants:
        model, optimizer_state = None, None
        for seed in args.seeds:
            run_start = time.perf_counter()
            if model is None:
                model = build_model(args, variant, seed)
                optimizer_state = compile_model(model, args)
                complexity[variant] = count_complexity(model, args)
            else:
                fresh = build_model(args, variant, seed)
                reinitialize(model, fresh, optimizer_state)
                del fresh
            dataset = training_dataset(train_images, train_masks, args, seed)
            history = model.fit(
                dataset, epochs=1, steps_per_epoch=args.steps, shuffle=False, verbose=0
            )
            train_seconds = time.perf_counter() - run_start
            scores, predictions = evaluate(model, val_images, val_masks, args)
            boundary_band = scores["boundary_band_px"]
            run = {
                "variant": variant,
                "seed": seed,
                "final_train_loss": float(history.history["loss"][-1]),
                **scores,
            }
            if VARIANTS[variant][1]:
                offsets = srm_offsets(model, val_images)
                run["offset_magnitude"] = [
                    float(np.mean(np.hypot(o[..., 0], o[..., 1]))) for o in offsets
                ]
                if seed == args.seeds[0] and panel["offsets"] is None:
                    panel["offsets"] = offsets[-1][panel_ids]
                    panel["offset_variant"] = variant
            if seed == args.seeds[0] and variant in ("fpn", "srm"):
                panel["predictions"][variant] = predictions[panel_ids]
            run["seconds"] = round(time.perf_counter() - run_start, 1)
            runs.append(run)
            thin = " ".join(
                f"{name} {100 * run[f'iou_{name}']:.1f}"
                if run[f"iou_{name}"] is not None
                else f"{name} n/a"
                for name in THIN_CLASSES
            )
            print(
                f"{VARIANTS[variant][0]:>10} seed {seed}: "
                f"mIoU {100 * run['mean_iou']:.1f}  "
                f"bIoU {100 * run['boundary_iou']:.1f}  {thin}  "
                f"loss {run['final_train_loss']:.3f}  "
                f"train {train_seconds:.0f} s, total {run['seconds']:.0f} s",
                flush=True,
            )
        del model
        keras.backend.clear_session()

    if not panel["predictions"]:
        # Neither `fpn` nor `srm` ran: show the first variant.
        panel["predictions"][args.variants[0]] = predictions[panel_ids]
    result = {
        "settings": {
            key: value
            for key, value in vars(args).items()
            if key not in ("output_dir", "replot_from")
        },
        "environment": {
            "backend": keras.backend.backend(),
            "keras": keras.__version__,
            "jit_compile": resolve_jit_compile(
                {"auto": "auto", "true": True, "false": False}[args.jit_compile]
            ),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": load_average,
        },
        "class_names": list(CLASS_NAMES),
        "boundary_band_px": boundary_band,
        "complexity": complexity,
        "runs": runs,
        "summary": summarize(runs, args.variants),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds": round(time.process_time() - cpu_start, 1),
    }
    plot_metrics(output_dir / "ablation_metrics.png", result)
    plot_scenes(output_dir / "ablation_scenes.png", panel)
    write_table(output_dir / "ablation.md", result)
    with open(output_dir / "ablation.json", "w") as file:
        json.dump(result, file, indent=2)
        file.write("\n")
    print(
        f"wrote {output_dir}/ablation.{{md,json}}, ablation_metrics.png, "
        f"ablation_scenes.png in {result['wall_seconds'] / 60:.1f} min",
        flush=True,
    )
    return result


if __name__ == "__main__":
    main()
