"""Small models with answers that can be checked by hand."""

import keras
import numpy as np
from keras import ops

NUM_CLASSES = 4


def pointwise_model(num_classes=NUM_CLASSES, dict_output=False):
    """A functional model with one 1x1 convolution and fixed weights.

    It sees one pixel at a time, so it is translation- and flip-equivariant:
    tiling, padding-then-cropping and flipping cannot change its answer.
    """
    images = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(num_classes, 1, name="classifier")
    logits = conv(images)
    if dict_output:
        aux = keras.layers.Conv2D(2, 1, name="aux")(images)
        outputs = {"aux_1": aux, "segmentation": logits}
    else:
        outputs = logits
    model = keras.Model(images, outputs)
    rng = np.random.default_rng(7)
    kernel = rng.normal(0.0, 0.02, size=(1, 1, 3, num_classes)).astype("float32")
    bias = np.linspace(-1.0, 1.0, num_classes).astype("float32")
    conv.set_weights([kernel, bias])
    return model


class Recorder:
    """A callable model that records the shapes it is called with."""

    def __init__(self, fn):
        self.fn = fn
        self.shapes = []

    def __call__(self, images):
        self.shapes.append(tuple(images.shape))
        return self.fn(images)


def identity(images):
    """'Logits' equal to the pixels: shows exactly what the model was given."""
    return images


def row_in_tile(images):
    """Class 0: each pixel's row inside the model's input; class 1: zero.

    Not translation-equivariant, so the sliding-window average of it can be
    computed by hand from the tile positions.
    """
    height = images.shape[1]
    rows = ops.reshape(ops.arange(height, dtype="float32"), (1, height, 1, 1))
    zeros = ops.zeros_like(images[..., :1])
    return ops.concatenate([zeros + rows, zeros], axis=-1)


def column_in_input(images):
    """Class 0: each pixel's column inside the model's input; class 1: zero."""
    width = images.shape[2]
    columns = ops.reshape(ops.arange(width, dtype="float32"), (1, 1, width, 1))
    zeros = ops.zeros_like(images[..., :1])
    return ops.concatenate([zeros + columns, zeros], axis=-1)


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
