"""Streaming mean intersection over union."""

import keras
from keras import ops

from keras_srcrm.metrics.confusion_matrix import ConfusionMatrixMetric


@keras.saving.register_keras_serializable(package="keras_srcrm")
class MeanIoU(ConfusionMatrixMetric):
    """Mean intersection over union over a dataset, for semantic segmentation.

    For each class `c`, `IoU_c = TP_c / (TP_c + FP_c + FN_c)` from a
    confusion matrix accumulated over all batches (dataset-level, as
    mmsegmentation and cityscapesScripts compute it, not a mean of per-image
    IoUs). The mean is over the classes present in the labels or the
    predictions of scored pixels; a class absent from both has no IoU (NaN in
    `per_class_iou()`) and is left out of the mean.

    Unlike `keras.metrics.MeanIoU`, this metric takes logits or class maps,
    skips `ignore_label`, rejects labels outside `[0, num_classes)` instead of
    miscounting them, and counts exactly beyond 2**31 pixels on every backend
    (see `ConfusionMatrixMetric`).

    Inputs of `update_state(y_true, y_pred, sample_weight=None)`: `y_true` an
    integer class map `(B, H, W)` or `(B, H, W, 1)`; `y_pred` scores
    `(B, H, W, num_classes)` (logits or probabilities, any float dtype) or an
    integer class map `(B, H, W)`; `sample_weight` an optional mask (weight 0
    leaves a pixel or image out; any other weight counts it once).

    Eager accessors, besides `result()`: `per_class_iou()` (NumPy float64,
    NaN for absent classes), `confusion_matrix()` (NumPy int64),
    `add_confusion_matrix(counts)`, `invalid_pixel_counts()`.

    Args:
        num_classes: Number of classes; class ids are `0, ..., num_classes-1`.
        ignore_label: Label id of pixels that are not scored, or `None`.
            Defaults to 255.
        invalid_labels: What to do with a label that is neither a class id nor
            `ignore_label`, or a class-map prediction outside
            `[0, num_classes)`: `"raise"` (default) a `ValueError`, or
            `"ignore"` such pixels with a warning. Either way they are never
            counted. Inside a compiled step the error (or warning) comes at
            the first eager read, e.g. when Keras reads `result()` at the end
            of an epoch or of `evaluate`.
        name: Name of the metric. Defaults to `"mean_iou"`.
        dtype: Dtype of `result()`. Defaults to `"float32"`.

    Returns:
        `result()`: the mean IoU, a scalar in `[0, 1]` (0 before any pixel is
        scored).

    Example:

    ```python
    import numpy as np
    from keras_srcrm.metrics import MeanIoU

    metric = MeanIoU(num_classes=3)
    y_true = np.array([[[0, 1], [2, 255]]])
    y_pred = np.array([[[0, 1], [1, 0]]])
    metric.update_state(y_true, y_pred)
    float(metric.result())  # (1 + 1/2 + 0) / 3 = 0.5
    metric.per_class_iou()  # array([1. , 0.5, 0. ])
    ```
    """

    def __init__(
        self,
        num_classes,
        ignore_label=255,
        invalid_labels="raise",
        name="mean_iou",
        dtype=None,
    ):
        super().__init__(
            num_classes=num_classes,
            ignore_label=ignore_label,
            invalid_labels=invalid_labels,
            name=name,
            dtype=dtype,
        )

    def result(self):
        self._check_invalid_labels()
        matrix = self._float_confusion_matrix()
        true_positives = ops.diagonal(matrix)
        union = ops.sum(matrix, axis=0) + ops.sum(matrix, axis=1) - true_positives
        present = ops.cast(ops.greater(union, 0), "float32")
        iou = ops.divide_no_nan(true_positives, union)
        mean = ops.divide_no_nan(ops.sum(iou * present), ops.sum(present))
        return ops.cast(mean, self.dtype)
