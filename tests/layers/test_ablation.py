"""The FPN baseline differs from the SRM only by the learned offsets.

An SRM whose offsets are zero (its state at initialisation) must compute
what `FPNFusion` computes when built from the same options: the same
projections, the same resizes, the same fusion. The decoder builds its FPN
ablation from `srm_options` for that reason, and applies one
`align_corners` to every resize.
"""

import keras
import numpy as np
import pytest

from keras_srcrm.layers import ContextualRefinementModule
from keras_srcrm.layers import FPNFusion
from keras_srcrm.layers import NeighborOffsetAggregation
from keras_srcrm.layers import ResizeLike
from keras_srcrm.layers import SemanticRefinementModule
from keras_srcrm.layers import SRCRMDecoder
from tests.helpers import call_jitted
from tests.helpers import to_numpy

OPTIONS = [
    {},
    {"align_corners": True},
    {"fusion": "concat"},
    {"sample_from": "coarse", "padding_mode": "zeros", "align_corners": True},
    {"sample_from": "coarse", "padding_mode": "zeros"},
    {"sample_from": "coarse", "padding_mode": "reflection"},
]


def _copy_shared_weights(source, target):
    """Copies every weight of `target` from the same-named one of `source`."""
    by_path = {w.path.split("/", 1)[1]: w for w in source.weights}
    for weight in target.weights:
        weight.assign(by_path[weight.path.split("/", 1)[1]])


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: str(o) or "defaults")
def test_zero_offset_srm_equals_fpn_step(rng, options):
    high = rng.standard_normal((2, 5, 7, 12)).astype("float32")
    low = rng.standard_normal((2, 9, 13, 6)).astype("float32")
    srm = SemanticRefinementModule(8, name="step", **options)
    fpn = FPNFusion(8, name="step", **options)
    srm.build([high.shape, low.shape])
    fpn.build([high.shape, low.shape])
    for weight in srm.weights:
        if "offset" not in weight.path:
            weight.assign(rng.uniform(0.2, 0.8, weight.shape).astype("float32"))
    _copy_shared_weights(srm, fpn)
    np.testing.assert_array_equal(
        to_numpy(srm.offset_predictor.kernel), 0.0, "offsets start at zero"
    )
    np.testing.assert_allclose(
        to_numpy(call_jitted(srm, [high, low], training=False)),
        to_numpy(call_jitted(fpn, [high, low], training=False)),
        rtol=0,
        atol=1e-5,
    )
    # The SRM adds only the offset parameters.
    extra = {w.path for w in srm.weights} - {
        w.path.replace("step/", "step/", 1)
        for w in srm.weights
        if "offset" not in w.path
    }
    assert all("offset" in path for path in extra)
    assert len(fpn.weights) == len([w for w in srm.weights if "offset" not in w.path])


def test_decoder_fpn_ablation_takes_the_shared_srm_options():
    options = {"fusion": "concat", "sample_from": "coarse", "offset_groups": 2}
    decoder = SRCRMDecoder(8, use_srm=False, srm_options=options, align_corners=True)
    for step in decoder.top_down:
        assert type(step) is FPNFusion
        assert step.fusion == "concat"
        assert step.sample_from == "coarse"
        assert step.align_corners is True


def test_untrained_srm_decoder_equals_fpn_decoder(rng):
    shapes = [(1, 16, 20, 8), (1, 8, 10, 12), (1, 4, 5, 16), (1, 2, 3, 20)]
    stages = [rng.standard_normal(shape).astype("float32") for shape in shapes]
    options = {"fusion": "concat", "sample_from": "coarse", "padding_mode": "zeros"}
    with_srm = SRCRMDecoder(8, srm_options=options, align_corners=True, name="d")
    with_fpn = SRCRMDecoder(
        8, use_srm=False, srm_options=options, align_corners=True, name="d"
    )
    with_srm.build(shapes)
    with_fpn.build(shapes)
    by_name = {}
    for weight in with_srm.weights:
        if "offset" not in weight.path:
            weight.assign(rng.uniform(0.2, 0.8, weight.shape).astype("float32"))
            by_name[weight.path.replace("srm_p", "fpn_p")] = weight
    for weight in with_fpn.weights:
        weight.assign(by_name[weight.path])
    np.testing.assert_allclose(
        to_numpy(call_jitted(with_srm, stages, training=False)),
        to_numpy(call_jitted(with_fpn, stages, training=False)),
        # The positive weights make activations of ~1e5: float32 rounding
        # (relative 1e-7) differs with XLA's order of operations.
        rtol=1e-6,
        atol=1e-5,
    )


def test_align_corners_reaches_every_resize():
    decoder = SRCRMDecoder(8, align_corners=True)
    assert decoder.top.align_corners is True
    assert all(step.align_corners for step in decoder.top_down)
    config = decoder.get_config()
    assert config["align_corners"] is True
    assert SRCRMDecoder.from_config(config).top.align_corners is True


@pytest.mark.parametrize(
    "options, match",
    [
        ({"align_corners": True}, "the decoder sets them"),
        ({"filters": 4}, "the decoder sets them"),
        ({"offset_group": 2}, "does not take.*offset_group"),
        ("offset_groups=2", "must be a dict"),
    ],
)
def test_decoder_options_are_checked(options, match):
    with pytest.raises(ValueError, match=match):
        SRCRMDecoder(8, srm_options=options)


def test_crm_resizes_follow_align_corners(rng):
    shapes = [(1, 16, 16, 4), (1, 8, 8, 4), (1, 4, 4, 4), (1, 2, 2, 4)]
    stages = [rng.standard_normal(shape).astype("float32") for shape in shapes]
    outputs = []
    for align_corners in (False, True):
        keras.utils.set_random_seed(0)
        crm = ContextualRefinementModule(8, target_level=1, align_corners=align_corners)
        crm.build([s.shape for s in stages])
        outputs.append(to_numpy(call_jitted(crm, stages, training=False)))
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-4
    assert ResizeLike(align_corners=True).get_config()["align_corners"] is True


@pytest.mark.parametrize("offset_groups", [1, 2])
def test_dynamic_aggregation_is_a_convex_combination(rng, offset_groups):
    """Each refined offset lies between the smallest and the largest offset of
    its (edge-padded) neighbourhood, whatever the predicted weights."""
    layer = NeighborOffsetAggregation(3, offset_groups=offset_groups)
    offsets = rng.uniform(-5, 5, (2, 6, 7, 2 * offset_groups)).astype("float32")
    guide = rng.standard_normal((2, 6, 7, 4)).astype("float32")
    layer.build(offsets.shape, guide.shape)
    for weight in layer.weights:  # far from the uniform start
        weight.assign(rng.normal(0, 3.0, weight.shape).astype("float32"))
    refined = to_numpy(call_jitted(layer, offsets, guide=guide))
    padded = np.pad(offsets, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    windows = np.stack(
        [padded[:, dy : dy + 6, dx : dx + 7] for dy in range(3) for dx in range(3)]
    )
    tolerance = 1e-5
    assert np.all(refined >= windows.min(axis=0) - tolerance)
    assert np.all(refined <= windows.max(axis=0) + tolerance)
    # Not the trivial average: the weights follow the guide.
    assert np.abs(refined - windows.mean(axis=0)).max() > 1e-2
