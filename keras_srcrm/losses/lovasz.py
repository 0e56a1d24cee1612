"""Lovász-Softmax loss (Berman et al., 2018)."""

import keras
from keras import ops

from keras_srcrm.losses._region import RegionLoss
from keras_srcrm.utils.validation import check_bool


@keras.saving.register_keras_serializable(package="keras_srcrm")
class LovaszSoftmaxLoss(RegionLoss):
    """Lovász-Softmax loss: a convex surrogate of the mean IoU (Jaccard) loss.

    Berman, Triki and Blaschko, "The Lovász-Softmax loss: A tractable
    surrogate for the optimization of the intersection-over-union measure
    in neural networks", CVPR 2018. For each class `c`, with `p` the softmax
    probabilities and `g` the one-hot labels of the pixels considered:

    1. the errors `e_i = |g_i - p_i[c]|` are sorted in decreasing order;
    2. with `g` in that order, the Jaccard loss of the first `k` pixels is
       `J_k = 1 - (G - cumsum(g)_k) / (G + cumsum(1 - g)_k)`, `G = sum(g)`;
    3. the loss of class `c` is `sum_k e_(k) * (J_k - J_(k-1))`, the
       Lovász extension of the Jaccard loss at the error vector (its
       gradient weights `J_k - J_(k-1)` are constants).

    As the authors' reference code does by default, the pixels considered
    are all pixels of the batch (`per_image=False`), and the loss is the
    mean over the classes present in their labels (`classes="present"`).
    `per_image=True` computes it per image and averages over the images (an
    image without any labelled pixel counts 0, as in the reference code);
    `classes="all"` averages over every class. `class_weights` turn the mean
    over classes into a weighted mean.

    Ignored pixels (`ignore_label`, labels outside `[0, C)`, and
    `sample_weight` 0; any other `sample_weight` counts the pixel once) are
    left out exactly as if they were removed: they are sorted after every
    labelled pixel, with error and gradient 0. All shapes are static (one
    sort of fixed size per class), so the loss runs under XLA; it is
    computed in float32 whatever the dtype of `y_pred`.

    The sort costs `O(N log N)` per class for `N` pixels of the batch, more
    than the cross-entropy; it is commonly used to fine-tune, or summed with
    a cross-entropy through `CombinedLoss`.

    Args:
        from_logits: Whether `y_pred` holds logits (default) or
            probabilities summing to 1 over the last axis.
        ignore_label: Label id whose pixels are left out, or `None`.
            Defaults to 255.
        class_weights: Optional sequence of `C` non-negative weights.
        classes: `"present"` (default) or `"all"`.
        per_image: Whether to compute the loss per image and average.
            Defaults to False.
        name: Name of the loss. Defaults to `"lovasz_softmax_loss"`.

    Returns:
        When called as `loss(y_true, y_pred, sample_weight=None)`: a float32
        scalar.

    Example:

    ```python
    import numpy as np
    from keras_srcrm.losses import LovaszSoftmaxLoss

    loss = LovaszSoftmaxLoss()
    y_true = np.array([[[0, 1], [255, 1]]])
    y_pred = np.random.randn(1, 2, 2, 3).astype("float32")
    value = loss(y_true, y_pred)
    ```
    """

    def __init__(
        self,
        from_logits=True,
        ignore_label=255,
        class_weights=None,
        classes="present",
        per_image=False,
        name="lovasz_softmax_loss",
    ):
        super().__init__(from_logits, ignore_label, class_weights, classes, name)
        self.per_image = check_bool("per_image", per_image)

    def _class_losses(self, probs, labels, weight):
        num_classes = probs.shape[-1]
        groups = ops.shape(probs)[0] if self.per_image else 1
        valid = ops.greater(weight, 0.0)
        # (G, N, C) -> (G, C, N): one row of pixels per group and class.
        probs = ops.transpose(ops.reshape(probs, (groups, -1, num_classes)), (0, 2, 1))
        foreground = ops.transpose(
            ops.reshape(
                ops.one_hot(labels, num_classes, dtype="int32")
                * ops.expand_dims(ops.cast(valid, "int32"), -1),
                (groups, -1, num_classes),
            ),
            (0, 2, 1),
        )
        valid = ops.expand_dims(ops.reshape(valid, (groups, -1)), 1)
        errors = ops.abs(ops.cast(foreground, "float32") - probs)
        # Errors lie in [0, 1]: ignored pixels, keyed -1, sort after all.
        key = ops.where(valid, ops.stop_gradient(errors), -1.0)
        order = ops.argsort(-key, axis=-1)
        errors_sorted = ops.take_along_axis(ops.where(valid, errors, 0.0), order, -1)
        foreground_sorted = ops.take_along_axis(foreground, order, axis=-1)
        # Integer cumulative sums: exact beyond the 2**24 pixels of float32.
        total = ops.sum(foreground, axis=-1, keepdims=True)
        intersection = total - ops.cumsum(foreground_sorted, axis=-1)
        union = total + ops.cumsum(1 - foreground_sorted, axis=-1)
        jaccard = 1.0 - ops.cast(intersection, "float32") / ops.cast(union, "float32")
        gradient = ops.concatenate(
            [jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], axis=-1
        )
        losses = ops.sum(errors_sorted * ops.stop_gradient(gradient), axis=-1)
        present = ops.greater(ops.squeeze(total, -1), 0)
        return losses, present

    def get_config(self):
        config = super().get_config()
        config["per_image"] = self.per_image
        return config
