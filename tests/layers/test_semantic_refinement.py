"""Tests of `SemanticRefinementModule`."""

import keras
import numpy as np
import pytest
from keras.src import testing

from keras_srcrm.layers import FPNFusion
from keras_srcrm.layers import SemanticRefinementModule
from keras_srcrm.ops import resize_bilinear
from tests.helpers import to_numpy
from tests.layers.utils import assert_keras_round_trip
from tests.layers.utils import fit_one_step

HIGH_SHAPE = (2, 4, 5, 24)
LOW_SHAPE = (2, 8, 10, 8)


class SemanticRefinementModuleLayerTest(testing.TestCase):
    def test_default_configuration(self):
        self.run_layer_test(
            SemanticRefinementModule,
            init_kwargs={"filters": 16},
            input_shape=(HIGH_SHAPE, LOW_SHAPE),
            expected_output_shape=(2, 8, 10, 16),
        )

    def test_grouped_static_concat_corner_aligned(self):
        self.run_layer_test(
            SemanticRefinementModule,
            init_kwargs={
                "filters": 16,
                "offset_groups": 4,
                "neighbor_aggregation": "static",
                "neighbor_kernel_size": 5,
                "fusion": "concat",
                "align_corners": True,
            },
            input_shape=(HIGH_SHAPE, LOW_SHAPE),
            expected_output_shape=(2, 8, 10, 16),
        )

    def test_without_neighbor_refinement_and_same_channels(self):
        self.run_layer_test(
            SemanticRefinementModule,
            init_kwargs={"filters": 24, "neighbor_kernel_size": 1},
            input_shape=(HIGH_SHAPE, (2, 7, 9, 3)),
            expected_output_shape=(2, 7, 9, 24),
        )

    def test_return_offsets(self):
        self.run_layer_test(
            SemanticRefinementModule,
            init_kwargs={"filters": 16, "offset_groups": 2, "return_offsets": True},
            input_shape=(HIGH_SHAPE, LOW_SHAPE),
            expected_output_shape=((2, 8, 10, 16), (2, 8, 10, 4)),
        )


def random_inputs(rng, high_shape=HIGH_SHAPE, low_shape=LOW_SHAPE):
    high = rng.standard_normal(high_shape).astype("float32")
    low = rng.standard_normal(low_shape).astype("float32")
    return high, low


@pytest.mark.parametrize("align_corners", [False, True])
def test_untrained_srm_is_bilinear_upsampling_plus_fusion(rng, align_corners):
    srm = SemanticRefinementModule(16, align_corners=align_corners)
    high, low = random_inputs(rng)
    out = to_numpy(srm([high, low]))
    projected_high = srm.high_projection(high)
    expected = to_numpy(srm.low_projection(low)) + to_numpy(
        resize_bilinear(projected_high, (8, 10), align_corners=align_corners)
    )
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_untrained_srm_equals_its_fpn_ablation(rng):
    high, low = random_inputs(rng)
    srm = SemanticRefinementModule(16)
    fpn = FPNFusion(16)
    expected = to_numpy(srm([high, low]))
    fpn([high, low])
    fpn.low_projection.set_weights(srm.low_projection.get_weights())
    fpn.high_projection.set_weights(srm.high_projection.get_weights())
    np.testing.assert_allclose(to_numpy(fpn([high, low])), expected, atol=1e-6)


def test_offsets_start_at_zero_and_receive_gradient(rng):
    srm = SemanticRefinementModule(8, return_offsets=True)
    high, low = random_inputs(rng)
    _, offsets = srm([high, low])
    np.testing.assert_array_equal(to_numpy(offsets), 0.0)
    high_in = keras.Input(HIGH_SHAPE[1:])
    low_in = keras.Input(LOW_SHAPE[1:])
    fused = SemanticRefinementModule(8, name="srm")([high_in, low_in])
    model = keras.Model([high_in, low_in], fused)
    kernel_before = to_numpy(model.get_layer("srm").offset_predictor.kernel)
    fit_one_step(model, [high, low], rng.standard_normal((2, 8, 10, 8)))
    kernel_after = to_numpy(model.get_layer("srm").offset_predictor.kernel)
    # The zero-flow gradient trap would leave the offset predictor at zero.
    assert np.abs(kernel_after - kernel_before).max() > 0


