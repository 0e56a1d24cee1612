"""The inference-mode arguments of `evaluate` and `predict`."""

MODES = ("whole", "sliding", "multiscale")


def add_inference_arguments(parser):
    group = parser.add_argument_group("inference")
    group.add_argument(
        "--mode",
        choices=MODES,
        default="whole",
        help=(
            "whole: the image at once (default); sliding: overlapping tiles "
            "with averaged logits; multiscale: several scales (+ flip) with "
            "averaged probabilities."
        ),
    )
    group.add_argument(
        "--tile-size",
        type=int,
        nargs="+",
        help="sliding (and multiscale, optional): tile SIDE or HEIGHT WIDTH.",
    )
    group.add_argument(
        "--stride", type=int, nargs="+", help="sliding: tile stride (default 2/3 tile)."
    )
    group.add_argument(
        "--scales",
        type=float,
        nargs="+",
        default=[0.5, 0.75, 1.0, 1.25, 1.5, 1.75],
        help="multiscale: scales (default: 0.5 0.75 1.0 1.25 1.5 1.75).",
    )
    group.add_argument(
        "--no-flip", action="store_true", help="multiscale: no horizontal flip."
    )


def _pair(values, flag):
    if values is None:
        return None
    if len(values) == 1:
        return (values[0], values[0])
    if len(values) == 2:
        return tuple(values)
    raise ValueError(f"{flag} takes SIDE or HEIGHT WIDTH. Received: {values}")


def predict(model, images, args, output="probabilities"):
    """Runs the inference mode of `args` on a batch of images (NumPy)."""
    from keras_srcrm import inference

    tile_size = _pair(args.tile_size, "--tile-size")
    if args.mode == "whole":
        return inference.predict_whole(model, images, output=output)
    if args.mode == "sliding":
        if tile_size is None:
            raise ValueError("--mode sliding needs --tile-size.")
        return inference.predict_sliding_window(
            model,
            images,
            tile_size=tile_size,
            stride=_pair(args.stride, "--stride"),
            output=output,
        )
    return inference.predict_multiscale(
        model,
        images,
        scales=tuple(args.scales),
        flip=not args.no_flip,
        tile_size=tile_size,
        stride=_pair(args.stride, "--stride"),
        output=output,
    )
