"""`train --loss`: the spec of a loss or a weighted sum of losses."""

import keras
import numpy as np
import pytest

from keras_srcrm import losses
from keras_srcrm.cli.losses import build_loss
from keras_srcrm.cli.losses import parse_loss_spec


@pytest.mark.parametrize(
    "spec, terms",
    [
        ("ce", [("ce", 1.0)]),
        ("ce+dice", [("ce", 1.0), ("dice", 1.0)]),
        ("ohem + 0.4*lovasz", [("ohem", 1.0), ("lovasz", 0.4)]),
        ("2*focal+1e-1*dice", [("focal", 2.0), ("dice", 0.1)]),
    ],
)
def test_specs_name_losses_and_weights(spec, terms):
    assert parse_loss_spec(spec) == terms


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "--loss takes e.g. ce"),
        ("bce", "'bce' is not a loss"),
        ("ce+", "'' is not a loss"),
        ("ce*0.5", "'ce*0.5' is not a loss"),
        ("ce+dice+ce", "names ce more than once"),
        ("0*dice", "weights must be > 0"),
    ],
)
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(ValueError, match="--loss") as error:
        parse_loss_spec(spec)
    assert message in str(error.value)


def test_each_name_builds_its_loss_with_the_run_options():
    built = {
        name: build_loss(name, from_logits=False, ignore_label=7)
        for name in ("ce", "ohem", "dice", "lovasz", "focal")
    }
    assert type(built["ce"]) is losses.SegmentationCrossEntropy
    assert built["ce"].ohem_threshold is None
    assert built["ohem"].ohem_threshold == 0.7
    assert isinstance(built["dice"], losses.DiceLoss)
    assert isinstance(built["lovasz"], losses.LovaszSoftmaxLoss)
    assert isinstance(built["focal"], losses.FocalLoss)
    for loss in built.values():
        assert loss.from_logits is False and loss.ignore_label == 7


def test_a_sum_is_the_weighted_sum_of_its_terms():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (2, 5, 6)).astype("int32")
    labels[0, 0, :3] = 255
    logits = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    summed = build_loss("ce+0.5*dice", from_logits=True)
    ce = losses.SegmentationCrossEntropy(from_logits=True)
    dice = losses.DiceLoss(from_logits=True)
    expected = ce(labels, logits) + 0.5 * dice(labels, logits)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(summed(labels, logits)),
        keras.ops.convert_to_numpy(expected),
        rtol=1e-5,
    )
