"""Input handling shared by the segmentation metrics.

`SegmentationMetricBase` turns `(y_true, y_pred, sample_weight)` into two clean
int32 class maps and a mask of the pixels to count, and keeps track of labels
outside `[0, num_classes)`. Such labels can only be reported by a Python
`raise`, which is impossible inside a compiled (XLA, `tf.function`, `jax.jit`)
step. So they never reach the counts, they are counted themselves, and the
error is raised:

* at once, by `update_state`, when it runs eagerly (torch, `run_eagerly=True`,
  direct calls), naming every offending value;
* otherwise at the first eager read of the metric: `result()` as Keras's
  trainers call it at the end of `fit` epochs and of `evaluate`, or
  `per_class_iou()` and the other NumPy accessors. That message gives the
  count and the smallest and largest offending values.
"""

import warnings

import keras
import numpy as np
from keras import ops

from keras_srcrm.metrics import _counting
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_ignore_label
from keras_srcrm.utils.validation import check_num_classes

_INT32_MAX = np.iinfo(np.int32).max
_INT32_MIN = np.iinfo(np.int32).min
_INVALID_LABELS_OPTIONS = ("raise", "ignore")
_ARGUMENTS = ("y_true", "y_pred")
# How many distinct offending values an eager error message lists.
_MAX_LISTED_VALUES = 10


