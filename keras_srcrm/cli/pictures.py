"""The pictures of `keras-srcrm demo` and `evaluate`, drawn with matplotlib.

Each drawing function returns a `matplotlib.figure.Figure` built without
pyplot (no window, no global state); `save` writes it as a PNG. matplotlib
is imported when a function is called, and a missing one raises an
`ImportError` that names `pip install matplotlib`.
"""

from pathlib import Path

import numpy as np

from keras_srcrm.data.labels import DEFAULT_IGNORE_LABEL
from keras_srcrm.inference import colorize
from keras_srcrm.inference import default_palette
from keras_srcrm.inference import offset_color_wheel
from keras_srcrm.inference import offsets_to_rgb
from keras_srcrm.inference import srm_offsets as inference_srm_offsets
from keras_srcrm.utils.backend import import_optional


def _figure(width, height):
    import_optional("matplotlib", "the pictures of keras-srcrm")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(figure, path, dpi=100):
    """Writes `figure` to the PNG file `path`.

    Args:
        figure: A `matplotlib.figure.Figure`.
        path: The PNG file; its parent directories are created.
        dpi: Pixels per inch.

    Returns:
        The path, as a `pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # No "Software" entry: the same figure gives the same file.
    figure.savefig(path, format="png", dpi=dpi, metadata={"Software": None})
    return path


def srm_offsets(model, images):
    """The offset field of the last (stride 4) SRM of a segmenter.

    Args:
        model: An `SRCRMSegmenter` (or a model loaded from one).
        images: `(N, H, W, 3)` images, as the model takes them.

    Returns:
        float32 `(N, H / 4, W / 4, 2 * offset_groups)` offsets `(dx, dy)`
        in pixels of that level, or None if the decoder has no SRMs.
    """
    if not getattr(model.get_layer("decoder"), "use_srm", False):
        return None
    return inference_srm_offsets(model, images)[-1]


def _class_map_rgb(class_map, ignore_label):
    """Class colours, black where the map holds the ignore label."""
    class_map = np.asarray(class_map)
    ignored = class_map == ignore_label
    rgb = colorize(np.where(ignored, 0, class_map))
    rgb[ignored] = 0
    return rgb


def prediction_panel(
    images,
    masks,
    predictions,
    class_names,
    offsets=None,
    *,
    ignore_label=DEFAULT_IGNORE_LABEL,
    tile_inches=2.4,
):
    """One row per scene: image | ground truth | prediction | offset field.

    Args:
        images: `(N, H, W, 3)` images in `[0, 255]`.
        masks: `(N, H, W)` ground-truth class ids.
        predictions: `(N, H, W)` predicted class ids.
        class_names: The names of the classes, for the legend.
        offsets: Optional `(N, h, w, 2)` offsets of one SRM, in pixels of
            its level, coloured by `offsets_to_rgb` on one scale for all
            scenes: full colour at the 99th percentile of their lengths.
        ignore_label: Label of unlabelled pixels, drawn black.
        tile_inches: Side of one picture in inches (100 pixels each).

    Returns:
        A `matplotlib.figure.Figure`.
    """
    images = np.asarray(images)
    rows = len(images)
    columns = 3 if offsets is None else 4
    figure = _figure(columns * tile_inches, rows * tile_inches + 1.3)
    grid = figure.add_gridspec(
        rows + 1, columns, height_ratios=[tile_inches] * rows + [1.1]
    )
    titles = ["image", "ground truth", "prediction", "SRM offsets (stride 4)"]
    scale = None
    if offsets is not None:
        offsets = np.asarray(offsets, dtype="float32")[..., :2]
        # The 99th percentile: a few long offsets do not wash out the rest.
        lengths = np.hypot(offsets[..., 0], offsets[..., 1])
        scale = float(np.percentile(lengths, 99)) or 1.0
    for row in range(rows):
        height, width = images[row].shape[:2]
        tiles = [
            np.clip(images[row], 0, 255).astype("uint8"),
            _class_map_rgb(masks[row], ignore_label),
            _class_map_rgb(predictions[row], ignore_label),
        ]
        if offsets is not None:
            tiles.append(offsets_to_rgb(offsets[row], max_magnitude=scale))
        for column, tile in enumerate(tiles):
            axes = figure.add_subplot(grid[row, column])
            # Every tile covers the image's extent, the coarser offsets too.
            axes.imshow(tile, interpolation="nearest", extent=(0, width, height, 0))
            axes.set_axis_off()
            if row == 0:
                axes.set_title(titles[column], fontsize=11)
    legend = figure.add_subplot(grid[rows, : columns - (offsets is not None)])
    legend.set_axis_off()
    _class_legend(legend, class_names)
    if offsets is not None:
        wheel = figure.add_subplot(grid[rows, columns - 1])
        wheel.imshow(offset_color_wheel(65), interpolation="bilinear")
        wheel.set_axis_off()
        wheel.set_title(f"direction; full colour = {scale:.2g} px", fontsize=8)
    return figure


def _class_legend(axes, class_names):
    from matplotlib.patches import Patch

    colours = default_palette(len(class_names)).astype("float32") / 255.0
    handles = [
        Patch(facecolor=colour, edgecolor="black", linewidth=0.5, label=name)
        for colour, name in zip(colours, class_names)
    ]
    axes.legend(
        handles=handles,
        loc="center",
        ncols=min(len(handles), 4),
        frameon=False,
        fontsize=9,
        handlelength=1.2,
        columnspacing=1.0,
    )


def training_curves(history, title=None):
    """Loss and mean IoU per epoch, for training and validation.

    Args:
        history: One dict per epoch, as `keras_srcrm.training.read_history`
            reads a run's `history.csv`: `loss`, `mean_iou` and, when the
            run was validated, `val_loss`, `val_mean_iou` (the
            `segmentation_mean_iou` of a model with auxiliary heads works
            too).
        title: Optional title.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    figure = _figure(8.0, 3.2)
    loss_axes, iou_axes = figure.subplots(1, 2)
    epochs = [row.get("epoch", index) + 1 for index, row in enumerate(history)]

    def column(key):
        """The epochs that logged `key` (validation may skip some) and its values."""
        logged = [
            (epoch, row[key])
            for epoch, row in zip(epochs, history)
            if isinstance(row.get(key), float)
        ]
        if not logged:
            return None
        return [epoch for epoch, _ in logged], np.asarray(
            [value for _, value in logged], "float64"
        )

    for prefix, label, style in (("", "train", "-o"), ("val_", "val", "-s")):
        loss = column(f"{prefix}loss")
        if loss is not None:
            loss_axes.plot(*loss, style, label=label, markersize=4)
        iou = column(f"{prefix}mean_iou") or column(f"{prefix}segmentation_mean_iou")
        if iou is not None:
            iou_axes.plot(iou[0], 100 * iou[1], style, label=label, markersize=4)
    loss_axes.set(xlabel="epoch", ylabel="loss", title="loss")
    iou_axes.set(xlabel="epoch", ylabel="mIoU (%)", title="mean IoU")
    for axes in (loss_axes, iou_axes):
        axes.grid(alpha=0.3)
        if axes.get_lines():
            axes.legend()
        axes.xaxis.get_major_locator().set_params(integer=True)
    if title:
        figure.suptitle(title)
    return figure


