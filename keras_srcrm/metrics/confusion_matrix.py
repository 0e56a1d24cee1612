"""The streaming, exact confusion matrix behind `MeanIoU` and `PixelAccuracy`."""

import numpy as np
from keras import ops

from keras_srcrm.metrics import _counting
from keras_srcrm.metrics._base import SegmentationMetricBase


class ConfusionMatrixMetric(SegmentationMetricBase):
    """Base class of the metrics computed from a pixel confusion matrix.

    Accumulates `confusion_matrix[i, j]`, the number of scored pixels of true
    class `i` predicted as class `j`, as exact integer counts on every backend
    (a carry-split pair of int32 variables, exact up to 2**61 pixels per
    cell), so that a metric over many Cityscapes epochs (~6e9 pixels each)
    does not overflow, even on JAX without `jax_enable_x64`.

    Pixels labelled `ignore_label` and pixels of `sample_weight` 0 are not
    scored. Labels outside `[0, num_classes)` are never counted; by default
    they raise a `ValueError`, from `update_state` when it runs eagerly, or at
    the first eager read (`result()`, `confusion_matrix()`, ...) after a
    compiled step.

    `MeanIoU` and `PixelAccuracy` are its subclasses. Another metric of the
    matrix (e.g. frequency-weighted IoU) subclasses it too: its `result()`
    calls `self._check_invalid_labels()`, then computes from
    `self._float_confusion_matrix()`, a float32 tensor that works inside
    compiled steps.

    Args:
        num_classes: Number of classes.
        ignore_label: Label id of pixels that are not scored, or `None`.
            Defaults to 255.
        invalid_labels: `"raise"` (default) or `"ignore"`.
        name: Name of the metric.
        dtype: Dtype of `result()`. Defaults to `"float32"`.
    """

    def __init__(
        self,
        num_classes,
        ignore_label=255,
        invalid_labels="raise",
        name=None,
        dtype=None,
    ):
        super().__init__(
            num_classes=num_classes,
            ignore_label=ignore_label,
            invalid_labels=invalid_labels,
            name=name,
            dtype=dtype,
        )
        shape = (self.num_classes, self.num_classes)
        self._cm_hi = self.add_variable(
            shape=shape, initializer="zeros", dtype="int32", name="cm_hi"
        )
        self._cm_lo = self.add_variable(
            shape=shape, initializer="zeros", dtype="int32", name="cm_lo"
        )

    def _accumulate(self, labels, predictions, counted):
        num_classes = self.num_classes
        # Pixels not scored go to one extra bin, dropped after counting.
        dump_bin = num_classes * num_classes
        index = ops.where(counted, labels * num_classes + predictions, dump_bin)
        counts = _counting.histogram(index, dump_bin + 1)[:dump_bin]
        self.add_confusion_matrix(ops.reshape(counts, (num_classes, num_classes)))

    def add_confusion_matrix(self, counts):
        """Adds a confusion matrix of counts to the running total.

        `update_state` calls this with the counts of each batch. Call it
        directly to merge counts computed elsewhere (another process, a
        sliding-window evaluator). Works inside compiled functions.

        Args:
            counts: Integer tensor of shape `(num_classes, num_classes)`, rows
                indexed by true class and columns by predicted class, each
                entry in `[0, 2**31)`.

        Raises:
            ValueError: If `counts` has the wrong shape.
        """
        counts = ops.convert_to_tensor(counts)
        expected = (self.num_classes, self.num_classes)
        if tuple(counts.shape) != expected:
            raise ValueError(
                f"`counts` must have shape {expected}. "
                f"Received: counts.shape={tuple(counts.shape)}"
            )
        hi, lo = _counting.add_exact(self._cm_hi.value, self._cm_lo.value, counts)
        self._cm_hi.assign(hi)
        self._cm_lo.assign(lo)

    def _float_confusion_matrix(self):
        return _counting.to_float(self._cm_hi.value, self._cm_lo.value)

    def confusion_matrix(self):
        """Returns the accumulated confusion matrix (eager only).

        Returns:
            A NumPy int64 array of shape `(num_classes, num_classes)`: entry
            `[i, j]` counts the scored pixels of true class `i` predicted as
            class `j`.

        Raises:
            ValueError: If invalid labels were counted and
                `invalid_labels="raise"`.
        """
        self._check_invalid_labels()
        return _counting.to_int64(self._cm_hi.value, self._cm_lo.value)

    def per_class_iou(self):
        """Returns the IoU of every class (eager only).

        Computed in float64 from the exact counts.

        Returns:
            A NumPy float64 array of shape `(num_classes,)`: for class `c`,
            `TP / (TP + FP + FN)`; NaN for a class that occurs neither in the
            labels nor in the predictions of scored pixels.

        Raises:
            ValueError: If invalid labels were counted and
                `invalid_labels="raise"`.
        """
        matrix = self.confusion_matrix().astype(np.float64)
        true_positives = np.diag(matrix)
        union = matrix.sum(axis=0) + matrix.sum(axis=1) - true_positives
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, true_positives / union, np.nan)

    def result(self):
        raise NotImplementedError
