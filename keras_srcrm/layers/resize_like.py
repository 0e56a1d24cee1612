"""Resizing a map to the spatial size of another tensor."""

import keras

from keras_srcrm.ops.resize import output_size_like
from keras_srcrm.ops.resize import resize_bilinear
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_call_inputs
from keras_srcrm.utils.validation import check_layer_inputs


@keras.saving.register_keras_serializable(package="keras_srcrm")
class ResizeLike(keras.layers.Layer):
    """Resizes a map bilinearly to the height and width of a reference tensor.

    A segmentation head uses it to bring stride-4 logits back to the input
    image's size, whatever that size is. Resizing runs in float32 (see
    `keras_srcrm.ops.resize_bilinear`); give the layer `dtype="float32"` to
    also return float32 under mixed precision, as logits should be.

    Args:
        align_corners: Corner convention. Defaults to False, as
            `keras.ops.image.resize`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: A list `[x, reference]`: the map `(batch, h, w, c)` and any
            channels-last tensor `(batch, H, W, ...)` whose size it takes.

    Output shape:
        `(batch, H, W, c)`.

    Example:

    >>> logits = keras.random.normal((1, 8, 8, 19))
    >>> images = keras.ops.zeros((1, 30, 31, 3))
    >>> ResizeLike()([logits, images]).shape
    (1, 30, 31, 19)
    """

    def __init__(self, align_corners=False, **kwargs):
        super().__init__(**kwargs)
        self.align_corners = check_bool("align_corners", align_corners)

    def build(self, input_shape):
        check_layer_inputs(self, input_shape, ("x", "reference"))

    def call(self, inputs):
        check_call_inputs(self, inputs, ("x", "reference"))
        x, reference = inputs
        return resize_bilinear(
            x, output_size_like(reference), align_corners=self.align_corners
        )

    def compute_output_shape(self, input_shape):
        x_shape, reference_shape = input_shape
        return (x_shape[0], reference_shape[1], reference_shape[2], x_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"align_corners": self.align_corners})
        return config
