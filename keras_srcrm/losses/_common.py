"""Input handling shared by the segmentation losses.

Every loss of this package takes `y_true`, an integer class map `(B, H, W)` or
`(B, H, W, 1)`, and `y_pred`, scores `(B, H, W, C)` in any float dtype, and
computes in float32 with static shapes only (so it runs under XLA).
"""

import keras
from keras import ops


def scale_loss_for_distribution(value):
    """Divides a replica's loss by the number of `tf.distribute` replicas.

    What Keras's own losses do: under `tf.distribute` each replica returns its
    mean divided by the number of replicas, and the gradients are summed.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            value = value * (1.0 / replicas)
    return value


def standardize(y_true, y_pred, class_weights=None):
    """Checks the shapes; returns int32 labels `(B, ...)` and float32 scores.

    Args:
        y_true: Integer class map `(B, H, W)` or `(B, H, W, 1)`.
        y_pred: Scores `(B, H, W, C)` with a static `C`.
        class_weights: Optional list of weights, which must have `C` entries.

    Returns:
        `(labels, scores)`: int32 `(B, H, W)` and float32 `(B, H, W, C)`.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    pred_shape = tuple(y_pred.shape)
    true_shape = tuple(y_true.shape)
    if len(true_shape) == len(pred_shape) and true_shape[-1:] == (1,):
        y_true = ops.squeeze(y_true, axis=-1)
    elif len(true_shape) != len(pred_shape) - 1:
        raise ValueError(
            "`y_true` must be a class map of shape (B, H, W) or "
            "(B, H, W, 1) for `y_pred` of shape (B, H, W, C). Received: "
            f"y_true.shape={true_shape}, y_pred.shape={pred_shape}"
        )
    if len(pred_shape) < 2 or pred_shape[-1] is None:
        raise ValueError(
            "`y_pred` must have shape (B, ..., C) with a static number of "
            f"classes C. Received: y_pred.shape={pred_shape}"
        )
    for got, expected in zip(tuple(y_true.shape), pred_shape[:-1]):
        if got is not None and expected is not None and got != expected:
            raise ValueError(
                "`y_true` must match the batch and spatial shape of "
                f"`y_pred`. Received: y_true.shape={true_shape}, "
                f"y_pred.shape={pred_shape}"
            )
    num_classes = pred_shape[-1]
    if class_weights is not None and len(class_weights) != num_classes:
        raise ValueError(
            f"`class_weights` must have one weight per class ({num_classes} "
            f"for y_pred.shape={pred_shape}). Received: "
            f"{len(class_weights)} weights"
        )
    return ops.cast(y_true, "int32"), ops.cast(y_pred, "float32")


def valid_pixels(labels, num_classes, ignore_label):
    """Bool mask of the pixels with a label in `[0, C)` other than the ignore label.

    Labels outside `[0, C)` cannot be reported inside a compiled step; they
    are left out like the ignore label (the metrics report them).
    """
    valid = ops.logical_and(ops.greater_equal(labels, 0), ops.less(labels, num_classes))
    if ignore_label is not None:
        valid = ops.logical_and(valid, ops.not_equal(labels, ignore_label))
    return valid


def probabilities(scores, valid, from_logits):
    """Per-class probabilities, exactly 0 (with zero gradient) at invalid pixels.

    The scores of invalid pixels are replaced before the softmax, so that a
    non-finite score there (e.g. padding) reaches neither the loss nor the
    gradient.

    Args:
        scores: float32 `(B, ..., C)` logits or probabilities.
        valid: bool `(B, ...)`.
        from_logits: Whether `scores` are logits (softmax) or probabilities
            (normalised to sum 1 over the last axis).

    Returns:
        float32 `(B, ..., C)`.
    """
    mask = ops.expand_dims(valid, -1)
    if from_logits:
        probs = ops.softmax(ops.where(mask, scores, 0.0), axis=-1)
    else:
        safe = ops.where(mask, scores, 1.0)
        probs = safe / ops.sum(safe, axis=-1, keepdims=True)
    return ops.where(mask, probs, 0.0)


def log_probabilities(scores, valid, from_logits):
    """Per-class log-probabilities, 0 (with zero gradient) at invalid pixels."""
    mask = ops.expand_dims(valid, -1)
    if from_logits:
        log_probs = ops.log_softmax(ops.where(mask, scores, 0.0), axis=-1)
    else:
        safe = ops.where(mask, scores, 1.0)
        probs = safe / ops.sum(safe, axis=-1, keepdims=True)
        log_probs = ops.log(ops.clip(probs, keras.config.epsilon(), 1.0))
    return ops.where(mask, log_probs, 0.0)


def pixel_sample_weight(sample_weight, pixel_shape):
    """Broadcasts a scalar, `(B,)`, `(B, H, W)` or `(B, H, W, 1)` weight to pixels."""
    sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    shape = tuple(sample_weight.shape)
    rank = len(pixel_shape)
    if len(shape) == rank + 1 and shape[-1] == 1:
        sample_weight = ops.squeeze(sample_weight, axis=-1)
    elif len(shape) == 1 and rank > 1:
        sample_weight = ops.reshape(sample_weight, (-1,) + (1,) * (rank - 1))
    elif len(shape) not in (0, rank):
        raise ValueError(
            "`sample_weight` must be a scalar, or have shape (B,), "
            "(B, H, W) or (B, H, W, 1) for labels of shape "
            f"{pixel_shape}. Received: sample_weight.shape={shape}"
        )
    return sample_weight


def class_weight_tensor(class_weights, num_classes):
    """The class weights as a float32 `(C,)` tensor (ones when None)."""
    if class_weights is None:
        return ops.ones((num_classes,), "float32")
    return ops.convert_to_tensor(class_weights, "float32")
