"""Whole-image inference, and the model calls every inference mode shares."""

import keras
import numpy as np
from keras import ops

from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_image_batch
from keras_srcrm.utils.validation import check_pair
from keras_srcrm.utils.validation import check_positive_int
from keras_srcrm.utils.validation import segmentation_output

OUTPUTS = ("logits", "probabilities", "classes")


def prepare_images(images):
    """Checks a batch of `(B, H, W, 3)` images; returns a float32 tensor."""
    if not hasattr(images, "shape"):
        images = np.asarray(images)
    check_image_batch(images)
    return ops.cast(ops.convert_to_tensor(images), "float32")


def check_output(output):
    return check_choice("output", output, OUTPUTS)


def call_model(model, images):
    """Runs `model` on a `(B, H, W, 3)` batch and returns float32 logits.

    A Keras model runs through `predict_on_batch`: compiled once per input
    shape on TensorFlow and JAX, without gradient tracking on PyTorch. Any
    other layer is called with `training=False`, and any other callable with
    the images alone. A dict output must hold the logits under
    `"segmentation"`.
    """
    if isinstance(model, keras.Model):
        logits = model.predict_on_batch(images)
    elif isinstance(model, keras.layers.Layer):
        logits = model(images, training=False)
    else:
        logits = model(images)
    logits = segmentation_output(logits)
    shape = tuple(logits.shape)
    if len(shape) != 4 or shape[:3] != tuple(images.shape[:3]):
        raise ValueError(
            "The model must map images (batch, height, width, 3) to logits "
            "(batch, height, width, num_classes). Received: logits of shape "
            f"{shape} for images of shape {tuple(images.shape)}"
        )
    return ops.cast(ops.convert_to_tensor(logits), "float32")


def predict_in_batches(model, images, batch_size):
    """`call_model` on consecutive chunks of at most `batch_size` images."""
    count = images.shape[0]
    chunks = [
        call_model(model, images[start : start + batch_size])
        for start in range(0, count, batch_size)
    ]
    return chunks[0] if len(chunks) == 1 else ops.concatenate(chunks, axis=0)


def pad_bottom_right(images, height, width):
    """Pads `(B, H, W, C)` images to `(B, height, width, C)` by edge replication.

    The last row is repeated below the image and the last column to its
    right (NumPy's `mode="edge"`). `keras.ops.pad` offers only constant
    padding on every backend, so this gathers clipped indices instead.
    """
    in_height, in_width = images.shape[1], images.shape[2]
    if height > in_height:
        rows = np.minimum(np.arange(height), in_height - 1).astype("int32")
        images = ops.take(images, rows, axis=1)
    if width > in_width:
        columns = np.minimum(np.arange(width), in_width - 1).astype("int32")
        images = ops.take(images, columns, axis=2)
    return images


def finish(logits=None, *, probabilities=None, output, return_numpy):
    """Converts logits (or averaged probabilities) to the requested output.

    From probabilities, `"logits"` are log-probabilities: logits whose
    softmax gives the probabilities back.
    """
    if output == "classes":
        scores = logits if logits is not None else probabilities
        result = ops.cast(ops.argmax(scores, axis=-1), "int32")
    elif logits is not None:
        result = logits if output == "logits" else ops.softmax(logits, axis=-1)
    elif output == "probabilities":
        result = probabilities
    else:
        tiny = np.finfo("float32").tiny
        result = ops.log(ops.maximum(probabilities, tiny))
    return ops.convert_to_numpy(result) if return_numpy else result


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
    images = prepare_images(images)
    batch_size = check_positive_int("batch_size", batch_size)
    check_output(output)
    height, width = images.shape[1], images.shape[2]
    if pad_to_multiple_of is not None:
        multiple = check_pair("pad_to_multiple_of", pad_to_multiple_of)
        padded_height = -(-height // multiple[0]) * multiple[0]
        padded_width = -(-width // multiple[1]) * multiple[1]
        images = pad_bottom_right(images, padded_height, padded_width)
    logits = predict_in_batches(model, images, batch_size)
    logits = logits[:, :height, :width]
    return finish(logits, output=output, return_numpy=return_numpy)
