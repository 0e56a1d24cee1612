"""Soft Dice loss for semantic segmentation."""

import keras
from keras import ops

from keras_srcrm.losses._region import RegionLoss
from keras_srcrm.utils.validation import check_number


@keras.saving.register_keras_serializable(package="keras_srcrm")
class DiceLoss(RegionLoss):
    """Soft Dice loss over the pixels of the batch, averaged over classes.

    With `p[i, c]` the softmax probability of class `c` at pixel `i`,
    `g[i, c]` the one-hot label and `s[i]` the pixel's weight (1, times its
    `sample_weight` if given; 0 at ignored pixels), for each class

        I_c = sum_i s p g,   P_c = sum_i s p,   G_c = sum_i s g,
        dice_c = (2 I_c + smooth) / (P_c + G_c + smooth),   l_c = 1 - dice_c

    summed over all pixels of the batch (the batch is one volume, as in
    segmentation_models_pytorch's `DiceLoss` and V-Net), and

        loss = sum_c w_c l_c / sum_c w_c

    over the classes present in the batch's labels (`G_c > 0`,
    `classes="present"`, the default) or over all classes
    (`classes="all"`, which also penalises probability mass on classes
    absent from the batch), with `w` the `class_weights` (1 by default). A
    class with `P_c + G_c + smooth = 0` has `dice_c = 1`; a batch with no
    counted class gives 0.

    Ignored pixels (`ignore_label`, labels outside `[0, C)`, `sample_weight`
    0) contribute nothing to the sums and get zero gradient, even where
    their logits are not finite. Computed in float32 whatever the dtype of
    `y_pred`, with static shapes only (XLA-safe). Usable alone or summed
    with a cross-entropy through `CombinedLoss`.

    Args:
        from_logits: Whether `y_pred` holds logits (default) or
            probabilities summing to 1 over the last axis.
        ignore_label: Label id whose pixels are left out, or `None`.
            Defaults to 255.
        class_weights: Optional sequence of `C` non-negative weights.
        classes: `"present"` (default) or `"all"`; see above.
        smooth: Additive smoothing, a number >= 0. Defaults to 0.0.
        name: Name of the loss. Defaults to `"dice_loss"`.

    Returns:
        When called as `loss(y_true, y_pred, sample_weight=None)`, with
        `y_true` a class map `(B, H, W)` or `(B, H, W, 1)` and `y_pred`
        scores `(B, H, W, C)`: a float32 scalar in `[0, 1]`.

    Example:

    ```python
    import numpy as np
    from keras_srcrm.losses import DiceLoss

    loss = DiceLoss()
    y_true = np.array([[[0, 1], [255, 1]]])  # one ignored pixel
    y_pred = np.random.randn(1, 2, 2, 3).astype("float32")
    value = loss(y_true, y_pred)  # mean over classes 0 and 1
    ```
    """

    def __init__(
        self,
        from_logits=True,
        ignore_label=255,
        class_weights=None,
        classes="present",
        smooth=0.0,
        name="dice_loss",
    ):
        super().__init__(from_logits, ignore_label, class_weights, classes, name)
        self.smooth = check_number("smooth", smooth, minimum=0.0)

    def _class_losses(self, probs, labels, weight):
        num_classes = probs.shape[-1]
        weight = ops.expand_dims(weight, -1)
        onehot = ops.one_hot(labels, num_classes, dtype="float32") * weight
        axes = tuple(range(len(probs.shape) - 1))
        intersection = ops.sum(probs * onehot, axis=axes)
        predicted = ops.sum(probs * weight, axis=axes)
        true = ops.sum(onehot, axis=axes)
        denominator = predicted + true + self.smooth
        nonzero = ops.greater(denominator, 0.0)
        dice = ops.where(
            nonzero,
            (2.0 * intersection + self.smooth) / ops.where(nonzero, denominator, 1.0),
            1.0,
        )
        losses = ops.expand_dims(1.0 - dice, 0)
        present = ops.expand_dims(ops.greater(true, 0.0), 0)
        return losses, present

    def get_config(self):
        config = super().get_config()
        config["smooth"] = self.smooth
        return config
