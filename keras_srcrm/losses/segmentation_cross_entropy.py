"""Pixel-wise cross-entropy with an ignore label, class weights and OHEM."""

import keras
from keras import ops

from keras_srcrm.losses import _common
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_class_weights
from keras_srcrm.utils.validation import check_ignore_label
from keras_srcrm.utils.validation import check_int
from keras_srcrm.utils.validation import check_number


@keras.saving.register_keras_serializable(package="keras_srcrm")
class SegmentationCrossEntropy(keras.losses.Loss):
    """Pixel-wise cross-entropy for semantic segmentation.

    Computes, for every pixel with a label in `[0, C)` other than
    `ignore_label`, `l = -log softmax(y_pred)[y_true]`, optionally keeps only
    the hard pixels (OHEM), and averages over the kept pixels of the whole
    batch, weighted by `class_weights` as `torch.nn.CrossEntropyLoss` does:

        loss = sum_kept(w[y] * l) / sum_kept(w[y])

    Everything is computed in float32, whatever the dtype of the logits
    (float16 and bfloat16 logits of mixed precision are upcast). The
    computation has static shapes only, so it runs under XLA
    (`jit_compile=True`) on TensorFlow and JAX and eagerly on torch.

    Ignored pixels (and labels outside `[0, C)`, which cannot be checked
    inside a compiled step; use the metrics of `keras_srcrm.metrics` to catch
    them) get exactly zero loss and zero gradient, and do not count in the
    mean. A batch with no kept pixel gives a loss of 0, never NaN.

    **OHEM** (online hard example mining, as SFNet's
    `OhemCrossEntropy2dTensor` and mmsegmentation's `OHEMPixelSampler` use it
    on Cityscapes with threshold 0.7 and 100k pixels): with `p` the softmax
    probability of the true class, the kept pixels are the valid pixels with
    `p < ohem_threshold`, plus, if those are fewer than `ohem_min_kept`, the
    `ohem_min_kept` valid pixels of lowest `p` (ties included, so possibly a
    few more). `ohem_min_kept` counts pixels over the whole batch (per replica
    under distribution), as in SFNet; it is found with a sort of the batch's
    probabilities, which has a static shape.

    **Reduction and `sample_weight`.** Keras's reductions divide by "the
    batch size"; here the batch is the set of kept pixels, each counting
    `w[y]`. With `s` the `sample_weight` broadcast to pixels (a scalar, or
    shape `(B,)`, `(B, H, W)` or `(B, H, W, 1)`):

    * `"sum_over_batch_size"` (default) and `"mean"`:
      `sum(s * w * l) / sum(w)`. As in Keras, `sample_weight` scales each
      pixel's loss without changing the divisor; with no `sample_weight` this
      is exactly the torch weighted mean above.
    * `"mean_with_sample_weight"`: `sum(s * w * l) / sum(s * w)`, a mean
      weighted by `s` as well (e.g. to drop whole images with `s = 0`
      without diluting the mean).
    * `"sum"`: `sum(s * w * l)`.
    * `None` / `"none"`: the per-pixel values `s * w * l`, shape `(B, H, W)`,
      zero at pixels not kept.

    Args:
        from_logits: Whether `y_pred` holds logits (default) or probabilities
            summing to 1 over the last axis.
        ignore_label: Label id whose pixels are left out, or `None`.
            Defaults to 255.
        class_weights: Optional sequence of `C` non-negative weights, one per
            class.
        ohem_threshold: Probability in `(0, 1]` below which a pixel is hard,
            e.g. 0.7; `None` (default) turns OHEM off.
        ohem_min_kept: With OHEM on, the least number of pixels kept per
            batch. Defaults to 100_000.
        reduction: One of `"sum_over_batch_size"` (default), `"mean"`,
            `"mean_with_sample_weight"`, `"sum"`, `"none"` or `None`; see
            above.
        name: Name of the loss. Defaults to `"segmentation_cross_entropy"`.

    Returns:
        When called as `loss(y_true, y_pred, sample_weight=None)` with
        `y_true` an integer class map `(B, H, W)` or `(B, H, W, 1)` and
        `y_pred` of shape `(B, H, W, C)`: a float32 scalar, or the per-pixel
        losses for `reduction="none"`.

    Example:

    ```python
    import numpy as np
    from keras_srcrm.losses import SegmentationCrossEntropy

    loss = SegmentationCrossEntropy(ohem_threshold=0.7, ohem_min_kept=100_000)
    y_true = np.array([[[0, 1], [255, 2]]])  # one ignored pixel
    y_pred = np.random.randn(1, 2, 2, 3).astype("float32")
    value = loss(y_true, y_pred)  # mean over the 3 labelled pixels
    # model.compile(optimizer="adam", loss=loss, jit_compile=True)
    ```
    """

    def __init__(
        self,
        from_logits=True,
        ignore_label=255,
        class_weights=None,
        ohem_threshold=None,
        ohem_min_kept=100_000,
        reduction="sum_over_batch_size",
        name="segmentation_cross_entropy",
    ):
        # Keras validates `reduction`.
        super().__init__(name=name, reduction=reduction, dtype="float32")
        self.from_logits = check_bool("from_logits", from_logits)
        self.ignore_label = check_ignore_label(ignore_label, allow_none=True)
        self.class_weights = check_class_weights(class_weights)
        self.ohem_threshold = None
        if ohem_threshold is not None:
            self.ohem_threshold = check_number(
                "ohem_threshold", ohem_threshold, positive=True, maximum=1.0
            )
        self.ohem_min_kept = check_int("ohem_min_kept", ohem_min_kept, minimum=0)

    def _standardize(self, y_true, y_pred):
        return _common.standardize(y_true, y_pred, self.class_weights)

    def _kept_losses(self, y_true, y_pred):
        """Returns the per-pixel losses and per-pixel weights `w[y] * kept`."""
        labels, scores = self._standardize(y_true, y_pred)
        valid = _common.valid_pixels(labels, scores.shape[-1], self.ignore_label)
        safe_labels = ops.where(valid, labels, 0)
        log_probs = _common.log_probabilities(scores, valid, self.from_logits)
        nll = self._pixel_losses(log_probs, safe_labels)

        kept = valid
        if self.ohem_threshold is not None:
            kept = ops.logical_and(valid, self._hard_pixels(nll, valid))
        weights = ops.cast(kept, "float32")
        if self.class_weights is not None:
            class_weights = ops.convert_to_tensor(self.class_weights, "float32")
            weights = weights * ops.take(class_weights, safe_labels)
        # `where`, not only a zero weight: a non-finite logit at an ignored
        # pixel (e.g. padding) must not turn the loss into NaN (0 * inf).
        return ops.where(kept, nll, 0.0), weights

    def _pixel_losses(self, log_probs, labels):
        """The loss of each pixel from its log-probabilities and label."""
        return -ops.squeeze(
            ops.take_along_axis(log_probs, ops.expand_dims(labels, -1), axis=-1),
            axis=-1,
        )

    def _hard_pixels(self, nll, valid):
        """OHEM selection: a bool mask of the hard pixels among `valid`."""
        true_prob = ops.exp(-ops.stop_gradient(nll))
        hard = ops.less(true_prob, self.ohem_threshold)
        if self.ohem_min_kept == 0:
            return hard
        # Invalid pixels sort after every probability (which are <= 1).
        flat = ops.reshape(ops.where(valid, true_prob, 2.0), (-1,))
        num_valid = ops.sum(ops.cast(valid, "int32"))
        kept_at_least = ops.minimum(num_valid, self.ohem_min_kept)
        ascending = ops.sort(flat)
        kth_prob = ops.take(ascending, ops.maximum(kept_at_least - 1, 0))
        return ops.logical_or(hard, ops.less_equal(true_prob, kth_prob))

    def _pixel_sample_weight(self, sample_weight, pixel_shape):
        return _common.pixel_sample_weight(sample_weight, pixel_shape)

    def call(self, y_true, y_pred):
        """Returns the per-pixel losses `w[y] * l`, zero at pixels not kept."""
        losses, weights = self._kept_losses(y_true, y_pred)
        return losses * weights

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            losses, weights = self._kept_losses(y_true, y_pred)
            scale = weights
            if sample_weight is not None:
                sample_weight = self._pixel_sample_weight(
                    sample_weight, tuple(losses.shape)
                )
                scale = weights * sample_weight
            weighted = losses * scale
            if self.reduction is None or self.reduction == "none":
                return weighted
            total = ops.sum(weighted)
            if self.reduction == "sum":
                return total
            divisor = ops.sum(
                scale if self.reduction == "mean_with_sample_weight" else weights
            )
            # An empty batch gives 0 / 1 = 0, with a finite (zero) gradient.
            divisor = ops.where(ops.greater(divisor, 0.0), divisor, 1.0)
            return _common.scale_loss_for_distribution(total / divisor)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "from_logits": self.from_logits,
                "ignore_label": self.ignore_label,
                "class_weights": self.class_weights,
                "ohem_threshold": self.ohem_threshold,
                "ohem_min_kept": self.ohem_min_kept,
            }
        )
        return config