@pytest.mark.parametrize(
    "high_size,low_size", [((4, 5), (8, 10)), ((5, 3), (9, 7)), ((7, 7), (7, 7))]
)
def test_any_input_size_with_none_spatial_dims(rng, high_size, low_size):
    high_in = keras.Input((None, None, 6))
    low_in = keras.Input((None, None, 4))
    srm = SemanticRefinementModule(8, return_offsets=True)
    fused, offsets = srm([high_in, low_in])
    assert tuple(fused.shape) == (None, None, None, 8)
    assert tuple(offsets.shape) == (None, None, None, 2)
    model = keras.Model([high_in, low_in], [fused, offsets])
    high, low = random_inputs(rng, (1, *high_size, 6), (1, *low_size, 4))
    fused, offsets = model.predict([high, low], verbose=0)
    assert fused.shape == (1, *low_size, 8)
    assert offsets.shape == (1, *low_size, 2)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(rng, policy):
    srm = SemanticRefinementModule(8, return_offsets=True, dtype=policy)
    high, low = random_inputs(rng)
    fused, offsets = srm([high, low])
    assert keras.backend.standardize_dtype(fused.dtype) == policy.split("_")[1]
    assert keras.backend.standardize_dtype(offsets.dtype) == "float32"
    assert srm.offset_predictor.compute_dtype == "float32"
    assert np.all(np.isfinite(to_numpy(fused)))
    high_in = keras.Input((None, None, 24))
    low_in = keras.Input((None, None, 8))
    out = SemanticRefinementModule(8, dtype=policy)([high_in, low_in])
    out = keras.layers.Activation("linear", dtype="float32")(out)
    model = keras.Model([high_in, low_in], out)
    loss = fit_one_step(model, [high, low], rng.standard_normal((2, 8, 10, 8)))
    assert np.isfinite(loss)


def test_saved_model_round_trip_with_nonzero_offsets(rng, tmp_path):
    high_in = keras.Input((None, None, 24))
    low_in = keras.Input((None, None, 8))
    srm = SemanticRefinementModule(8, offset_groups=2, name="srm")
    model = keras.Model([high_in, low_in], srm([high_in, low_in]))
    kernel = srm.offset_predictor.kernel
    kernel.assign(rng.normal(scale=0.05, size=kernel.shape).astype("float32"))
    high, low = random_inputs(rng)
    assert_keras_round_trip(model, [high, low], tmp_path / "srm.keras")


