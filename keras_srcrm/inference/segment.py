"""One entry point for every inference mode: `predict` and `segment`."""

from keras_srcrm.inference.multiscale import predict_multiscale
from keras_srcrm.inference.sliding import predict_sliding_window
from keras_srcrm.inference.whole import predict_whole
from keras_srcrm.utils.validation import check_choice

MODES = {
    "whole": predict_whole,
    "sliding": predict_sliding_window,
    "multiscale": predict_multiscale,
}


def predict(model, images, *, mode="whole", **options):
    """Runs one inference mode on a batch of images.

    The dispatcher behind `segment` and the command-line tool: `mode`
    chooses the function, and `options` are its keyword arguments.

    Args:
        model: A segmentation model, see `predict_whole`.
        images: `(B, H, W, 3)` images in `[0, 255]`.
        mode: `"whole"` (the default, `predict_whole`), `"sliding"`
            (`predict_sliding_window`) or `"multiscale"`
            (`predict_multiscale`).
        **options: Keyword arguments of that function, e.g.
            `output="classes"`, `tile_size=1024` for `"sliding"` or
            `scales=(0.75, 1.0)` for `"multiscale"`.

    Returns:
        What the chosen function returns: logits (the default),
        probabilities or class ids.

    Example:

    ```python
    probabilities = predict(
        model, images, mode="sliding", tile_size=512, output="probabilities"
    )
    ```
    """
    check_choice("mode", mode, tuple(MODES))
    return MODES[mode](model, images, **options)


def segment(model, images, *, mode="whole", **options):
    """Segments images and returns class maps.

    Args:
        model: A segmentation model, see `predict_whole`.
        images: `(B, H, W, 3)` images in `[0, 255]`.
        mode: `"whole"` (the default, `predict_whole`), `"sliding"`
            (`predict_sliding_window`) or `"multiscale"`
            (`predict_multiscale`).
        **options: Keyword arguments of that function, except `output`,
            e.g. `tile_size=1024` for `"sliding"` or `scales=(0.75, 1.0)`
            for `"multiscale"`.

    Returns:
        `(B, H, W)` int32 class ids (a NumPy array unless
        `return_numpy=False` is among `options`).

    Example:

    ```python
    classes = segment(model, images, mode="sliding", tile_size=512)
    ```
    """
    if "output" in options:
        raise ValueError(
            "`segment` always returns class ids; call `predict` (or "
            "predict_whole, predict_sliding_window, predict_multiscale) for "
            f"other outputs. Received: output={options['output']!r}"
        )
    return predict(model, images, mode=mode, output="classes", **options)
