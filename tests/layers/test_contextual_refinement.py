"""Tests of `ContextualRefinementModule`."""

import keras
import numpy as np
import pytest
from keras.src import testing

from keras_srcrm.layers import ContextualRefinementModule
from tests.helpers import to_numpy
from tests.layers.utils import assert_keras_round_trip
from tests.layers.utils import fit_one_step

CHANNELS = (8, 12, 16, 20)
# A 64x48 image: strides 4, 8, 16, 32.
STAGE_SHAPES = tuple((2, 64 // s, 48 // s, c) for s, c in zip((4, 8, 16, 32), CHANNELS))


def random_stages(rng, shapes=STAGE_SHAPES):
    return [rng.standard_normal(shape).astype("float32") for shape in shapes]


def stage_inputs():
    return [keras.Input((None, None, c)) for c in CHANNELS]


class ContextualRefinementModuleLayerTest(testing.TestCase):
    def test_default_configuration(self):
        self.run_layer_test(
            ContextualRefinementModule,
            init_kwargs={"filters": 16},
            input_shape=STAGE_SHAPES,
            expected_output_shape=(2, 2, 1, 16),
        )

    def test_gates_at_the_finest_level(self):
        self.run_layer_test(
            ContextualRefinementModule,
            init_kwargs={
                "filters": 16,
                "stage_filters": 6,
                "target_level": 0,
                "channel_attention": "gate",
                "spatial_attention": "gate",
                "reduction": 2,
            },
            input_shape=STAGE_SHAPES,
            expected_output_shape=(2, 16, 12, 16),
        )

    def test_without_attention(self):
        self.run_layer_test(
            ContextualRefinementModule,
            init_kwargs={
                "filters": 8,
                "target_level": 2,
                "channel_attention": None,
                "spatial_attention": None,
            },
            input_shape=STAGE_SHAPES,
            expected_output_shape=(2, 4, 3, 8),
        )


@pytest.mark.parametrize("target_level", [0, 1, 2, 3])
def test_output_has_the_target_level_size_for_any_input_size(rng, target_level):
    # A 100x70 image with ceil-rounded stage sizes: nothing divides evenly.
    shapes = [(1, 25, 18, 8), (1, 13, 9, 12), (1, 7, 5, 16), (1, 4, 3, 20)]
    inputs = stage_inputs()
    outputs = ContextualRefinementModule(16, target_level=target_level)(inputs)
    assert tuple(outputs.shape) == (None, None, None, 16)
    model = keras.Model(inputs, outputs)
    result = model.predict(random_stages(rng, shapes), verbose=0)
    assert result.shape == (1, *shapes[target_level][1:3], 16)


def test_attention_starts_as_identity(rng):
    # Zero residual scales: at init the CRM equals the same CRM without
    # attention, given the same projection weights.
    crm = ContextualRefinementModule(16)
    stages = random_stages(rng)
    expected = to_numpy(crm(stages))
    plain = ContextualRefinementModule(
        16, channel_attention=None, spatial_attention=None
    )
    plain(stages)
    plain.set_weights(_weights_without_attention(crm))
    np.testing.assert_allclose(to_numpy(plain(stages)), expected, atol=1e-5)


def _weights_without_attention(crm):
    weights = []
    for layer in [*crm.stage_projections, crm.output_projection]:
        weights.extend(layer.get_weights())
    return weights


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_attention_in_float32(rng, policy):
    crm = ContextualRefinementModule(16, dtype=policy)
    # Large activations: channel affinities overflow float16 if summed in it.
    stages = [300.0 * s for s in random_stages(rng)]
    out = crm(stages)
    assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
    assert crm.channel_attention_block.compute_dtype == "float32"
    assert crm.spatial_attention_block.compute_dtype == "float32"
    assert np.all(np.isfinite(to_numpy(out)))
    inputs = stage_inputs()
    outputs = ContextualRefinementModule(16, dtype=policy)(inputs)
    outputs = keras.layers.Activation("linear", dtype="float32")(outputs)
    model = keras.Model(inputs, outputs)
    loss = fit_one_step(model, random_stages(rng), rng.standard_normal((2, 2, 1, 16)))
    assert np.isfinite(loss)


def test_saved_model_round_trip_with_nonzero_attention(rng, tmp_path):
    inputs = stage_inputs()
    crm = ContextualRefinementModule(16, name="crm")
    model = keras.Model(inputs, crm(inputs))
    crm.channel_attention_block.gamma.assign(0.7)
    crm.spatial_attention_block.gamma.assign(-0.3)
    assert_keras_round_trip(model, random_stages(rng), tmp_path / "crm.keras")


class TestErrors:
    def test_wrong_number_of_inputs(self, rng):
        with pytest.raises(ValueError, match=r"list of 4 tensors.*Received 3 inputs"):
            ContextualRefinementModule(8)(random_stages(rng)[:3])

    def test_wrong_rank(self, rng):
        stages = random_stages(rng)
        stages[2] = stages[2][0]
        with pytest.raises(ValueError, match=r"`stage_3` to be a rank-4 tensor"):
            ContextualRefinementModule(8)(stages)

    def test_mismatched_batch(self, rng):
        stages = random_stages(rng)
        stages[1] = stages[1][:1]
        with pytest.raises(ValueError, match="same batch size"):
            ContextualRefinementModule(8)(stages)

    @pytest.mark.parametrize(
        "kwargs,match",
        [
            ({"filters": -1}, "filters"),
            ({"filters": True}, r"`filters` must be a positive int.*filters=True"),
            ({"filters": 8, "target_level": 4}, "target_level"),
            ({"filters": 8, "channel_attention": "se"}, "channel_attention"),
            ({"filters": 8, "spatial_attention": "nonlocal"}, "spatial_attention"),
            ({"filters": 8, "stage_filters": 0}, "stage_filters"),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            ContextualRefinementModule(**kwargs)
