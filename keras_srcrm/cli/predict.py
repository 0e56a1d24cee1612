"""`keras-srcrm predict`: segment images and write colour PNGs and overlays."""

import os
from pathlib import Path

import numpy as np

from keras_srcrm.cli import common
from keras_srcrm.utils import atomic


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="Segment images; write class-id, colour and overlay PNGs.",
        description=(
            "Segments each image and writes, in OUTPUT_DIR, NAME_labels.png "
            "(class ids, 8-bit grey), NAME_color.png (class colours) and "
            "NAME_overlay.png (colours blended over the image). NAME is the "
            "image's file name without its suffix; if two images share it, "
            "their paths relative to the images' common directory (a/img, "
            "b/img). Options may come before or after the images. Without "
            "images, segments one scene of the synthetic dataset."
        ),
    )
    parser.add_argument(
        "model", help="A .keras file, or the output directory of `keras-srcrm train`."
    )
    parser.add_argument("images", nargs="*", help="Image files (PNG or JPEG).")
    common.add_inference_arguments(parser)
    parser.add_argument(
        "--output-dir", default="runs/predict", help="Default: runs/predict."
    )
    parser.add_argument(
        "--alpha", type=float, default=0.5, help="Overlay opacity (default: 0.5)."
    )
    parser.add_argument(
        "--synthetic-size",
        type=int,
        default=128,
        help="Side of the synthetic scene used without images (default: 128).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Synthetic scene seed.")
    parser.add_argument(
        "--overwrite", action="store_true", help="Replace existing output files."
    )
    parser.set_defaults(run=run)
    return parser


def read_image(path):
    """Reads an RGB image file as a `(H, W, 3)` uint8 array.

    The decoder of the training and evaluation pipelines
    (`keras_srcrm.data.read_image`), so that an image is seen the same way
    by every command (16-bit PNGs are scaled to 8 bits, not clipped).
    """
    from keras_srcrm.data import read_image as decode

    return decode(path)


def output_names(paths):
    """One unique output name per input image, without the image's suffix.

    The file name's stem when those are unique (`a/img.png` -> `img`);
    otherwise each image's path relative to the inputs' common directory
    (`a/img`, `b/img`), so that no output replaces another. An image given
    twice gets `_2`, `_3`, ... .
    """
    resolved = [Path(p).resolve() for p in paths]
    stems = [p.stem for p in resolved]
    if len(set(stems)) == len(stems):
        return stems
    common_dir = Path(os.path.commonpath([p.parent for p in resolved]))
    names = [str(p.relative_to(common_dir).with_suffix("")) for p in resolved]
    taken, unique = {}, []
    for name in names:
        taken[name] = taken.get(name, 0) + 1
        unique.append(name if taken[name] == 1 else f"{name}_{taken[name]}")
    return unique


def run(args):
    from keras_srcrm import inference

    if not 0.0 <= args.alpha <= 1.0:
        raise ValueError(f"--alpha must be in [0, 1]. Received: {args.alpha}")
    output_dir = Path(args.output_dir)
    if args.images:
        names = output_names(args.images)
        named = [(name, read_image(p)) for name, p in zip(names, args.images)]
    else:
        from keras_srcrm.data import synthetic_arrays

        images, _ = synthetic_arrays(
            1, args.synthetic_size, seed=args.seed, split="test"
        )
        named = [(f"synthetic_{args.seed}", images[0])]
    common.check_writable(output_dir, "--output-dir")
    targets = []
    for stem, _ in named:
        paths = {
            kind: output_dir / f"{stem}_{kind}.png"
            for kind in ("labels", "color", "overlay")
        }
        for path in paths.values():
            common.prepare_output_path(
                path, overwrite=args.overwrite, flag="--output-dir"
            )
        targets.append(paths)
    model = common.load_model(args.model)
    written = []
    for (stem, image), paths in zip(named, targets):
        batch = np.asarray(image, "float32")[None]
        classes = common.predict(model, batch, args, output="classes")[0]
        classes = np.asarray(classes)
        outputs = {
            "labels": classes.astype("uint8"),
            "color": inference.colorize(classes),
            "overlay": inference.overlay(image, classes, alpha=args.alpha),
        }
        for kind, array in outputs.items():
            atomic.write_bytes(paths[kind], inference.encode_png(array))
        counts = np.bincount(classes.ravel(), minlength=1)
        present = ", ".join(f"{c}: {n}" for c, n in enumerate(counts) if n)
        height, width = classes.shape
        print(f"{stem}: {height}x{width}, pixels per class {{{present}}}")
        written.extend(paths.values())
    print(f"Wrote {len(set(written))} files to {output_dir}")
    return written
