"""Small stand-ins for the library's segmenters, with its warp op inside."""

import keras
import numpy as np

from keras_srcrm.layers import ResizeLike
from keras_srcrm.layers import SemanticRefinementModule

NUM_CLASSES = 5
# Two sizes that 32 does not divide, one of them odd; both at least the JAX
# export's default `jax_min_image_size` of 32.
IMAGE_SIZES = ((33, 45), (40, 52))


def segmenter_standin(
    num_classes=NUM_CLASSES,
    deep_supervision=False,
    align_corners=False,
    input_size=(None, None),
    seed=0,
):
    """A functional model of the segmentation contract, in miniature.

    Raw `[0, 255]` images are normalised inside, two strided convs give a
    stride-2 and a stride-4 map, an SRM upsamples the coarse one with a
    learned flow and `keras_srcrm.ops.flow_warp`, a 1x1 conv gives logits and
    `ResizeLike` brings them to the input size. Weights are random (also the
    SRM's offset predictor, which starts at zero and would make the warp an
    identity), so the exported graph must really warp to match Keras.

    The first conv is "valid", as in the stems of MobileNet or EfficientNet:
    its output size `(H - 3) // 2 + 1` is what makes the JAX export need a
    lower bound on the image size.

    Args:
        num_classes: Number of classes of the logits.
        deep_supervision: Whether the model returns a dict
            `{"segmentation", "aux_1"}` as the library's models with auxiliary
            heads do.
        align_corners: Corner convention of the SRM and the final resize;
            False (half-pixel) by default, as in the library's layers.
        input_size: `(height, width)` of the input, None for any.
        seed: Seed of the random weights.

    Returns:
        A `keras.Model`.
    """
    images = keras.Input((*input_size, 3), name="images")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(images)
    fine = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    coarse = keras.layers.Conv2D(12, 3, strides=2, padding="same", activation="relu")(
        fine
    )
    refined = SemanticRefinementModule(8, align_corners=align_corners)([coarse, fine])
    logits = keras.layers.Conv2D(num_classes, 1)(refined)
    logits = ResizeLike(align_corners=align_corners)([logits, images])
    outputs = logits
    if deep_supervision:
        aux = keras.layers.Conv2D(num_classes, 1)(coarse)
        aux = ResizeLike(align_corners=align_corners)([aux, images])
        outputs = {"segmentation": logits, "aux_1": aux}
    model = keras.Model(images, outputs)
    randomize_weights(model, seed)
    return model


def randomize_weights(model, seed):
    """Gives every weight a random value; variances stay positive."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if "variance" in variable.path:
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.4, shape)
        variable.assign(value.astype(variable.dtype))


def random_images(rng, size, batch=2):
    """A batch of random uint8 RGB images of `size = (height, width)`."""
    return rng.integers(0, 256, (batch, *size, 3), dtype=np.uint8)


def keras_logits(model, images):
    """The model's main logits for a batch of images, as float32 NumPy.

    `predict` compiles the model once per input shape; an eager call would
    dispatch each op separately, which costs about ten times more on JAX.
    """
    images = np.asarray(images, "float32")
    outputs = model.predict(images, batch_size=len(images), verbose=0)
    if isinstance(outputs, dict):
        outputs = outputs["segmentation"]
    return np.asarray(outputs, dtype="float32")


def softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def fixed_size_logits(model, images, size):
    """The reference of the fixed-size policy: resize, model, resize back.

    Both resizes are `tf.image.resize` (bilinear, half-pixel centres, no
    antialiasing), which the export documents.
    """
    import tensorflow as tf

    height, width = images.shape[1:3]
    resized = tf.image.resize(images.astype("float32"), size).numpy()
    logits = keras_logits(model, resized)
    return tf.image.resize(logits, (height, width)).numpy()
