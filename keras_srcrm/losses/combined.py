"""A weighted sum of losses, e.g. cross-entropy + Dice."""

import keras

from keras_srcrm.utils.validation import check_number


@keras.saving.register_keras_serializable(package="keras_srcrm")
class CombinedLoss(keras.losses.Loss):
    """A weighted sum of losses on the same output.

    `loss(y_true, y_pred, sample_weight) = sum_i weights[i] *
    losses[i](y_true, y_pred, sample_weight)`: each term is reduced by its
    own loss (its ignore label, class weights, reduction), so e.g. a
    cross-entropy averaged over pixels and a Dice loss averaged over classes
    add up as mmsegmentation's lists of decode-head losses and
    segmentation_models' `loss_1 + loss_2` do. Give every term the same
    `ignore_label` and `from_logits`.

    Args:
        losses: A non-empty sequence of Keras losses (instances, or names
            that `keras.losses.get` knows).
        weights: Optional sequence of non-negative numbers, one per loss.
            Defaults to 1 for every loss.
        name: Name of the loss. Defaults to `"combined_loss"`.

    Example:

    ```python
    from keras_srcrm.losses import CombinedLoss
    from keras_srcrm.losses import DiceLoss
    from keras_srcrm.losses import SegmentationCrossEntropy

    loss = CombinedLoss([SegmentationCrossEntropy(), DiceLoss()], weights=[1.0, 0.5])
    model.compile(optimizer="sgd", loss=loss)  # or model.compile(loss=loss)
    ```
    """

    def __init__(self, losses, weights=None, name="combined_loss"):
        super().__init__(name=name, reduction="sum_over_batch_size", dtype="float32")
        if isinstance(losses, (str, keras.losses.Loss)) or not losses:
            raise ValueError(
                "`losses` must be a non-empty sequence of losses. "
                f"Received: losses={losses!r}"
            )
        self.losses = [keras.losses.get(loss) for loss in losses]
        if weights is None:
            weights = [1.0] * len(self.losses)
        weights = list(weights)
        if len(weights) != len(self.losses):
            raise ValueError(
                f"`weights` must have one weight per loss ({len(self.losses)} "
                f"losses). Received: weights={weights!r}"
            )
        self.weights = [
            check_number(f"weights[{index}]", weight, minimum=0.0)
            for index, weight in enumerate(weights)
        ]

    def call(self, y_true, y_pred):
        return self(y_true, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            total = None
            for weight, loss in zip(self.weights, self.losses):
                term = weight * loss(y_true, y_pred, sample_weight=sample_weight)
                total = term if total is None else total + term
            return total

    def get_config(self):
        return {
            "name": self.name,
            "losses": [keras.losses.serialize(loss) for loss in self.losses],
            "weights": self.weights,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["losses"] = [keras.losses.deserialize(c) for c in config["losses"]]
        return cls(**config)
