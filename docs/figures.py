"""Draws the figures of the docs: `python docs/figures.py [--demo]`.

- `figures/architecture.png`: the network, drawn from a built `srcrm_lite`
  (its stages' strides and channels, the decoder's width);
- `figures/ablation/*.png`: redrawn from `figures/ablation/ablation.json`
  (`benchmarks/ablation.py` runs the experiment itself);
- with `--demo`, `figures/demo/*.png`: `keras-srcrm demo` is run (about two
  minutes on a laptop CPU) and its pictures are copied here.

`make docs` runs it without `--demo`; `make figures` runs it with `--demo`.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
FIGURES = DOCS / "figures"
ROOT = DOCS.parent
DEMO_PICTURES = ("panel.png", "curves.png", "per_class_iou.png", "confusion_matrix.png")


def stage_shapes(model):
    """`[(stride, channels)]` of the backbone's four stages, stride 4 first."""
    import numpy as np

    size = 64
    pyramid = next(layer for layer in model.layers if "backbone" in layer.name)
    outputs = pyramid(np.zeros((1, size, size, 3), "float32"))
    outputs = outputs.values() if isinstance(outputs, dict) else outputs
    return [(size // int(out.shape[1]), int(out.shape[-1])) for out in outputs]


def architecture_figure(stages, filters, num_classes):
    """The SRM + CRM network as boxes and arrows (a matplotlib Figure)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.patches import FancyBboxPatch

    figure = Figure(figsize=(11.0, 5.6), layout="constrained")
    axes = figure.add_subplot()
    axes.set_xlim(-0.9, 11.2)
    axes.set_ylim(-1.25, 4.6)
    axes.set_axis_off()
    colours = {
        "backbone": "#dbe8f6",
        "crm": "#f8d9c4",
        "srm": "#d5efd5",
        "level": "#eeeeee",
        "fusion": "#eadcf3",
        "head": "#fff2c0",
        "aux": "#ffffff",
    }

    def box(x, y, text, kind, width=1.5, height=0.62, dashed=False):
        axes.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - height / 2),
                width,
                height,
                boxstyle="round,pad=0.03,rounding_size=0.08",
                facecolor=colours[kind],
                edgecolor="black",
                linewidth=0.9,
                linestyle="--" if dashed else "-",
            )
        )
        axes.text(x, y, text, ha="center", va="center", fontsize=8.5)

    def arrow(start, end, dashed=False, colour="black", bend=0.0):
        axes.add_patch(
            FancyArrowPatch(
                start,
                end,
                arrowstyle="-|>",
                mutation_scale=9,
                linewidth=0.9,
                color=colour,
                linestyle="--" if dashed else "-",
                connectionstyle=f"arc3,rad={bend}",
                shrinkA=2,
                shrinkB=2,
            )
        )

    levels = len(stages)
    box(0.0, -0.85, "image\nH x W x 3", "head", width=1.3, height=0.55)
    arrow((0.0, -0.55), (0.0, -0.31))
    for level, (stride, channels) in enumerate(stages):
        box(0.0, level, f"stage C{level + 2}\n1/{stride}, {channels} ch", "backbone")
        if level:
            arrow((0.0, level - 0.69), (0.0, level - 0.31))
    axes.text(0.0, levels - 0.35, "backbone", ha="center", fontsize=10, weight="bold")

    # The CRM reads all four stages and is the top of the pyramid.
    top = levels - 1
    box(2.7, top + 0.9, "CRM\ncontext of all stages", "crm", width=1.9)
    for level in range(levels):
        arrow((0.75, level + 0.1), (1.8, top + 0.75), colour="#b5651d")
    arrow((3.65, top + 0.9), (4.68, top + 0.22))

    # The top-down path: an SRM per step, the lateral stage merged in.
    for level in range(levels):
        stride = stages[level][0]
        box(5.3, level, f"P{level + 2}\n1/{stride}, {filters} ch", "level", width=1.2)
    for level in range(top - 1, -1, -1):
        box(2.7, level, "SRM\noffsets + warp", "srm", width=1.6)
        arrow((0.75, level), (1.9, level))  # lateral stage
        arrow((4.85, level + 1 - 0.25), (3.5, level + 0.18), bend=0.25)  # level above
        arrow((3.5, level), (4.7, level))
    axes.text(2.7, -0.62, "top-down path", ha="center", fontsize=10, weight="bold")

    # Multi-level fusion and the head.
    box(7.6, 1.5, f"fusion\nresize to 1/4, concat,\n3x3 conv, {filters} ch", "fusion",
        width=1.75, height=0.95)  # fmt: skip
    for level in range(levels):
        arrow((5.9, level), (6.72, 1.5 + 0.12 * (level - 1.5)))
    head = f"dropout,\n1x1 classifier\n({num_classes} classes),\nresize to H x W"
    box(9.9, 1.5, head, "head", width=1.7, height=1.0)
    arrow((8.48, 1.5), (9.05, 1.5))
    box(9.9, -0.2, "segmentation\nH x W x classes", "head", width=1.7, height=0.55)
    arrow((9.9, 1.0), (9.9, 0.08))

    # Deep supervision while training.
    for index, level in enumerate(range(1, levels), start=1):
        box(7.6, 2.9 + 0.55 * (index - 1), f"aux_{index} head (training)", "aux",
            width=2.1, height=0.42, dashed=True)  # fmt: skip
        arrow((5.9, level + 0.1), (6.55, 2.9 + 0.55 * (index - 1)), dashed=True)
    axes.set_title(
        "SRM + CRM segmenter: CRM on top of the pyramid, an SRM at each top-down "
        "step, multi-level fusion",
        fontsize=11,
    )
    return figure


def draw_architecture():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    sys.path.insert(0, str(ROOT))
    from keras_srcrm.cli.pictures import save
    from keras_srcrm.models import SRCRMSegmenter

    num_classes = 19
    model = SRCRMSegmenter.from_preset("srcrm_lite", num_classes, load_weights=False)
    filters = model.get_layer("decoder").filters
    figure = architecture_figure(stage_shapes(model), filters, num_classes)
    return save(figure, FIGURES / "architecture.png")


def redraw_ablation():
    results = FIGURES / "ablation" / "ablation.json"
    if not results.is_file():
        return None
    command = [sys.executable, str(ROOT / "benchmarks" / "ablation.py")]
    command += ["--replot-from", str(results), "--output-dir", str(results.parent)]
    subprocess.run(command, check=True)
    return results.parent


def run_demo():
    from keras_srcrm.cli import main

    with tempfile.TemporaryDirectory() as directory:
        if main(["demo", "--output-dir", directory]) != 0:
            raise SystemExit("keras-srcrm demo failed")
        target = FIGURES / "demo"
        target.mkdir(parents=True, exist_ok=True)
        for name in DEMO_PICTURES:
            shutil.copyfile(Path(directory) / name, target / name)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--demo", action="store_true", help="Also run the demo for its pictures."
    )
    args = parser.parse_args(argv)
    written = [draw_architecture(), redraw_ablation()]
    if args.demo:
        written.append(run_demo())
    for path in filter(None, written):
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