def per_class_iou_chart(class_names, per_class_iou, title=None):
    """A bar per class, in the class colours, and the mean as a dashed line.

    Args:
        class_names: The class names.
        per_class_iou: IoU per class in `[0, 1]` (None or NaN: absent).
        title: Optional title; defaults to one that gives the mean.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    values = np.array(
        [np.nan if v is None else 100 * float(v) for v in per_class_iou], "float64"
    )
    figure = _figure(6.0, 0.35 * len(class_names) + 1.0)
    axes = figure.add_subplot()
    positions = np.arange(len(class_names))
    axes.barh(
        positions,
        np.nan_to_num(values),
        color=default_palette(len(class_names)).astype("float32") / 255.0,
        edgecolor="black",
        linewidth=0.5,
    )
    for position, value in zip(positions, values):
        text = "n/a" if np.isnan(value) else f"{value:.1f}"
        axes.text(min(np.nan_to_num(value), 100) + 1, position, text, va="center")
    mean = float(np.nanmean(values)) if np.isfinite(values).any() else 0.0
    axes.axvline(mean, color="black", linestyle="--", linewidth=1, zorder=0)
    axes.set_yticks(positions, class_names)
    axes.invert_yaxis()
    axes.set_xlim(0, 110)
    axes.set_xlabel("IoU (%)")
    axes.set_title(title or f"per-class IoU (mean {mean:.1f} %)")
    axes.grid(axis="x", alpha=0.3)
    return figure


def confusion_matrix_chart(class_names, counts, title=None):
    """The confusion matrix, each row (a true class) normalised to 100 %.

    Args:
        class_names: The class names.
        counts: `(num_classes, num_classes)` pixel counts, rows the true
            classes and columns the predicted ones (`MeanIoU.confusion_matrix`).
        title: Optional title.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    counts = np.asarray(counts, "float64")
    totals = counts.sum(axis=1, keepdims=True)
    percent = np.divide(
        100 * counts, totals, out=np.zeros_like(counts), where=totals > 0
    )
    size = len(class_names)
    side = max(4.0, 0.45 * size + 2.0)
    figure = _figure(side + 1.0, side)
    axes = figure.add_subplot()
    image = axes.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    if size <= 25:
        for row in range(size):
            for column in range(size):
                if percent[row, column] >= 0.5:
                    white = percent[row, column] > 60
                    axes.text(
                        column,
                        row,
                        f"{percent[row, column]:.0f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if white else "black",
                    )
    positions = np.arange(size)
    axes.set_xticks(positions, class_names, rotation=60, ha="right")
    axes.set_yticks(positions, class_names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title or "confusion matrix (% of each true class)")
    figure.colorbar(image, ax=axes, shrink=0.8, label="% of the true class")
    return figure
