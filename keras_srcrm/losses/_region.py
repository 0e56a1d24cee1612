"""The base class of losses computed over whole sets of pixels (Dice, Lovász)."""

import keras
from keras import ops

from keras_srcrm.losses import _common
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_class_weights
from keras_srcrm.utils.validation import check_ignore_label

CLASSES = ("present", "all")


class RegionLoss(keras.losses.Loss):
    """A loss of the class regions of a batch, averaged over classes.

    Subclasses implement `_class_losses(probs, labels, weight)`, returning
    the per-class losses `(G, C)` and the per-class presence `(G, C)` (bool)
    for `G` groups of pixels (1 for the whole batch, or one per image). This
    class averages them over the classes (`"present"` ones or `"all"`),
    weighted by `class_weights`, then over the groups.
    """

    def __init__(self, from_logits, ignore_label, class_weights, classes, name):
        super().__init__(name=name, reduction="sum_over_batch_size", dtype="float32")
        self.from_logits = check_bool("from_logits", from_logits)
        self.ignore_label = check_ignore_label(ignore_label, allow_none=True)
        self.class_weights = check_class_weights(class_weights)
        self.classes = check_choice("classes", classes, CLASSES)

    def _class_losses(self, probs, labels, weight):
        raise NotImplementedError

    def _loss(self, y_true, y_pred, sample_weight):
        labels, scores = _common.standardize(y_true, y_pred, self.class_weights)
        num_classes = scores.shape[-1]
        valid = _common.valid_pixels(labels, num_classes, self.ignore_label)
        weight = ops.cast(valid, "float32")
        if sample_weight is not None:
            sample_weight = _common.pixel_sample_weight(
                sample_weight, tuple(labels.shape)
            )
            weight = weight * sample_weight
            valid = ops.logical_and(valid, ops.not_equal(weight, 0.0))
        probs = _common.probabilities(scores, valid, self.from_logits)
        labels = ops.where(valid, labels, 0)
        losses, present = self._class_losses(probs, labels, weight)
        class_weights = _common.class_weight_tensor(self.class_weights, num_classes)
        counted = class_weights * ops.ones_like(losses)
        if self.classes == "present":
            counted = counted * ops.cast(present, "float32")
        total = ops.sum(counted, axis=-1)
        # A group without a counted class contributes 0 (with zero gradient).
        per_group = ops.sum(losses * counted, axis=-1) / ops.where(
            ops.greater(total, 0.0), total, 1.0
        )
        return ops.mean(per_group)

    def call(self, y_true, y_pred):
        return self._loss(y_true, y_pred, None)

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            value = self._loss(y_true, y_pred, sample_weight)
            return _common.scale_loss_for_distribution(value)

    def get_config(self):
        return {
            "name": self.name,
            "from_logits": self.from_logits,
            "ignore_label": self.ignore_label,
            "class_weights": self.class_weights,
            "classes": self.classes,
        }
