"""Inference on images of any size: whole, sliding window, multi-scale.

Every function takes a segmentation model that maps `(B, H, W, 3)` float
images in `[0, 255]` to `(B, H, W, num_classes)` logits (as
`keras_srcrm.models.SRCRMSegmenter` does) or to a dict with those logits
under `"segmentation"`, and images as NumPy arrays or backend tensors. They
use `keras.ops` only, so they run on every Keras backend, and return NumPy
arrays unless `return_numpy=False`.

`colorize`, `overlay` and `save_png` turn class maps into pictures, with
NumPy and zlib only.
"""

from keras_srcrm.inference.multiscale import DEFAULT_SCALES
from keras_srcrm.inference.multiscale import predict_multiscale
from keras_srcrm.inference.offsets import srm_offsets
from keras_srcrm.inference.segment import MODES
from keras_srcrm.inference.segment import predict
from keras_srcrm.inference.segment import segment
from keras_srcrm.inference.sliding import predict_sliding_window
from keras_srcrm.inference.sliding import tile_starts
from keras_srcrm.inference.visualize import CITYSCAPES_PALETTE
from keras_srcrm.inference.visualize import colorize
from keras_srcrm.inference.visualize import default_palette
from keras_srcrm.inference.visualize import encode_png
from keras_srcrm.inference.visualize import offset_color_wheel
from keras_srcrm.inference.visualize import offsets_to_rgb
from keras_srcrm.inference.visualize import overlay
from keras_srcrm.inference.visualize import save_png
from keras_srcrm.inference.whole import predict_whole

__all__ = [
    "CITYSCAPES_PALETTE",
    "DEFAULT_SCALES",
    "MODES",
    "colorize",
    "default_palette",
    "encode_png",
    "offset_color_wheel",
    "offsets_to_rgb",
    "overlay",
    "predict",
    "predict_multiscale",
    "predict_sliding_window",
    "predict_whole",
    "save_png",
    "segment",
    "srm_offsets",
    "tile_starts",
]