def _is_concrete(tensor):
    """Whether `tensor` holds values now (eager) rather than being traced."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly()
    if backend == "jax":
        import jax

        return not isinstance(tensor, jax.core.Tracer)
    if backend == "torch":
        import torch

        return not torch.compiler.is_compiling()
    return True


def _static_shape(tensor):
    return tuple(tensor.shape)


class SegmentationMetricBase(keras.metrics.Metric):
    """Base class of the streaming segmentation metrics.

    Subclasses implement `_accumulate(labels, predictions, counted)` and
    `result()`; `result()` must start with `self._check_invalid_labels()`.

    Args:
        num_classes: Number of classes; valid class ids are
            `0, ..., num_classes - 1`.
        ignore_label: Label id of pixels that are not scored (255 for
            Cityscapes), or `None`.
        invalid_labels: What to do with pixels whose label is neither a class
            id nor `ignore_label` (and with class-map predictions outside
            `[0, num_classes)`): `"raise"` a `ValueError` (default), or
            `"ignore"` them like `ignore_label`, with a warning.
        name: Name of the metric.
        dtype: Dtype of `result()`. Counting is always exact integer counting.
    """

    def __init__(
        self,
        num_classes,
        ignore_label=255,
        invalid_labels="raise",
        name=None,
        dtype=None,
    ):
        super().__init__(name=name, dtype=dtype or "float32")
        self.num_classes = check_num_classes(num_classes)
        self.ignore_label = check_ignore_label(ignore_label, allow_none=True)
        self.invalid_labels = check_choice(
            "invalid_labels", invalid_labels, _INVALID_LABELS_OPTIONS
        )
        self._direction = "up"

        # Index 0 describes `y_true`, index 1 `y_pred`.
        self._invalid_hi = self.add_variable(
            shape=(2,), initializer="zeros", dtype="int32", name="invalid_hi"
        )
        self._invalid_lo = self.add_variable(
            shape=(2,), initializer="zeros", dtype="int32", name="invalid_lo"
        )
        self._invalid_min = self.add_variable(
            shape=(2,),
            initializer=keras.initializers.Constant(_INT32_MAX),
            dtype="int32",
            aggregation="only_first_replica",
            name="invalid_min",
        )
        self._invalid_max = self.add_variable(
            shape=(2,),
            initializer=keras.initializers.Constant(_INT32_MIN),
            dtype="int32",
            aggregation="only_first_replica",
            name="invalid_max",
        )
        # Invalid pixels already reported by a warning (`invalid_labels=
        # "ignore"`), so that each one is reported once.
        self._warned_invalid = np.zeros(2, dtype=np.int64)

    # --- Input standardisation -------------------------------------------

    def _standardize_labels(self, y_true):
        y_true = ops.convert_to_tensor(y_true)
        shape = _static_shape(y_true)
        if len(shape) == 4 and shape[-1] == 1:
            y_true = ops.squeeze(y_true, axis=-1)
        elif len(shape) != 3:
            raise ValueError(
                "`y_true` must be an integer class map of shape (B, H, W) or "
                f"(B, H, W, 1). Received: y_true.shape={shape}"
            )
        return ops.cast(y_true, "int32")

    def _standardize_predictions(self, y_pred, label_shape):
        y_pred = ops.convert_to_tensor(y_pred)
        shape = _static_shape(y_pred)
        if len(shape) == 4 and shape[-1] == self.num_classes:
            y_pred = ops.argmax(y_pred, axis=-1)
        elif len(shape) == 4 and shape[-1] == 1:
            y_pred = ops.squeeze(y_pred, axis=-1)
        elif len(shape) != 3:
            raise ValueError(
                "`y_pred` must be scores of shape (B, H, W, num_classes="
                f"{self.num_classes}) or a class map of shape (B, H, W). "
                f"Received: y_pred.shape={shape}"
            )
        for got, expected in zip(_static_shape(y_pred), label_shape):
            if got is not None and expected is not None and got != expected:
                raise ValueError(
                    "`y_pred` must have the batch and spatial shape of "
                    f"`y_true` {tuple(label_shape)}. "
                    f"Received: y_pred.shape={shape}"
                )
        return ops.cast(y_pred, "int32")

    def _standardize_sample_weight(self, sample_weight, labels):
        """Returns a boolean mask of the pixels with a non-zero weight."""
        if sample_weight is None:
            return ops.ones_like(labels, dtype="bool")
        sample_weight = ops.convert_to_tensor(sample_weight)
        shape = _static_shape(sample_weight)
        if len(shape) == 4 and shape[-1] == 1:
            sample_weight = ops.squeeze(sample_weight, axis=-1)
        elif len(shape) == 1:
            sample_weight = ops.reshape(sample_weight, (-1, 1, 1))
        elif len(shape) not in (0, 3):
            raise ValueError(
                "`sample_weight` must be a scalar, or have shape (B,), "
                f"(B, H, W) or (B, H, W, 1). Received: sample_weight.shape="
                f"{shape}"
            )
        mask = ops.not_equal(sample_weight, ops.zeros((), sample_weight.dtype))
        return ops.logical_and(ops.ones_like(labels, dtype="bool"), mask)

    # --- State -----------------------------------------------------------

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulates the statistics of one batch.

        Args:
            y_true: Integer class map, shape `(B, H, W)` or `(B, H, W, 1)`.
            y_pred: Scores (logits or probabilities) of shape
                `(B, H, W, num_classes)`, or an integer class map of shape
                `(B, H, W)` or `(B, H, W, 1)`.
            sample_weight: Optional mask, a scalar or of shape `(B,)`,
                `(B, H, W)` or `(B, H, W, 1)`. Counts are exact pixel counts,
                so weights act as a mask: pixels of weight 0 are left out,
                any other weight counts the pixel once.

        Raises:
            ValueError: If the shapes are wrong, or, when run eagerly with
                `invalid_labels="raise"`, if `y_true` holds a label outside
                `[0, num_classes)` that is not `ignore_label`, or a class-map
                `y_pred` holds a value outside `[0, num_classes)`.
        """
        labels = self._standardize_labels(y_true)
        predictions = self._standardize_predictions(y_pred, _static_shape(labels))
        weighted = self._standardize_sample_weight(sample_weight, labels)

        num_classes = self.num_classes
        true_in_range = ops.logical_and(
            ops.greater_equal(labels, 0), ops.less(labels, num_classes)
        )
        not_ignored = weighted
        if self.ignore_label is not None:
            not_ignored = ops.logical_and(
                not_ignored, ops.not_equal(labels, self.ignore_label)
            )
        pred_in_range = ops.logical_and(
            ops.greater_equal(predictions, 0), ops.less(predictions, num_classes)
        )
        # A pixel of class `ignore_label` is never invalid, even if the ignore
        # label is itself a class id; a prediction only matters where the
        # label is scored.
        invalid_true = ops.logical_and(not_ignored, ops.logical_not(true_in_range))
        scored = ops.logical_and(not_ignored, true_in_range)
        invalid_pred = ops.logical_and(scored, ops.logical_not(pred_in_range))
        counted = ops.logical_and(scored, pred_in_range)

        invalid_masks = (invalid_true, invalid_pred)
        invalid_counts = ops.stack(
            [ops.sum(ops.cast(mask, "int32")) for mask in invalid_masks]
        )
        if _is_concrete(invalid_counts):
            self._handle_invalid_eagerly(
                invalid_counts, invalid_masks, (labels, predictions)
            )

        batch_min = ops.stack(
            [
                ops.min(ops.where(mask, values, _INT32_MAX))
                for mask, values in zip(invalid_masks, (labels, predictions))
            ]
        )
        batch_max = ops.stack(
            [
                ops.max(ops.where(mask, values, _INT32_MIN))
                for mask, values in zip(invalid_masks, (labels, predictions))
            ]
        )
        hi, lo = _counting.add_exact(
            self._invalid_hi.value, self._invalid_lo.value, invalid_counts
        )
        self._invalid_hi.assign(hi)
        self._invalid_lo.assign(lo)
        self._invalid_min.assign(ops.minimum(self._invalid_min.value, batch_min))
        self._invalid_max.assign(ops.maximum(self._invalid_max.value, batch_max))

        excluded = ops.full_like(labels, -1)
        self._accumulate(
            ops.where(scored, labels, excluded),
            ops.where(pred_in_range, predictions, excluded),
            counted,
        )

    def _accumulate(self, labels, predictions, counted):
        """Adds one batch to the statistics.

        Args:
            labels: int32 `(B, H, W)`; ignored, invalid and zero-weight
                pixels are -1.
            predictions: int32 `(B, H, W)`; invalid class-map values are -1.
            counted: bool `(B, H, W)`, the pixels to score.
        """
        raise NotImplementedError

    def reset_state(self):
        """Resets the statistics, including the record of invalid labels."""
        for variable in self.variables:
            if variable is self._invalid_min:
                value = _INT32_MAX
            elif variable is self._invalid_max:
                value = _INT32_MIN
            else:
                value = 0
            variable.assign(ops.full(variable.shape, value, dtype=variable.dtype))
        self._warned_invalid = np.zeros(2, dtype=np.int64)

    # --- Invalid labels --------------------------------------------------

    def invalid_pixel_counts(self):
        """Returns how many invalid pixels were seen since the last reset.

        Eager only. With `invalid_labels="ignore"` this says how much was left
        out; it never raises.

        Returns:
            A dict `{"y_true": int, "y_pred": int}`.
        """
        counts = _counting.to_int64(self._invalid_hi.value, self._invalid_lo.value)
        return {name: int(count) for name, count in zip(_ARGUMENTS, counts)}

    def _describe(self, argument):
        if argument == "y_true":
            if self.ignore_label is None:
                return f"labels outside [0, num_classes={self.num_classes})"
            return (
                f"labels neither in [0, num_classes={self.num_classes}) nor "
                f"equal to ignore_label={self.ignore_label}"
            )
        return f"class ids outside [0, num_classes={self.num_classes}) at scored pixels"

    def _handle_invalid_eagerly(self, counts, masks, values):
        # A plain `bool` of a tensor: no NumPy copy in the common, clean case.
        if not bool(ops.any(ops.greater(counts, 0))):
            return
        counts = ops.convert_to_numpy(counts)
        messages = []
        for argument, count, mask, value in zip(_ARGUMENTS, counts, masks, values):
            if count:
                offending = np.unique(
                    ops.convert_to_numpy(value)[ops.convert_to_numpy(mask)]
                )
                listed = ", ".join(str(v) for v in offending[:_MAX_LISTED_VALUES])
                if len(offending) > _MAX_LISTED_VALUES:
                    listed += ", ..."
                messages.append(
                    f"`{argument}` has {count} pixel(s) with "
                    f"{self._describe(argument)}: values [{listed}]."
                )
        self._report(" ".join(messages))
        self._warned_invalid = self._warned_invalid + counts

    def _check_invalid_labels(self):
        """Raises or warns about invalid pixels counted in compiled steps.

        Does nothing while traced: a compiled step cannot raise.
        """
        hi, lo = self._invalid_hi.value, self._invalid_lo.value
        if not _is_concrete(lo):
            return
        if not bool(
            ops.any(ops.logical_or(ops.not_equal(hi, 0), ops.not_equal(lo, 0)))
        ):
            return
        counts = _counting.to_int64(hi, lo)
        if not (counts > self._warned_invalid).any():
            return
        smallest = ops.convert_to_numpy(self._invalid_min.value)
        largest = ops.convert_to_numpy(self._invalid_max.value)
        messages = []
        for index, argument in enumerate(_ARGUMENTS):
            if counts[index] > self._warned_invalid[index]:
                messages.append(
                    f"`{argument}` had {counts[index]} pixel(s) with "
                    f"{self._describe(argument)}, from {smallest[index]} to "
                    f"{largest[index]}."
                )
        if self.invalid_labels == "ignore":
            self._warned_invalid = counts
        self._report(
            " ".join(messages)
            + " They were found inside a compiled step, which cannot raise, "
            "so they were left out of the counts and are reported at this "
            "first eager read; `reset_state()` clears them."
        )

    def _report(self, message):
        message = f"{self.__class__.__name__} '{self.name}': {message}"
        if self.invalid_labels == "raise":
            raise ValueError(
                message + " Fix the labels (e.g. map them to the ignore "
                "label), or pass invalid_labels='ignore' to leave such pixels "
                "out with a warning."
            )
        warnings.warn(message + " They are treated as ignored.", stacklevel=3)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "ignore_label": self.ignore_label,
                "invalid_labels": self.invalid_labels,
            }
        )
        return config
