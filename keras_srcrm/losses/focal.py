"""Focal loss for semantic segmentation (Lin et al., 2017)."""

import keras
from keras import ops

from keras_srcrm.losses.segmentation_cross_entropy import SegmentationCrossEntropy
from keras_srcrm.utils.validation import check_number


@keras.saving.register_keras_serializable(package="keras_srcrm")
class FocalLoss(SegmentationCrossEntropy):
    """Softmax focal loss for semantic segmentation.

    For every pixel with a label `y` in `[0, C)` other than `ignore_label`,
    with `p` the softmax probability of the true class,

        l = -(1 - p) ** gamma * log(p)

    (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, eq. 4,
    with the softmax over the `C` classes of segmentation rather than one
    sigmoid per class). Easy pixels (`p` near 1) are down-weighted, so
    training concentrates on the hard ones; `gamma=0` is exactly
    `SegmentationCrossEntropy`. `class_weights` plays the role of the
    paper's `alpha`, one weight per class.

    The mean over the batch, the ignore label, `class_weights`,
    `sample_weight`, the reductions, float32 computation under mixed
    precision and XLA-safety are those of `SegmentationCrossEntropy`
    (without OHEM): with `w[y]` the class weight,
    `loss = sum_valid(w[y] * l) / sum_valid(w[y])`. Ignored pixels have zero
    loss and zero gradient, even where their logits are not finite.

    Args:
        gamma: Focusing parameter, a number >= 0. Defaults to 2.0, the
            paper's value.
        from_logits: Whether `y_pred` holds logits (default) or
            probabilities.
        ignore_label: Label id whose pixels are left out, or `None`.
            Defaults to 255.
        class_weights: Optional sequence of `C` non-negative weights.
        reduction: As in `SegmentationCrossEntropy`. Defaults to
            `"sum_over_batch_size"`.
        name: Name of the loss. Defaults to `"focal_loss"`.

    Example:

    ```python
    import numpy as np
    from keras_srcrm.losses import FocalLoss

    loss = FocalLoss(gamma=2.0)
    y_true = np.array([[[0, 1], [255, 2]]])  # one ignored pixel
    y_pred = np.random.randn(1, 2, 2, 3).astype("float32")
    value = loss(y_true, y_pred)
    ```
    """

    def __init__(
        self,
        gamma=2.0,
        from_logits=True,
        ignore_label=255,
        class_weights=None,
        reduction="sum_over_batch_size",
        name="focal_loss",
    ):
        super().__init__(
            from_logits=from_logits,
            ignore_label=ignore_label,
            class_weights=class_weights,
            reduction=reduction,
            name=name,
        )
        self.gamma = check_number("gamma", gamma, minimum=0.0)

    def _pixel_losses(self, log_probs, labels):
        log_p = ops.squeeze(
            ops.take_along_axis(log_probs, ops.expand_dims(labels, -1), axis=-1),
            axis=-1,
        )
        if self.gamma == 0.0:
            return -log_p
        complement = 1.0 - ops.exp(log_p)
        positive = ops.greater(complement, 0.0)
        # The `where` inside keeps the gradient of `x ** gamma` finite at
        # x = 0 (p = 1), where the outer `where` gives the modulation 0.
        safe = ops.where(positive, complement, 1.0)
        modulation = ops.where(positive, ops.power(safe, self.gamma), 0.0)
        return -modulation * log_p

    def get_config(self):
        config = super().get_config()
        del config["ohem_threshold"], config["ohem_min_kept"]
        config["gamma"] = self.gamma
        return config
