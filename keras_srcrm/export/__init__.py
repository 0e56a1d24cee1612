"""Export segmentation models for deployment: SavedModel (TF Serving) and ONNX.

TensorFlow, tf2onnx and ONNX are imported when an export runs, so importing
this package needs only Keras and one backend.
"""

from keras_srcrm.export.onnx import export_onnx
from keras_srcrm.export.saved_model import export_saved_model
from keras_srcrm.export.serving import ExportResult
from keras_srcrm.export.subprocess_export import export_with_tensorflow_backend

__all__ = [
    "ExportResult",
    "export_onnx",
    "export_saved_model",
    "export_with_tensorflow_backend",
]