def test_in_subclassed_model(rng):
    class TinySegmenter(keras.Model):
        def __init__(self):
            super().__init__()
            self.srm = SemanticRefinementModule(8)
            self.head = keras.layers.Conv2D(3, 1)

        def call(self, inputs, training=False):
            return self.head(self.srm(inputs, training=training))

    model = TinySegmenter()
    high, low = random_inputs(rng)
    labels = rng.integers(0, 3, size=(2, 8, 10))
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=keras.backend.backend() != "torch",
    )
    history = model.fit([high, low], labels, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


class TestErrors:
    def test_wrong_number_of_inputs(self, rng):
        high, low = random_inputs(rng)
        with pytest.raises(ValueError, match=r"list of 2 tensors.*Received 3 inputs"):
            SemanticRefinementModule(8)([high, low, low])
        with pytest.raises(ValueError, match="list of 2 tensors"):
            SemanticRefinementModule(8)(high)
        srm = SemanticRefinementModule(8)
        srm([high, low])
        with pytest.raises(ValueError, match=r"Received 1 inputs"):
            srm([high])

    def test_wrong_rank(self, rng):
        with pytest.raises(
            ValueError, match=r"`low_level` to be a rank-4 tensor.*\(2, 8, 8\)"
        ):
            SemanticRefinementModule(8)(
                [np.zeros((2, 4, 4, 3), "float32"), np.zeros((2, 8, 8), "float32")]
            )

    def test_mismatched_batch(self):
        with pytest.raises(ValueError, match="same batch size"):
            SemanticRefinementModule(8)(
                [np.zeros((2, 4, 4, 3), "float32"), np.zeros((3, 8, 8, 3), "float32")]
            )

    @pytest.mark.parametrize(
        "kwargs,match",
        [
            ({"filters": 0}, "filters"),
            ({"filters": 8, "offset_groups": 3}, "offset_groups"),
            ({"filters": 8, "fusion": "mul"}, "fusion"),
            ({"filters": 8, "neighbor_aggregation": "mean"}, "neighbor_aggregation"),
            ({"filters": True}, r"`filters` must be a positive int.*filters=True"),
            (
                {"filters": 8, "neighbor_kernel_size": 2},
                r"^`neighbor_kernel_size` must be a positive odd int\. "
                r"Received: neighbor_kernel_size=2$",
            ),
            ({"filters": 8, "align_corners": 1}, "align_corners"),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            SemanticRefinementModule(**kwargs)


def _misaligned_scenes(rng, count, size, classes, shift):
    """Labels, a high-level map shifted by `shift` (dx, dy) high-res pixels and
    downsampled 2x, and a low-level map with per-image random region colours:
    it locates the boundaries but does not say which class is where."""
    pad = 4
    canvas = np.zeros((count, size + 2 * pad, size + 2 * pad), np.int32)
    for image in canvas:
        for _ in range(6):
            y0, x0 = rng.integers(0, size + 2 * pad - 4, 2)
            h, w = rng.integers(3, 10, 2)
            image[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, classes)
    dx, dy = shift
    labels = canvas[:, pad : pad + size, pad : pad + size]
    shifted = canvas[:, pad + dy : pad + dy + size, pad + dx : pad + dx + size]
    one_hot = np.eye(classes, dtype="float32")
    high = one_hot[shifted].reshape(count, size // 2, 2, size // 2, 2, classes)
    high = high.mean(axis=(2, 4))
    colours = rng.uniform(size=(count, classes, 3)).astype("float32")
    low = np.stack([colours[i][labels[i]] for i in range(count)])
    return high, low, one_hot[labels]


def test_srm_learns_offsets_that_undo_a_known_misalignment(rng):
    """What the SRM is for: the high-level map is misplaced by (2, -1) pixels.

    The SRM's offsets learn to sample from (-2, +1), and reconstruct the labels
    far better than the same model with frozen (bilinear) offsets.
    """
    shift = (2, -1)
    high, low, targets = _misaligned_scenes(rng, 96, 16, 3, shift)
    results = {}
    for learn_offsets in (True, False):
        keras.utils.set_random_seed(1)
        high_in = keras.Input((None, None, 3))
        low_in = keras.Input((None, None, 3))
        srm = SemanticRefinementModule(16, return_offsets=True)
        fused, offsets = srm([high_in, low_in])
        model = keras.Model([high_in, low_in], keras.layers.Conv2D(3, 1)(fused))
        if not learn_offsets:
            srm.offset_predictor.trainable = False
            srm.offset_aggregation.trainable = False
        model.compile(
            keras.optimizers.Adam(0.02),
            "mse",
            jit_compile=keras.backend.backend() != "torch",
        )
        history = model.fit([high, low], targets, epochs=35, batch_size=32, verbose=0)
        offset_model = keras.Model([high_in, low_in], offsets)
        mean_offset = offset_model.predict([high, low], verbose=0).mean(axis=(0, 1, 2))
        results[learn_offsets] = (history.history["loss"][-1], mean_offset)

    (srm_loss, srm_offset), (bilinear_loss, bilinear_offset) = (
        results[True],
        results[False],
    )
    np.testing.assert_array_equal(bilinear_offset, 0.0)
    np.testing.assert_allclose(srm_offset, [-shift[0], -shift[1]], atol=0.4)
    assert srm_loss < 0.6 * bilinear_loss, (srm_loss, bilinear_loss)
