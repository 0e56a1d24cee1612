"""Whole-image inference."""

from keras_srcrm.inference import core
from keras_srcrm.inference import validation


def predict_whole(
    model,
    images,
    *,
    batch_size=1,
    pad_to_multiple_of=None,
    output="logits",
    return_numpy=True,
):
    """Segments whole images in one model call per batch.

    The images go through the model at their own size, `batch_size` at a
    time. With `pad_to_multiple_of`, each image is first padded at the bottom
    and on the right to the next multiple of that size, by repeating its last
    row and column (edge padding: no artificial black border for the model
    to segment), and the result is cropped back to the image, so the output
    always has the input's height and width. Padding helps models that need
    sizes divisible by their output stride; `SRCRMSegmenter` does not.

    A Keras model runs through `model.predict_on_batch`, so TensorFlow and
    JAX compile it once per input shape (and PyTorch tracks no gradients);
    any other callable, e.g. a function of a backend tensor, is called as
    `model(batch)`. All the functions of `keras_srcrm.inference` call models
    this way.

    Args:
        model: A Keras model (or any callable) mapping `(B, H, W, 3)` float
            images in `[0, 255]` to `(B, H, W, num_classes)` logits, or to a
            dict holding them under `"segmentation"` (e.g. a `SRCRMSegmenter`
            with auxiliary heads).
        images: `(B, H, W, 3)` images in `[0, 255]`: a NumPy array or a
            backend tensor, any real dtype (computed in float32).
        batch_size: Images per model call. Defaults to 1.
        pad_to_multiple_of: None (the default, no padding), an int, or a
            `(height, width)` pair of ints.
        output: `"logits"` (the default), `"probabilities"` (softmax over the
            classes) or `"classes"` (int32 argmax).
        return_numpy: Whether to return a NumPy array (the default) or a
            backend tensor.

    Returns:
        `(B, H, W, num_classes)` float32 logits or probabilities, or
        `(B, H, W)` int32 class ids.

    Example:

    ```python
    backbone = keras_srcrm.models.backbone_from_config("hub_resnet_mini")
    model = keras_srcrm.models.SRCRMSegmenter(backbone, num_classes=3)
    images = np.random.uniform(0, 255, (2, 45, 61, 3))
    classes = predict_whole(
        model, images, pad_to_multiple_of=32, output="classes"
    )  # (2, 45, 61), int32
    ```
    """
    images = validation.check_images(images)
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    validation.check_output(output)
    height, width = images.shape[1], images.shape[2]
    if pad_to_multiple_of is not None:
        multiple = validation.to_pair(pad_to_multiple_of, "pad_to_multiple_of")
        padded_height = -(-height // multiple[0]) * multiple[0]
        padded_width = -(-width // multiple[1]) * multiple[1]
        images = core.pad_bottom_right(images, padded_height, padded_width)
    logits = core.predict_in_batches(model, images, batch_size)
    logits = logits[:, :height, :width]
    return core.finish(logits, output=output, return_numpy=return_numpy)
