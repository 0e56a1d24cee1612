"""Streaming Boundary IoU (Cheng et al., CVPR 2021) for semantic segmentation."""

import math

import keras
import numpy as np
from keras import ops

from keras_srcrm.metrics import _counting
from keras_srcrm.metrics._base import SegmentationMetricBase
from keras_srcrm.utils.validation import check_number
from keras_srcrm.utils.validation import check_positive_int

_FILL = np.iinfo(np.int32).min


def _window_max_1d(x, radius, axis):
    """Max of `x` (rank 4) over `[i - radius, i + radius]` along `axis`.

    Positions outside the image are left out of the window. Uses the
    sparse-table trick: after `log2(2 * radius + 1)` doublings, `m[i]` is the
    max over a window of width `w`, and two overlapping such windows cover the
    full one, so the cost does not grow with the radius.
    """
    width = 2 * radius + 1

    def pad(tensor, before, after):
        pad_width = [[0, 0]] * 4
        pad_width[axis] = [before, after]
        return ops.pad(tensor, pad_width, constant_values=_FILL)

    def take(tensor, start, trailing):
        # Drops `start` leading and `trailing - start` trailing positions.
        stop = start - trailing
        index = [slice(None)] * 4
        index[axis] = slice(start, stop if stop < 0 else None)
        return tensor[tuple(index)]

    padded = pad(x, radius, radius)  # padded[j] = x[j - radius]
    window_max = padded
    w = 1
    while 2 * w <= width:
        window_max = ops.maximum(window_max, take(pad(window_max, 0, w), w, w))
        w *= 2
    total = 2 * radius
    return ops.maximum(
        take(window_max, 0, total), take(window_max, total - w + 1, total)
    )


def inner_boundary_band(class_map, radius):
    """Marks the pixels within `radius` of a pixel of another value.

    Args:
        class_map: int32 tensor `(B, H, W)`.
        radius: Python int >= 1, the band width in pixels (Chebyshev
            distance).

    Returns:
        A bool tensor `(B, H, W)`: True where the `(2 * radius + 1)` square
        window around the pixel, clipped to the image, holds a value other
        than the pixel's own. For the mask `class_map == c`, the True pixels
        of class `c` are `mask - erode(mask, square window)`: the inner
        boundary band of the Boundary IoU paper.
    """
    # Max of the map and of its negation: a window is uniform iff both equal
    # the centre value. Labels are small non-negative ints or -1, so the
    # negation cannot overflow.
    stacked = ops.stack([class_map, -class_map], axis=-1)
    window_max = _window_max_1d(_window_max_1d(stacked, radius, 1), radius, 2)
    uniform = ops.all(ops.equal(window_max, stacked), axis=-1)
    return ops.logical_not(uniform)


