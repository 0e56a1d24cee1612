"""One entry point for the inference modes."""

from keras_srcrm.inference.multiscale import predict_multiscale
from keras_srcrm.inference.sliding import predict_sliding_window
from keras_srcrm.inference.whole import predict_whole

MODES = {
    "whole": predict_whole,
    "sliding": predict_sliding_window,
    "multiscale": predict_multiscale,
}


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
    if mode not in MODES:
        raise ValueError(
            f"`mode` must be one of {tuple(MODES)}. Received: mode={mode!r}"
        )
    if "output" in options:
        raise ValueError(
            "`segment` always returns class ids; call predict_whole, "
            "predict_sliding_window or predict_multiscale for other outputs. "
            f"Received: output={options['output']!r}"
        )
    return MODES[mode](model, images, output="classes", **options)
