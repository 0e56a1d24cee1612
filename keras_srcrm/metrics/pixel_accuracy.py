"""Streaming pixel accuracy."""

import keras
from keras import ops

from keras_srcrm.metrics.confusion_matrix import ConfusionMatrixMetric


@keras.saving.register_keras_serializable(package="keras_srcrm")
class PixelAccuracy(ConfusionMatrixMetric):
    """Fraction of scored pixels whose predicted class is the true class.

    Computed as `trace(confusion_matrix) / sum(confusion_matrix)` from the same
    exact, ignore-aware confusion matrix as `MeanIoU` (see
    `ConfusionMatrixMetric`), so that pixels labelled `ignore_label` count
    neither as right nor as wrong, and labels outside `[0, num_classes)` are
    reported rather than miscounted.

    Args:
        num_classes: Number of classes; class ids are `0, ..., num_classes-1`.
        ignore_label: Label id of pixels that are not scored, or `None`.
            Defaults to 255.
        invalid_labels: `"raise"` (default) or `"ignore"`; see `MeanIoU`.
        name: Name of the metric. Defaults to `"pixel_accuracy"`.
        dtype: Dtype of `result()`. Defaults to `"float32"`.

    Returns:
        `result()`: the pixel accuracy, a scalar in `[0, 1]` (0 before any
        pixel is scored).

    Example:

    ```python
    import numpy as np
    from keras_srcrm.metrics import PixelAccuracy

    metric = PixelAccuracy(num_classes=3)
    metric.update_state(np.array([[[0, 1], [2, 255]]]), np.array([[[0, 1], [1, 0]]]))
    float(metric.result())  # 2 right out of 3 scored pixels: 0.667
    ```
    """

    def __init__(
        self,
        num_classes,
        ignore_label=255,
        invalid_labels="raise",
        name="pixel_accuracy",
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
        accuracy = ops.divide_no_nan(ops.trace(matrix), ops.sum(matrix))
        return ops.cast(accuracy, self.dtype)
