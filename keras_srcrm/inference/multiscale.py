"""Multi-scale and flip test-time augmentation."""

from keras import ops

from keras_srcrm.inference import whole
from keras_srcrm.inference.sliding import predict_sliding_window
from keras_srcrm.ops.resize import resize_bilinear
from keras_srcrm.utils.validation import check_positive_numbers

DEFAULT_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
"""The scales of `predict_multiscale`: mmsegmentation's Cityscapes set."""


def scaled_size(height, width, scale):
    """`(round(height * scale), round(width * scale))`, halves up, at least 1."""
    return (max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5)))


def predict_multiscale(
    model,
    images,
    *,
    scales=DEFAULT_SCALES,
    flip=True,
    tile_size=None,
    stride=None,
    batch_size=1,
    output="logits",
    return_numpy=True,
):
    """Averages the softmax probabilities over rescaled and flipped images.

    For each scale `s`, the images are resized bilinearly to
    `scaled_size(H, W, s)` (half-pixel centres, no antialiasing, computed in
    float32: `keras_srcrm.ops.resize_bilinear`, the same resize the model
    uses to upsample its logits, and the convention of OpenCV's and
    PyTorch's bilinear resizes that mmsegmentation's test pipeline uses) and
    segmented whole (`tile_size=None`) or with `predict_sliding_window`.
    With `flip`, the horizontally flipped images are segmented too and their
    logits flipped back. Each prediction's logits are resized bilinearly to
    `(H, W)`, turned into probabilities by a softmax, and the probabilities
    of all `len(scales) * (2 if flip else 1)` predictions are averaged with
    equal weights. Averaging probabilities rather than logits follows
    mmsegmentation's and SFNet's multi-scale testing.

    `output="logits"` returns the logarithm of the averaged probabilities:
    logits whose softmax is those probabilities, so code written for
    `predict_whole` logits works unchanged. With `scales=(1.0,)` and
    `flip=False` the probabilities are exactly those of `predict_whole`.

    Scales below 0.5 downsample by more than 2x without antialiasing; the
    usual range is 0.5 to 1.75 (or 2.0).

    Args:
        model: A Keras model (or any callable) mapping `(B, H, W, 3)` float
            images in `[0, 255]` to `(B, H, W, num_classes)` logits, or to a
            dict holding them under `"segmentation"`.
        images: `(B, H, W, 3)` images in `[0, 255]`: a NumPy array or a
            backend tensor.
        scales: Non-empty sequence of positive scale factors. Defaults to
            `(0.5, 0.75, 1.0, 1.25, 1.5, 1.75)`.
        flip: Whether to add horizontally flipped images. Defaults to True.
        tile_size: None (the default) to segment each rescaled image whole,
            or a tile size (int or pair) for sliding-window inference at
            every scale.
        stride: Sliding-window stride (see `predict_sliding_window`); only
            with `tile_size`.
        batch_size: Images (whole) or tiles (sliding window) per model call.
            Defaults to 1.
        output: `"logits"` (the default; log-probabilities, see above),
            `"probabilities"` or `"classes"`.
        return_numpy: Whether to return a NumPy array (the default) or a
            backend tensor.

    Returns:
        `(B, H, W, num_classes)` float32 log-probabilities or probabilities,
        or `(B, H, W)` int32 class ids.

    Example:

    ```python
    # Cityscapes practice: scales 0.5-1.75 and flips, 1024x1024 tiles.
    classes = predict_multiscale(
        model, images, tile_size=1024, output="classes"
    )
    ```
    """
    images = whole.prepare_images(images)
    scales = check_positive_numbers("scales", scales)
    whole.check_output(output)
    if tile_size is None and stride is not None:
        raise ValueError(
            "`stride` applies to sliding-window inference: pass `tile_size` "
            f"too. Received: stride={stride!r} with tile_size=None"
        )
    if tile_size is None:
        options = {"batch_size": batch_size}
        predict = whole.predict_whole
    else:
        options = {"tile_size": tile_size, "stride": stride, "batch_size": batch_size}
        predict = predict_sliding_window

    height, width = images.shape[1], images.shape[2]
    total = None
    for scale in scales:
        size = scaled_size(height, width, scale)
        scaled = images if size == (height, width) else resize_bilinear(images, size)
        for flipped in (False, True) if flip else (False,):
            inputs = ops.flip(scaled, axis=2) if flipped else scaled
            logits = predict(model, inputs, return_numpy=False, **options)
            if flipped:
                logits = ops.flip(logits, axis=2)
            if size != (height, width):
                logits = resize_bilinear(logits, (height, width))
            probabilities = ops.softmax(logits, axis=-1)
            total = probabilities if total is None else total + probabilities
    probabilities = total / float(len(scales) * (2 if flip else 1))
    return whole.finish(
        probabilities=probabilities, output=output, return_numpy=return_numpy
    )
