"""Tests of `SRCRMDecoder`."""

import keras
import numpy as np
import pytest
from keras.src import testing

from keras_srcrm.layers import ContextualRefinementModule
from keras_srcrm.layers import FPNFusion
from keras_srcrm.layers import SemanticRefinementModule
from keras_srcrm.layers import SRCRMDecoder
from tests.layers.utils import assert_keras_round_trip

CHANNELS = (8, 12, 16, 20)
STAGE_SHAPES = tuple((2, 64 // s, 48 // s, c) for s, c in zip((4, 8, 16, 32), CHANNELS))


class SRCRMDecoderLayerTest(testing.TestCase):
    def test_srm_and_crm(self):
        self.run_layer_test(
            SRCRMDecoder,
            init_kwargs={"filters": 8, "srm_options": {"offset_groups": 2}},
            input_shape=STAGE_SHAPES,
            expected_output_shape=(2, 16, 12, 8),
        )

    def test_plain_fpn_with_pyramid(self):
        self.run_layer_test(
            SRCRMDecoder,
            init_kwargs={
                "filters": 8,
                "use_srm": False,
                "use_crm": False,
                "return_pyramid": True,
            },
            input_shape=STAGE_SHAPES,
            expected_output_shape=(
                (2, 16, 12, 8),
                ((2, 8, 6, 8), (2, 4, 3, 8), (2, 2, 1, 8)),
            ),
        )


@pytest.mark.parametrize(
    "use_srm,use_crm", [(True, True), (True, False), (False, True), (False, False)]
)
def test_ablation_switches_choose_the_modules(use_srm, use_crm):
    decoder = SRCRMDecoder(8, use_srm=use_srm, use_crm=use_crm)
    decoder.build([list(s) for s in STAGE_SHAPES])
    step_type = SemanticRefinementModule if use_srm else FPNFusion
    assert all(type(step) is step_type for step in decoder.top_down)
    assert isinstance(decoder.top, ContextualRefinementModule) == use_crm


def test_module_options_reach_the_modules():
    decoder = SRCRMDecoder(
        8,
        srm_options={"offset_groups": 4, "fusion": "concat"},
        crm_options={"channel_attention": "gate", "target_level": 2},
    )
    assert all(step.offset_groups == 4 for step in decoder.top_down)
    assert all(step.fusion == "concat" for step in decoder.top_down)
    assert decoder.top.channel_attention == "gate"
    assert decoder.top.target_level == 2


def test_any_input_size(rng):
    inputs = [keras.Input((None, None, c)) for c in CHANNELS]
    model = keras.Model(inputs, SRCRMDecoder(8)(inputs))
    # Stage sizes of a 100x70 image under ceil rounding.
    shapes = [(1, 25, 18, 8), (1, 13, 9, 12), (1, 7, 5, 16), (1, 4, 3, 20)]
    out = model.predict([rng.standard_normal(s) for s in shapes], verbose=0)
    assert out.shape == (1, 25, 18, 8)


def test_round_trip(rng, tmp_path):
    inputs = [keras.Input((None, None, c)) for c in CHANNELS]
    decoder = SRCRMDecoder(8, return_pyramid=True)
    fused, pyramid = decoder(inputs)
    model = keras.Model(inputs, [fused, *pyramid])
    for step in decoder.top_down:
        kernel = step.offset_predictor.kernel
        kernel.assign(rng.normal(scale=0.05, size=kernel.shape).astype("float32"))
    stages = [rng.standard_normal(s).astype("float32") for s in STAGE_SHAPES]
    assert_keras_round_trip(model, stages, tmp_path / "decoder.keras")


def test_errors(rng):
    with pytest.raises(ValueError, match="filters"):
        SRCRMDecoder(0)
    stages = [rng.standard_normal(s).astype("float32") for s in STAGE_SHAPES]
    with pytest.raises(ValueError, match="list of 4 tensors"):
        SRCRMDecoder(8)(stages[1:])
    with pytest.raises(ValueError, match="offset_groups"):
        SRCRMDecoder(8, srm_options={"offset_groups": 3})
    assert np.isfinite(keras.ops.convert_to_numpy(SRCRMDecoder(8)(stages))).all()
