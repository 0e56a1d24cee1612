"""Independent NumPy implementations of the segmentation losses.

Written from the papers and the authors' reference code, on the labelled
pixels only (ignored pixels are removed, not masked), in float64.
"""

import numpy as np


def softmax(logits):
    logits = np.asarray(logits, np.float64)
    # Non-finite logits (at ignored pixels, which are dropped) give NaN rows.
    with np.errstate(invalid="ignore"):
        shifted = np.exp(logits - logits.max(-1, keepdims=True))
        return shifted / shifted.sum(-1, keepdims=True)


def _keep(labels, num_classes, ignore_label, mask=None):
    labels = np.asarray(labels).reshape(-1)
    keep = (labels >= 0) & (labels < num_classes)
    if ignore_label is not None:
        keep &= labels != ignore_label
    if mask is not None:
        keep &= np.asarray(mask).reshape(-1)
    return keep


def _flat_valid(labels, probs, ignore_label, mask=None):
    num_classes = probs.shape[-1]
    labels = np.asarray(labels).reshape(-1)
    probs = probs.reshape(-1, num_classes)
    keep = (labels >= 0) & (labels < num_classes)
    if ignore_label is not None:
        keep &= labels != ignore_label
    if mask is not None:
        keep &= np.asarray(mask).reshape(-1)
    return labels[keep], probs[keep]


def _weighted_class_mean(losses, counted, class_weights):
    weights = np.ones(len(losses)) if class_weights is None else class_weights
    weights = np.asarray(weights, np.float64) * counted
    if weights.sum() == 0:
        return 0.0
    return float((weights * np.asarray(losses)).sum() / weights.sum())


def dice_loss(
    labels,
    scores,
    ignore_label=255,
    class_weights=None,
    classes="present",
    smooth=0.0,
    from_logits=True,
    pixel_weights=None,
):
    probs = softmax(scores) if from_logits else np.asarray(scores, np.float64)
    if not from_logits:
        probs = probs / probs.sum(-1, keepdims=True)
    num_classes = probs.shape[-1]
    weights = None if pixel_weights is None else np.asarray(pixel_weights, float)
    mask = None if weights is None else weights != 0
    labels_v, probs_v = _flat_valid(labels, probs, ignore_label, mask)
    weights_v = (
        np.ones(len(labels_v))
        if weights is None
        else weights.reshape(-1)[_keep(labels, num_classes, ignore_label, mask)]
    )
    losses, present = [], []
    for c in range(num_classes):
        truth = (labels_v == c).astype(float)
        intersection = np.sum(weights_v * truth * probs_v[:, c])
        cardinality = np.sum(weights_v * probs_v[:, c]) + np.sum(weights_v * truth)
        if cardinality + smooth == 0:
            dice = 1.0
        else:
            dice = (2 * intersection + smooth) / (cardinality + smooth)
        losses.append(1.0 - dice)
        present.append(truth.sum() > 0)
    counted = np.array(present) if classes == "present" else np.ones(num_classes)
    return _weighted_class_mean(losses, counted, class_weights)


def lovasz_grad(gt_sorted):
    """Berman et al.'s `lovasz_grad`: gradient of the Lovász extension."""
    gts = gt_sorted.sum()
    intersection = gts - np.cumsum(gt_sorted)
    union = gts + np.cumsum(1.0 - gt_sorted)
    jaccard = 1.0 - intersection / union
    if len(gt_sorted) > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def _lovasz_flat(labels, probs, classes, class_weights):
    if len(labels) == 0:
        return 0.0
    losses, counted = [], []
    for c in range(probs.shape[-1]):
        foreground = (labels == c).astype(float)
        if classes == "present" and foreground.sum() == 0:
            losses.append(0.0)
            counted.append(0.0)
            continue
        errors = np.abs(foreground - probs[:, c])
        order = np.argsort(-errors, kind="stable")
        losses.append(float(np.dot(errors[order], lovasz_grad(foreground[order]))))
        counted.append(1.0)
    return _weighted_class_mean(losses, np.array(counted), class_weights)


def lovasz_softmax_loss(
    labels,
    scores,
    ignore_label=255,
    class_weights=None,
    classes="present",
    per_image=False,
    from_logits=True,
):
    """`lovasz_softmax` of the reference code, with optional class weights."""
    probs = softmax(scores) if from_logits else np.asarray(scores, np.float64)
    if per_image:
        return float(
            np.mean(
                [
                    _lovasz_flat(
                        *_flat_valid(label, prob, ignore_label), classes, class_weights
                    )
                    for label, prob in zip(labels, probs)
                ]
            )
        )
    return _lovasz_flat(
        *_flat_valid(labels, probs, ignore_label), classes, class_weights
    )


def focal_loss(labels, scores, gamma=2.0, ignore_label=255, class_weights=None):
    probs = softmax(scores)
    labels_v, probs_v = _flat_valid(labels, probs, ignore_label)
    if len(labels_v) == 0:
        return 0.0
    p = probs_v[np.arange(len(labels_v)), labels_v]
    losses = -((1.0 - p) ** gamma) * np.log(p)
    weights = (
        np.ones(len(labels_v))
        if class_weights is None
        else np.asarray(class_weights, float)[labels_v]
    )
    return float((weights * losses).sum() / weights.sum())
