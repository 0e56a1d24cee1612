"""`keras-srcrm predict`: segment images and write colour PNGs and overlays."""

from pathlib import Path

import numpy as np

from keras_srcrm.cli import common


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="Segment images; write class-id, colour and overlay PNGs.",
        description=(
            "Segments each image and writes, in OUTPUT_DIR, NAME_labels.png "
            "(class ids, 8-bit grey), NAME_color.png (class colours) and "
            "NAME_overlay.png (colours blended over the image). Without "
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
    """Reads an RGB image file as a `(H, W, 3)` uint8 array."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No image file at {str(path)!r}.")
    try:
        from PIL import Image
    except ImportError:
        import tensorflow as tf

        try:
            image = tf.io.decode_image(
                tf.io.read_file(str(path)), channels=3, expand_animations=False
            )
        except tf.errors.OpError as error:
            raise ValueError(f"Cannot decode the image {str(path)!r}.") from error
        return image.numpy()
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except OSError as error:
        raise ValueError(f"Cannot decode the image {str(path)!r}: {error}") from error


def run(args):
    from keras_srcrm import inference

    if not 0.0 <= args.alpha <= 1.0:
        raise ValueError(f"--alpha must be in [0, 1]. Received: {args.alpha}")
    output_dir = Path(args.output_dir)
    if args.images:
        named = [(Path(p).stem, read_image(p)) for p in args.images]
    else:
        from keras_srcrm.data import synthetic_arrays

        images, _ = synthetic_arrays(
            1, args.synthetic_size, seed=args.seed, split="test"
        )
        named = [(f"synthetic_{args.seed}", images[0])]
    targets = []
    for stem, _ in named:
        paths = {
            kind: output_dir / f"{stem}_{kind}.png"
            for kind in ("labels", "color", "overlay")
        }
        for path in paths.values():
            common.prepare_output_path(path, overwrite=args.overwrite)
        targets.append(paths)
    model = common.load_model(args.model)
    written = []
    for (stem, image), paths in zip(named, targets):
        batch = np.asarray(image, "float32")[None]
        classes = common.predict(model, batch, args, output="classes")[0]
        classes = np.asarray(classes)
        inference.save_png(paths["labels"], classes.astype("uint8"), overwrite=True)
        inference.save_png(paths["color"], inference.colorize(classes), overwrite=True)
        inference.save_png(
            paths["overlay"],
            inference.overlay(image, classes, alpha=args.alpha),
            overwrite=True,
        )
        counts = np.bincount(classes.ravel(), minlength=1)
        present = ", ".join(f"{c}: {n}" for c, n in enumerate(counts) if n)
        height, width = classes.shape
        print(f"{stem}: {height}x{width}, pixels per class {{{present}}}")
        written.extend(paths.values())
    print(f"Wrote {len(written)} files to {output_dir}")
    return written