@keras.saving.register_keras_serializable(package="keras_srcrm")
class BoundaryIoU(SegmentationMetricBase):
    """Per-class Boundary IoU over a dataset, a measure of boundary quality.

    Boundary IoU (Cheng et al., "Boundary IoU: Improving Object-Centric Image
    Segmentation Evaluation", CVPR 2021) compares only the pixels near the
    contours. For class `c`, with `G` the true mask and `P` the predicted mask
    of `c`, `G_d` and `P_d` their inner boundary bands (the pixels of the mask
    within distance `d` of a pixel outside it):

        BIoU_c = |G_d ∩ P_d| / |G_d ∪ P_d|

    Counts are summed over the whole dataset before dividing (like `MeanIoU`)
    and kept exact (see `ConfusionMatrixMetric`); `result()` is the mean over
    the classes with a non-empty `G_d ∪ P_d`, and `per_class_iou()` has NaN
    for the others.

    Approximations and conventions:

    * Distance is the Chebyshev distance: the band of a mask is the mask
      minus its erosion by a `(2d + 1) x (2d + 1)` square, exactly what the
      reference implementation's `d` iterations of a 3x3 `cv2.erode` give.
      It reaches further along diagonals than a Euclidean band of width `d`.
    * The image frame is not a contour (the window is clipped to the image).
      The reference code for instance masks pads with zeros, which makes a
      mask touching the frame have a boundary there; for semantic maps, where
      every class touches the frame, that would mostly score the frame.
    * `ignore_label` pixels count as "another class" when the bands are
      computed, so that an object edge next to a void region is a contour,
      but they are never scored themselves. Predictions are banded on the full
      predicted map, then scored only at labelled pixels.
    * `d` comes from `band_width` (pixels), or from `band_fraction` of the
      image diagonal: `d = max(1, round(band_fraction * sqrt(H**2 + W**2)))`,
      the reference's `dilation_ratio` (0.02 there).

    Args:
        num_classes: Number of classes; class ids are `0, ..., num_classes-1`.
        band_width: Band width `d` in pixels, an int >= 1. Give this or
            `band_fraction`, not both.
        band_fraction: Band width as a fraction of the image diagonal, in
            `(0, 1]`. Defaults to 0.02 when `band_width` is not given. Needs
            a static image size.
        ignore_label: Label id of pixels that are not scored, or `None`.
            Defaults to 255.
        invalid_labels: `"raise"` (default) or `"ignore"`; see `MeanIoU`.
            Invalid pixels are treated like ignored ones.
        name: Name of the metric. Defaults to `"boundary_iou"`.
        dtype: Dtype of `result()`. Defaults to `"float32"`.

    Returns:
        `result()`: the mean Boundary IoU over classes, a scalar in `[0, 1]`.

    Example:

    ```python
    import numpy as np
    from keras_srcrm.metrics import BoundaryIoU

    y_true = np.zeros((1, 8, 8), "int32")
    y_true[:, 2:6, 2:6] = 1
    metric = BoundaryIoU(num_classes=2, band_width=1)
    metric.update_state(y_true, y_true)
    float(metric.result())  # 1.0
    metric.per_class_iou()  # array([1., 1.])
    ```
    """

    def __init__(
        self,
        num_classes,
        band_width=None,
        band_fraction=None,
        ignore_label=255,
        invalid_labels="raise",
        name="boundary_iou",
        dtype=None,
    ):
        super().__init__(
            num_classes=num_classes,
            ignore_label=ignore_label,
            invalid_labels=invalid_labels,
            name=name,
            dtype=dtype,
        )
        if band_width is not None and band_fraction is not None:
            raise ValueError(
                "Pass either `band_width` or `band_fraction`, not both. "
                f"Received: band_width={band_width}, "
                f"band_fraction={band_fraction}"
            )
        if band_width is not None:
            check_positive_int("band_width", band_width)
        if band_width is None and band_fraction is None:
            band_fraction = 0.02
        if band_fraction is not None:
            check_number("band_fraction", band_fraction, positive=True, maximum=1.0)
        self.band_width = None if band_width is None else int(band_width)
        self.band_fraction = None if band_fraction is None else float(band_fraction)
        # Rows: |G_d| per class, |P_d| per class, |G_d ∩ P_d| per class.
        self._counts_hi = self.add_variable(
            shape=(3, self.num_classes),
            initializer="zeros",
            dtype="int32",
            name="counts_hi",
        )
        self._counts_lo = self.add_variable(
            shape=(3, self.num_classes),
            initializer="zeros",
            dtype="int32",
            name="counts_lo",
        )

    def band_radius(self, height, width):
        """Returns the band width `d` in pixels for an image size.

        Args:
            height: Image height in pixels.
            width: Image width in pixels.

        Returns:
            An int >= 1.
        """
        if self.band_width is not None:
            return self.band_width
        if height is None or width is None:
            raise ValueError(
                "`band_fraction` needs the image size at trace time, but "
                f"`y_true` has a dynamic spatial shape (H={height}, "
                f"W={width}). Use `band_width` (pixels) instead."
            )
        return max(1, int(round(self.band_fraction * math.hypot(height, width))))

    def _accumulate(self, labels, predictions, counted):
        num_classes = self.num_classes
        _, height, width = labels.shape
        radius = self.band_radius(height, width)
        true_band = ops.logical_and(inner_boundary_band(labels, radius), counted)
        pred_band = ops.logical_and(inner_boundary_band(predictions, radius), counted)
        both = ops.logical_and(
            ops.logical_and(true_band, pred_band), ops.equal(labels, predictions)
        )
        dump_bin = 3 * num_classes
        index = ops.stack(
            [
                ops.where(true_band, labels, dump_bin),
                ops.where(pred_band, predictions + num_classes, dump_bin),
                ops.where(both, labels + 2 * num_classes, dump_bin),
            ]
        )
        counts = _counting.histogram(index, dump_bin + 1)[:dump_bin]
        hi, lo = _counting.add_exact(
            self._counts_hi.value,
            self._counts_lo.value,
            ops.reshape(counts, (3, num_classes)),
        )
        self._counts_hi.assign(hi)
        self._counts_lo.assign(lo)

    def result(self):
        self._check_invalid_labels()
        counts = _counting.to_float(self._counts_hi.value, self._counts_lo.value)
        intersection = counts[2]
        union = counts[0] + counts[1] - intersection
        present = ops.cast(ops.greater(union, 0), "float32")
        iou = ops.divide_no_nan(intersection, union)
        mean = ops.divide_no_nan(ops.sum(iou * present), ops.sum(present))
        return ops.cast(mean, self.dtype)

    def per_class_iou(self):
        """Returns the Boundary IoU of every class (eager only).

        Returns:
            A NumPy float64 array of shape `(num_classes,)`, NaN for a class
            whose true and predicted bands are both empty.

        Raises:
            ValueError: If invalid labels were counted and
                `invalid_labels="raise"`.
        """
        self._check_invalid_labels()
        counts = _counting.to_int64(self._counts_hi.value, self._counts_lo.value)
        intersection = counts[2].astype(np.float64)
        union = (counts[0] + counts[1] - counts[2]).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, intersection / union, np.nan)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"band_width": self.band_width, "band_fraction": self.band_fraction}
        )
        return config
