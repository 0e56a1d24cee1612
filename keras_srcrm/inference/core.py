"""Calling a segmentation model on batches, padding, and output conversion."""

import keras
import numpy as np
from keras import ops


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
    if isinstance(logits, dict):
        if "segmentation" not in logits:
            raise ValueError(
                "A model that returns a dict must return the logits under the "
                f"key 'segmentation'. Received keys: {sorted(logits)}"
            )
        logits = logits["segmentation"]
    if isinstance(logits, (list, tuple)):
        raise ValueError(
            "The model must return one logits tensor (or a dict with the key "
            f"'segmentation'). Received: a {type(logits).__name__} of "
            f"{len(logits)} outputs"
        )
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
