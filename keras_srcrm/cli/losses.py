"""`train --loss`: a loss, or a weighted sum of losses, from a short spec.

A spec is one or more terms joined by `+`, each a loss name with an
optional weight before it: `ce`, `ohem`, `dice`, `lovasz`, `focal`,
`ce+dice`, `ce+0.5*lovasz`, `ohem+0.4*dice`.
"""

import re

LOSS_NAMES = ("ce", "ohem", "dice", "lovasz", "focal")
# The OHEM recipe of the Cityscapes configurations of mmsegmentation and
# SFNet: pixels predicted with probability < 0.7 are hard, and at least
# 100,000 pixels per batch are kept.
OHEM_THRESHOLD = 0.7
OHEM_MIN_KEPT = 100_000

_TERM = re.compile(
    r"^\s*(?:(?P<weight>[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*\*\s*)?(?P<name>[a-z]+)\s*$"
)


def parse_loss_spec(spec):
    """Returns the `[(name, weight), ...]` terms of a `--loss` spec.

    Raises:
        ValueError: If a term is not `[WEIGHT*]NAME` with a known name, or a
            name is repeated.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"--loss takes e.g. ce or ce+0.5*dice. Received: {spec!r}")
    terms = []
    for text in spec.lower().split("+"):
        match = _TERM.match(text)
        if match is None or match.group("name") not in LOSS_NAMES:
            raise ValueError(
                f"--loss {spec!r}: {text.strip()!r} is not a loss. Each term is "
                f"[WEIGHT*]NAME with NAME one of {', '.join(LOSS_NAMES)}, e.g. "
                "ce+0.5*dice."
            )
        weight = float(match.group("weight") or 1.0)
        if weight <= 0:
            raise ValueError(f"--loss {spec!r}: weights must be > 0.")
        terms.append((match.group("name"), weight))
    names = [name for name, _ in terms]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"--loss {spec!r} names {', '.join(repeated)} more than once.")
    return terms


def _single_loss(name, from_logits, ignore_label):
    from keras_srcrm import losses

    options = {"from_logits": from_logits, "ignore_label": ignore_label}
    if name == "ce":
        return losses.SegmentationCrossEntropy(**options)
    if name == "ohem":
        return losses.SegmentationCrossEntropy(
            ohem_threshold=OHEM_THRESHOLD, ohem_min_kept=OHEM_MIN_KEPT, **options
        )
    if name == "dice":
        return losses.DiceLoss(**options)
    if name == "lovasz":
        return losses.LovaszSoftmaxLoss(**options)
    return losses.FocalLoss(**options)


def build_loss(spec, *, from_logits, ignore_label=255):
    """The Keras loss of a `--loss` spec.

    Args:
        spec: E.g. `"ce"` or `"ce+0.5*dice"`.
        from_logits: Whether the model outputs logits.
        ignore_label: The label every term leaves out.

    Returns:
        A `keras_srcrm.losses` loss; a `CombinedLoss` for a sum.
    """
    from keras_srcrm.losses import CombinedLoss

    terms = parse_loss_spec(spec)
    built = [_single_loss(name, from_logits, ignore_label) for name, _ in terms]
    if len(built) == 1 and terms[0][1] == 1.0:
        return built[0]
    return CombinedLoss(built, weights=[weight for _, weight in terms])
