"""Metrics from an exact, streaming confusion matrix.

`MeanIoU`, `PixelAccuracy`, `MeanAccuracy` (mAcc), `MeanDice` and
`MeanFScore`: each accumulates the same ignore-aware, exact confusion matrix
(`ConfusionMatrixMetric`), and every one of them also gives the per-class
IoU, accuracy, Dice and F-score of its counts.
"""

import keras
import numpy as np
from keras import ops

from keras_srcrm.metrics import _counting
from keras_srcrm.metrics._base import SegmentationMetricBase
from keras_srcrm.utils.validation import check_number


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
        name: Name of the metric. Defaults to the class's `default_name`.
        dtype: Dtype of `result()`. Defaults to `"float32"`.
    """

    # The name of a metric made without one, e.g. "mean_iou": each subclass
    # sets it instead of repeating the constructor.
    default_name = None

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
            name=self.default_name if name is None else name,
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

    def per_class_accuracy(self):
        """Returns the accuracy (recall) of every class (eager only).

        Returns:
            A NumPy float64 array of shape `(num_classes,)`: for class `c`,
            `TP / (TP + FN)`, the fraction of the scored pixels of class `c`
            predicted as `c`; NaN for a class absent from the labels.
        """
        matrix = self.confusion_matrix().astype(np.float64)
        labelled = matrix.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(labelled > 0, np.diag(matrix) / labelled, np.nan)

    def per_class_fscore(self, beta=1.0):
        """Returns the F-beta score of every class (eager only).

        Args:
            beta: Weight of recall relative to precision, a positive number.
                Defaults to 1.0, the Dice coefficient (F1).

        Returns:
            A NumPy float64 array of shape `(num_classes,)`: for class `c`,
            `(1 + beta**2) TP / ((1 + beta**2) TP + beta**2 FN + FP)`; NaN for
            a class that occurs neither in the labels nor in the
            predictions of scored pixels.
        """
        beta = check_number("beta", beta, positive=True)
        matrix = self.confusion_matrix().astype(np.float64)
        return _fscore_numpy(matrix, beta)

    def per_class_dice(self):
        """Returns the Dice coefficient (F1) of every class (eager only).

        Returns:
            A NumPy float64 array of shape `(num_classes,)`: for class `c`,
            `2 TP / (2 TP + FP + FN)`; NaN for a class that occurs neither in
            the labels nor in the predictions of scored pixels.
        """
        return self.per_class_fscore(1.0)

    def result(self):
        raise NotImplementedError


def _fscore_numpy(matrix, beta):
    true_positives = np.diag(matrix)
    false_negatives = matrix.sum(axis=1) - true_positives
    false_positives = matrix.sum(axis=0) - true_positives
    factor = 1.0 + beta**2
    denominator = factor * true_positives + beta**2 * false_negatives + false_positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, factor * true_positives / denominator, np.nan)


def _mean_over_defined(values, defined):
    """The mean of `values` where `defined`, 0 when nothing is (in-graph)."""
    defined = ops.cast(defined, "float32")
    return ops.divide_no_nan(ops.sum(values * defined), ops.sum(defined))


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

    default_name = "mean_iou"

    def result(self):
        self._check_invalid_labels()
        matrix = self._float_confusion_matrix()
        true_positives = ops.diagonal(matrix)
        union = ops.sum(matrix, axis=0) + ops.sum(matrix, axis=1) - true_positives
        present = ops.cast(ops.greater(union, 0), "float32")
        iou = ops.divide_no_nan(true_positives, union)
        mean = ops.divide_no_nan(ops.sum(iou * present), ops.sum(present))
        return ops.cast(mean, self.dtype)


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

    default_name = "pixel_accuracy"

    def result(self):
        self._check_invalid_labels()
        matrix = self._float_confusion_matrix()
        accuracy = ops.divide_no_nan(ops.trace(matrix), ops.sum(matrix))
        return ops.cast(accuracy, self.dtype)


@keras.saving.register_keras_serializable(package="keras_srcrm")
class MeanAccuracy(ConfusionMatrixMetric):
    """Mean class accuracy (mAcc) over a dataset, for semantic segmentation.

    For each class `c`, `Acc_c = TP_c / (TP_c + FN_c)`: the fraction of the
    scored pixels labelled `c` that are predicted as `c` (the recall of
    `c`). The mean is over the classes present in the labels of scored
    pixels, as mmsegmentation's `mAcc` (a `nanmean`); unlike the pixel
    accuracy, every class counts the same, whatever its area.

    Computed from the same exact, ignore-aware confusion matrix as
    `MeanIoU` (see `ConfusionMatrixMetric`), with the same inputs and
    arguments. `per_class_accuracy()` gives the accuracy of every class.

    Args:
        num_classes: Number of classes; class ids are `0, ..., num_classes-1`.
        ignore_label: Label id of pixels that are not scored, or `None`.
            Defaults to 255.
        invalid_labels: `"raise"` (default) or `"ignore"`; see `MeanIoU`.
        name: Name of the metric. Defaults to `"mean_accuracy"`.
        dtype: Dtype of `result()`. Defaults to `"float32"`.

    Returns:
        `result()`: the mean class accuracy, a scalar in `[0, 1]` (0 before
        any pixel is scored).

    Example:

    ```python
    import numpy as np
    from keras_srcrm.metrics import MeanAccuracy

    metric = MeanAccuracy(num_classes=3)
    metric.update_state(
        np.array([[[0, 0, 1], [2, 2, 255]]]), np.array([[[0, 1, 1], [2, 0, 0]]])
    )
    float(metric.result())  # (1/2 + 1 + 1/2) / 3 = 0.667
    metric.per_class_accuracy()  # array([0.5, 1. , 0.5])
    ```
    """

    default_name = "mean_accuracy"

    def result(self):
        self._check_invalid_labels()
        matrix = self._float_confusion_matrix()
        labelled = ops.sum(matrix, axis=1)
        accuracy = ops.divide_no_nan(ops.diagonal(matrix), labelled)
        mean = _mean_over_defined(accuracy, ops.greater(labelled, 0))
        return ops.cast(mean, self.dtype)


@keras.saving.register_keras_serializable(package="keras_srcrm")
class MeanFScore(ConfusionMatrixMetric):
    """Mean F-beta score over a dataset, for semantic segmentation.

    For each class `c`, from the dataset-level counts,
    `F_c = (1 + beta**2) TP_c / ((1 + beta**2) TP_c + beta**2 FN_c + FP_c)`,
    the weighted harmonic mean of its precision and recall; `beta=1` is the
    Dice coefficient (see `MeanDice`). The mean is over the classes that
    occur in the labels or the predictions of scored pixels (the classes
    `MeanIoU` averages over); a class absent from both has no score (NaN in
    `per_class_fscore()`) and is left out.

    Computed from the same exact, ignore-aware confusion matrix as
    `MeanIoU` (see `ConfusionMatrixMetric`), with the same inputs and
    arguments. For every class with a score, `F1 = 2 IoU / (1 + IoU)`.

    Args:
        num_classes: Number of classes; class ids are `0, ..., num_classes-1`.
        beta: Weight of recall relative to precision, a positive number.
            Defaults to 1.0.
        ignore_label: Label id of pixels that are not scored, or `None`.
            Defaults to 255.
        invalid_labels: `"raise"` (default) or `"ignore"`; see `MeanIoU`.
        name: Name of the metric. Defaults to `"mean_fscore"`.
        dtype: Dtype of `result()`. Defaults to `"float32"`.

    Returns:
        `result()`: the mean F-beta score, a scalar in `[0, 1]` (0 before any
        pixel is scored).

    Example:

    ```python
    from keras_srcrm.metrics import MeanFScore

    metric = MeanFScore(num_classes=19, beta=2.0)  # recall counts 4x more
    model.compile(optimizer="sgd", loss=loss, metrics=[metric])
    ```
    """

    default_name = "mean_fscore"

    def __init__(
        self,
        num_classes,
        beta=1.0,
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
        self.beta = check_number("beta", beta, positive=True)

    def result(self):
        self._check_invalid_labels()
        matrix = self._float_confusion_matrix()
        true_positives = ops.diagonal(matrix)
        false_negatives = ops.sum(matrix, axis=1) - true_positives
        false_positives = ops.sum(matrix, axis=0) - true_positives
        factor = 1.0 + self.beta**2
        denominator = (
            factor * true_positives + self.beta**2 * false_negatives + false_positives
        )
        score = ops.divide_no_nan(factor * true_positives, denominator)
        mean = _mean_over_defined(score, ops.greater(denominator, 0))
        return ops.cast(mean, self.dtype)

    def get_config(self):
        config = super().get_config()
        config["beta"] = self.beta
        return config


@keras.saving.register_keras_serializable(package="keras_srcrm")
class MeanDice(MeanFScore):
    """Mean Dice coefficient (mDice) over a dataset, for semantic segmentation.

    For each class `c`, `Dice_c = 2 TP_c / (2 TP_c + FP_c + FN_c)` from the
    dataset-level counts (the F1 score; mmsegmentation's `mDice`), averaged
    over the classes that occur in the labels or the predictions of scored
    pixels. `MeanFScore(beta=1)` under another name; `per_class_dice()`
    gives the Dice of every class.

    Args:
        num_classes: Number of classes; class ids are `0, ..., num_classes-1`.
        ignore_label: Label id of pixels that are not scored, or `None`.
            Defaults to 255.
        invalid_labels: `"raise"` (default) or `"ignore"`; see `MeanIoU`.
        name: Name of the metric. Defaults to `"mean_dice"`.
        dtype: Dtype of `result()`. Defaults to `"float32"`.

    Returns:
        `result()`: the mean Dice, a scalar in `[0, 1]` (0 before any pixel
        is scored).

    Example:

    ```python
    import numpy as np
    from keras_srcrm.metrics import MeanDice

    metric = MeanDice(num_classes=3)
    metric.update_state(np.array([[[0, 1], [2, 255]]]), np.array([[[0, 1], [1, 0]]]))
    float(metric.result())  # (1 + 2/3 + 0) / 3 = 0.556
    metric.per_class_dice()  # array([1.   , 0.667, 0.   ])
    ```
    """

    default_name = "mean_dice"

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
            beta=1.0,
            ignore_label=ignore_label,
            invalid_labels=invalid_labels,
            name=name,
            dtype=dtype,
        )

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
