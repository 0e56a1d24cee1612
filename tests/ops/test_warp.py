"""Tests of `keras_srcrm.ops.flow_warp` and `grid_sample`.

torch's `grid_sample` is the oracle (torch is installed beside every backend
in the test environment); it runs in float64 on the exact float32 inputs.
"""

import itertools

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_srcrm.ops import flow_warp
from keras_srcrm.ops import grid_sample
from keras_srcrm.ops import resize_bilinear
from keras_srcrm.ops import sampling
from tests.helpers import float64_enabled
from tests.helpers import gradients
from tests.helpers import to_numpy

# Eager JAX compiles every operation for each new shape, and each example
# has a new one: a third of the examples on JAX, where the op is the same
# `keras.ops` code that TensorFlow and torch check with all of them.
PROPERTY_SETTINGS = (
    settings(max_examples=10) if keras.backend.backend() == "jax" else settings()
)

PADDING_MODES = ("zeros", "border", "reflection")
OPTIONS = list(itertools.product((True, False), PADDING_MODES))
# (B, H, W, C, H_out, W_out): odd sizes, one-pixel axes, up- and downsampling.
SHAPES = [
    (2, 5, 7, 3, 5, 7),
    (1, 1, 1, 2, 3, 4),
    (2, 1, 6, 2, 4, 5),
    (1, 7, 1, 3, 2, 6),
    (1, 9, 4, 1, 17, 3),
    (2, 8, 8, 4, 3, 3),
]


def oracle_grid_sample(features, grid, align_corners, padding_mode, dtype=np.float64):
    """torch grid_sample in float64 (or `dtype`); NHWC in and out."""
    features = torch.tensor(np.asarray(features, dtype)).permute(0, 3, 1, 2)
    grid = torch.tensor(np.asarray(grid, dtype))
    out = F.grid_sample(
        features,
        grid,
        mode="bilinear",
        padding_mode=padding_mode,
        align_corners=align_corners,
    )
    return out.permute(0, 2, 3, 1).numpy()


def flow_to_grid(flow, align_corners):
    """The normalised grid that flow_warp's pixel offsets correspond to."""
    flow = np.asarray(flow, np.float64)
    _, height, width, _ = flow.shape
    x = np.arange(width)[None, None, :] + flow[..., 0]
    y = np.arange(height)[None, :, None] + flow[..., 1]
    if align_corners:
        gx = 2.0 * x / max(width - 1, 1) - 1.0 if width > 1 else np.zeros_like(x)
        gy = 2.0 * y / max(height - 1, 1) - 1.0 if height > 1 else np.zeros_like(y)
    else:
        gx = (2.0 * x + 1.0) / width - 1.0
        gy = (2.0 * y + 1.0) / height - 1.0
    return np.stack([gx, gy], axis=-1)


def weighted_sum(tensor, cotangent):
    """A scalar whose gradient with respect to `tensor` is `cotangent`."""
    return keras.ops.sum(keras.ops.multiply(tensor, cotangent))


def random_grid(rng, batch, height, width, spread=1.6):
    grid = rng.uniform(-spread, spread, size=(batch, height, width, 2))
    return grid.astype(np.float32)


class TestOracleAgreement:
    @pytest.mark.parametrize("align_corners,padding_mode", OPTIONS)
    @pytest.mark.parametrize("shape", SHAPES)
    def test_grid_sample_matches_torch(self, rng, shape, align_corners, padding_mode):
        batch, height, width, channels, out_h, out_w = shape
        features = rng.standard_normal((batch, height, width, channels), np.float32)
        grid = random_grid(rng, batch, out_h, out_w)
        out = grid_sample(
            features, grid, align_corners=align_corners, padding_mode=padding_mode
        )
        expected = oracle_grid_sample(features, grid, align_corners, padding_mode)
        np.testing.assert_allclose(to_numpy(out), expected, rtol=0, atol=1e-5)

    @pytest.mark.parametrize("align_corners,padding_mode", OPTIONS)
    def test_grid_sample_exact_pixel_and_border_positions(
        self, rng, align_corners, padding_mode
    ):
        height, width = 5, 6
        features = rng.standard_normal((1, height, width, 2), np.float32)
        # Pixel centres and edges in both conventions, plus far outside.
        xs = np.array(
            [-1.0, -1.0 + 1.0 / width, 0.0, 1.0 - 1.0 / width, 1.0, 2 / 5, 3.0, -7.0],
            np.float32,
        )
        gx, gy = np.meshgrid(xs, xs[::-1])
        grid = np.stack([gx, gy], axis=-1)[None].astype(np.float32)
        out = grid_sample(
            features, grid, align_corners=align_corners, padding_mode=padding_mode
        )
        expected = oracle_grid_sample(features, grid, align_corners, padding_mode)
        np.testing.assert_allclose(to_numpy(out), expected, rtol=0, atol=1e-5)

    @pytest.mark.parametrize("align_corners,padding_mode", OPTIONS)
    @pytest.mark.parametrize("shape", [s for s in SHAPES if s[1:3] == s[4:6]])
    def test_flow_warp_matches_torch(self, rng, shape, align_corners, padding_mode):
        batch, height, width, channels, _, _ = shape
        features = rng.standard_normal((batch, height, width, channels), np.float32)
        flow = rng.uniform(-3.0, 3.0, size=(batch, height, width, 2))
        # A third of the offsets are integers: exact pixel positions.
        integer = rng.uniform(size=flow.shape) < 0.33
        flow = np.where(integer, np.round(flow), flow).astype(np.float32)
        out = flow_warp(
            features, flow, align_corners=align_corners, padding_mode=padding_mode
        )
        expected = oracle_grid_sample(
            features, flow_to_grid(flow, align_corners), align_corners, padding_mode
        )
        np.testing.assert_allclose(to_numpy(out), expected, rtol=0, atol=1e-5)

    @pytest.mark.parametrize("align_corners,padding_mode", OPTIONS)
    @pytest.mark.parametrize(
        "feature_size,flow_size",
        [((4, 5), (8, 10)), ((7, 11), (13, 21)), ((6, 6), (3, 4))],
    )
    def test_flow_warp_across_sizes_matches_torch(
        self, rng, feature_size, flow_size, align_corners, padding_mode
    ):
        """A flow of another size than the features: the flow's grid is mapped
        onto the features, which is grid_sample at the flow's normalised grid."""
        features = rng.standard_normal((2, *feature_size, 3), np.float32)
        flow = rng.uniform(-3.0, 3.0, size=(2, *flow_size, 2)).astype(np.float32)
        out = flow_warp(
            features, flow, align_corners=align_corners, padding_mode=padding_mode
        )
        assert tuple(out.shape) == (2, *flow_size, 3)
        expected = oracle_grid_sample(
            features, flow_to_grid(flow, align_corners), align_corners, padding_mode
        )
        np.testing.assert_allclose(to_numpy(out), expected, rtol=0, atol=1e-5)

    @pytest.mark.parametrize("align_corners", [True, False])
    def test_zero_flow_across_sizes_is_a_bilinear_resize(self, rng, align_corners):
        features = rng.standard_normal((1, 5, 7, 3), np.float32)
        flow = np.zeros((1, 9, 13, 2), np.float32)
        out = flow_warp(features, flow, align_corners=align_corners)
        expected = resize_bilinear(features, (9, 13), align_corners=align_corners)
        np.testing.assert_allclose(to_numpy(out), to_numpy(expected), atol=1e-5)

    @pytest.mark.parametrize("align_corners,padding_mode", OPTIONS)
    @pytest.mark.parametrize("magnitude", [1e3, 1e6, 1e30])
    def test_flow_warp_very_large_offsets(
        self, rng, magnitude, align_corners, padding_mode
    ):
        features = rng.standard_normal((1, 4, 5, 2), np.float32)
        flow = rng.choice([-1.0, 1.0], size=(1, 4, 5, 2)) * magnitude
        flow = (flow + rng.uniform(-0.5, 0.5, size=flow.shape)).astype(np.float32)
        out = to_numpy(
            flow_warp(
                features, flow, align_corners=align_corners, padding_mode=padding_mode
            )
        )
        assert np.all(np.isfinite(out))
        if magnitude < 1e7:  # beyond that the float64 grid itself is imprecise
            expected = oracle_grid_sample(
                features,
                flow_to_grid(flow, align_corners),
                align_corners,
                padding_mode,
            )
            np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
        elif padding_mode == "zeros":
            np.testing.assert_array_equal(out, 0.0)
        elif padding_mode == "border":
            # Every sample is one of the four corner pixels.
            corners = features[0, [0, 0, -1, -1], [0, -1, 0, -1]]
            for value in out.reshape(-1, 2):
                assert np.any(np.all(np.isclose(corners, value), axis=-1))

    @PROPERTY_SETTINGS
    @given(
        batch=st.integers(1, 2),
        height=st.integers(1, 9),
        width=st.integers(1, 9),
        channels=st.integers(1, 3),
        out_h=st.integers(1, 6),
        out_w=st.integers(1, 6),
        align_corners=st.booleans(),
        padding_mode=st.sampled_from(PADDING_MODES),
        spread=st.sampled_from([0.5, 1.0, 3.0, 50.0]),
        seed=st.integers(0, 2**16),
    )
    def test_grid_sample_property(
        self,
        batch,
        height,
        width,
        channels,
        out_h,
        out_w,
        align_corners,
        padding_mode,
        spread,
        seed,
    ):
        rng = np.random.default_rng(seed)
        features = rng.standard_normal((batch, height, width, channels), np.float32)
        grid = random_grid(rng, batch, out_h, out_w, spread)
        out = grid_sample(
            features, grid, align_corners=align_corners, padding_mode=padding_mode
        )
        expected = oracle_grid_sample(features, grid, align_corners, padding_mode)
        # Far outside the image (spread 50) a float32 pixel coordinate has
        # lost digits before any sampling: allow what PyTorch's own float32
        # grid_sample loses there.
        torch_float32 = oracle_grid_sample(
            features, grid, align_corners, padding_mode, dtype=np.float32
        )
        atol = max(1e-5, 2 * float(np.abs(torch_float32 - expected).max()))
        np.testing.assert_allclose(to_numpy(out), expected, rtol=0, atol=atol)

    @PROPERTY_SETTINGS
    @given(
        height=st.integers(1, 8),
        width=st.integers(1, 8),
        padding_mode=st.sampled_from(PADDING_MODES),
        align_corners=st.booleans(),
        offsets=st.lists(
            st.one_of(
                st.integers(-10, 10).map(float),
                st.floats(-10.0, 10.0, width=32),
            ),
            min_size=2,
            max_size=2,
        ),
    )
    def test_flow_warp_property_constant_flow(
        self, height, width, padding_mode, align_corners, offsets
    ):
        features = np.random.default_rng(height * 31 + width).standard_normal(
            (1, height, width, 2), np.float32
        )
        flow = np.broadcast_to(
            np.asarray(offsets, np.float32), (1, height, width, 2)
        ).copy()
        out = flow_warp(
            features, flow, align_corners=align_corners, padding_mode=padding_mode
        )
        expected = oracle_grid_sample(
            features, flow_to_grid(flow, align_corners), align_corners, padding_mode
        )
        np.testing.assert_allclose(to_numpy(out), expected, rtol=0, atol=1e-5)


class TestExactCases:
    @pytest.mark.parametrize("align_corners,padding_mode", OPTIONS)
    @pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
    def test_zero_flow_is_identity(self, rng, dtype, align_corners, padding_mode):
        features = rng.standard_normal((2, 7, 5, 3)).astype(np.float32)
        with float64_enabled():
            features = keras.ops.cast(features, dtype)
            flow = keras.ops.zeros((2, 7, 5, 2), dtype)
            out = flow_warp(
                features, flow, align_corners=align_corners, padding_mode=padding_mode
            )
            assert keras.backend.standardize_dtype(out.dtype) == dtype
            np.testing.assert_array_equal(to_numpy(out), to_numpy(features))

    @pytest.mark.parametrize(
        "padding_mode,align_corners,numpy_mode",
        [
            ("zeros", False, "constant"),
            ("border", False, "edge"),
            ("reflection", False, "symmetric"),
            ("reflection", True, "reflect"),
        ],
    )
    @pytest.mark.parametrize("dx,dy", [(1, 0), (0, -2), (3, 2), (-4, -1)])
    def test_integer_flow_is_a_shift(
        self, rng, dx, dy, padding_mode, align_corners, numpy_mode
    ):
        height, width = 6, 7
        features = rng.standard_normal((1, height, width, 2), np.float32)
        flow = np.zeros((1, height, width, 2), np.float32)
        flow[..., 0], flow[..., 1] = dx, dy
        out = flow_warp(
            features, flow, align_corners=align_corners, padding_mode=padding_mode
        )
        pad = 5
        padded = np.pad(features, ((0, 0), (pad, pad), (pad, pad), (0, 0)), numpy_mode)
        expected = padded[:, pad + dy : pad + dy + height, pad + dx : pad + dx + width]
        np.testing.assert_array_equal(to_numpy(out), expected)

    def test_zero_flow_offset_gradient_is_forward_difference(self, rng):
        # The trap: with floor/ceil corners this gradient would be exactly 0.
        features = rng.standard_normal((1, 4, 5, 3))
        cotangent = rng.standard_normal((1, 4, 5, 3))
        flow = np.zeros((1, 4, 5, 2))
        with float64_enabled():
            _, grad_flow = gradients(
                lambda f, fl: weighted_sum(
                    flow_warp(f, fl, padding_mode="zeros"), cotangent
                ),
                features,
                flow,
            )
        padded = np.pad(features, ((0, 0), (0, 1), (0, 1), (0, 0)))
        expected_dx = np.sum(cotangent * (padded[:, :-1, 1:] - features), axis=-1)
        expected_dy = np.sum(cotangent * (padded[:, 1:, :-1] - features), axis=-1)
        np.testing.assert_allclose(grad_flow[..., 0], expected_dx, atol=1e-10)
        np.testing.assert_allclose(grad_flow[..., 1], expected_dy, atol=1e-10)
        assert np.all(np.abs(grad_flow) > 0)


class TestGradients:
    @pytest.mark.parametrize("align_corners,padding_mode", OPTIONS)
    def test_grid_sample_gradients_match_torch_autograd(
        self, rng, align_corners, padding_mode
    ):
        features = rng.standard_normal((2, 5, 6, 3), np.float32)
        grid = random_grid(rng, 2, 4, 7)
        cotangent = rng.standard_normal((2, 4, 7, 3), np.float32)
        ours = gradients(
            lambda f, g: weighted_sum(
                grid_sample(
                    f, g, align_corners=align_corners, padding_mode=padding_mode
                ),
                cotangent,
            ),
            features,
            grid,
        )
        f_t = torch.tensor(features).permute(0, 3, 1, 2).requires_grad_(True)
        g_t = torch.tensor(grid, requires_grad=True)
        out = F.grid_sample(
            f_t, g_t, padding_mode=padding_mode, align_corners=align_corners
        )
        (out * torch.tensor(cotangent).permute(0, 3, 1, 2)).sum().backward()
        np.testing.assert_allclose(
            ours[0], f_t.grad.permute(0, 2, 3, 1).numpy(), rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(ours[1], g_t.grad.numpy(), rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize("align_corners,padding_mode", OPTIONS)
    def test_flow_warp_gradients_match_finite_differences(
        self, rng, align_corners, padding_mode
    ):
        height, width = 4, 5
        features = rng.standard_normal((1, height, width, 2))
        # Fractional parts in [0.2, 0.8]: away from the kinks of bilinear
        # interpolation, clamping and reflection, which lie at integers and
        # half-integers.
        flow = rng.integers(-3, 3, size=(1, height, width, 2)) + rng.uniform(
            0.2, 0.3, size=(1, height, width, 2)
        )
        cotangent = rng.standard_normal((1, height, width, 2))

        def loss(f, fl):
            out = flow_warp(
                f, fl, align_corners=align_corners, padding_mode=padding_mode
            )
            return weighted_sum(out, cotangent)

        with float64_enabled():
            analytic = gradients(loss, features, flow)
            eps = 1e-6
            for index, array in enumerate((features, flow)):
                numeric = np.zeros_like(array)
                for position in np.ndindex(array.shape):
                    plus, minus = array.copy(), array.copy()
                    plus[position] += eps
                    minus[position] -= eps
                    args_plus = [features, flow]
                    args_minus = [features, flow]
                    args_plus[index], args_minus[index] = plus, minus
                    numeric[position] = (
                        to_numpy(loss(*args_plus)) - to_numpy(loss(*args_minus))
                    ) / (2 * eps)
                np.testing.assert_allclose(analytic[index], numeric, atol=1e-6)

    @pytest.mark.parametrize("padding_mode", PADDING_MODES)
    def test_flow_warp_gradient_matches_torch_grid_gradient(self, rng, padding_mode):
        height, width = 6, 5
        features = rng.standard_normal((2, height, width, 3), np.float32)
        flow = rng.uniform(-2.0, 2.0, size=(2, height, width, 2)).astype(np.float32)
        cotangent = rng.standard_normal((2, height, width, 3), np.float32)
        ours = gradients(
            lambda f, fl: weighted_sum(
                flow_warp(f, fl, padding_mode=padding_mode), cotangent
            ),
            features,
            flow,
        )
        grid = torch.tensor(flow_to_grid(flow, False), requires_grad=True)
        f_t = torch.tensor(features, dtype=torch.float64).permute(0, 3, 1, 2)
        f_t.requires_grad_(True)
        out = F.grid_sample(f_t, grid, padding_mode=padding_mode, align_corners=False)
        (out * torch.tensor(cotangent).permute(0, 3, 1, 2)).sum().backward()
        # d(grid)/d(flow) = 2 / size for align_corners=False.
        expected_flow = grid.grad.numpy() * np.array([2.0 / width, 2.0 / height])
        np.testing.assert_allclose(
            ours[0], f_t.grad.permute(0, 2, 3, 1).numpy(), atol=1e-5
        )
        np.testing.assert_allclose(ours[1], expected_flow, atol=1e-4)


class TestNonFinite:
    @pytest.mark.parametrize("padding_mode", PADDING_MODES)
    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_non_finite_offsets_give_zero_there_only(self, rng, padding_mode, bad):
        features = rng.standard_normal((1, 4, 4, 2), np.float32)
        flow = rng.uniform(-1, 1, size=(1, 4, 4, 2)).astype(np.float32)
        flow[0, 1, 2, 0] = bad
        flow[0, 3, 0, 1] = bad
        finite_flow = np.nan_to_num(flow, nan=0.0, posinf=0.0, neginf=0.0)
        reference = to_numpy(
            flow_warp(features, finite_flow, padding_mode=padding_mode)
        )
        out = to_numpy(flow_warp(features, flow, padding_mode=padding_mode))
        np.testing.assert_array_equal(out[0, 1, 2], 0.0)
        np.testing.assert_array_equal(out[0, 3, 0], 0.0)
        mask = np.ones((4, 4), bool)
        mask[1, 2] = mask[3, 0] = False
        np.testing.assert_allclose(out[0][mask], reference[0][mask], atol=1e-6)

    @pytest.mark.parametrize("padding_mode", PADDING_MODES)
    def test_gradients_stay_finite(self, rng, padding_mode):
        features = rng.standard_normal((1, 4, 4, 2), np.float32)
        flow = rng.uniform(-1, 1, size=(1, 4, 4, 2)).astype(np.float32)
        flow[0, 0, 0] = [np.nan, 1.0]
        flow[0, 1, 1] = [np.inf, -np.inf]
        flow[0, 2, 2] = [1e30, -1e30]
        grad_features, grad_flow = gradients(
            lambda f, fl: keras.ops.sum(flow_warp(f, fl, padding_mode=padding_mode)),
            features,
            flow,
        )
        assert np.all(np.isfinite(grad_features))
        assert np.all(np.isfinite(grad_flow))
        np.testing.assert_array_equal(grad_flow[0, 0, 0], 0.0)
        np.testing.assert_array_equal(grad_flow[0, 1, 1], 0.0)


class TestLayoutsAndDtypes:
    @pytest.mark.parametrize("padding_mode", PADDING_MODES)
    def test_channels_first_matches_channels_last(self, rng, padding_mode):
        features = rng.standard_normal((2, 5, 6, 3), np.float32)
        flow = rng.uniform(-2, 2, size=(2, 5, 6, 2)).astype(np.float32)
        last = flow_warp(features, flow, padding_mode=padding_mode)
        first = flow_warp(
            features.transpose(0, 3, 1, 2),
            flow.transpose(0, 3, 1, 2),
            padding_mode=padding_mode,
            data_format="channels_first",
        )
        np.testing.assert_allclose(
            to_numpy(first).transpose(0, 2, 3, 1), to_numpy(last), atol=1e-6
        )
        grid = random_grid(rng, 2, 3, 4)
        last = grid_sample(features, grid, padding_mode=padding_mode)
        first = grid_sample(
            features.transpose(0, 3, 1, 2),
            grid.transpose(0, 3, 1, 2),
            padding_mode=padding_mode,
            data_format="channels_first",
        )
        np.testing.assert_allclose(
            to_numpy(first).transpose(0, 2, 3, 1), to_numpy(last), atol=1e-6
        )

    @pytest.mark.parametrize("dtype,atol", [("float16", 2e-2), ("bfloat16", 1e-1)])
    def test_low_precision_keeps_dtype_and_accuracy(self, rng, dtype, atol):
        features = rng.standard_normal((2, 6, 7, 4), np.float32)
        flow = rng.uniform(-3, 3, size=(2, 6, 7, 2)).astype(np.float32)
        expected = to_numpy(flow_warp(features, flow))
        out = flow_warp(keras.ops.cast(features, dtype), keras.ops.cast(flow, dtype))
        assert keras.backend.standardize_dtype(out.dtype) == dtype
        # Low-precision flow itself rounds positions; compare against float32
        # features sampled at the rounded flow.
        rounded_flow = to_numpy(keras.ops.cast(keras.ops.cast(flow, dtype), "float32"))
        expected = to_numpy(flow_warp(features, rounded_flow))
        np.testing.assert_allclose(to_numpy(out), expected, atol=atol)

    def test_low_precision_gradients_are_finite(self, rng):
        features = rng.standard_normal((1, 5, 5, 2)).astype("float16")
        flow = rng.uniform(-2, 2, size=(1, 5, 5, 2)).astype("float16")
        grads = gradients(
            lambda f, fl: keras.ops.sum(keras.ops.cast(flow_warp(f, fl), "float32")),
            features,
            flow,
        )
        for grad, array in zip(grads, (features, flow)):
            assert grad.dtype == array.dtype
            assert np.all(np.isfinite(grad))


class TestValidation:
    def test_wrong_rank(self):
        with pytest.raises(
            ValueError, match=r"`features` must be a rank-4.*\(4, 4, 2\)"
        ):
            flow_warp(np.zeros((4, 4, 2), "float32"), np.zeros((1, 4, 4, 2), "float32"))
        with pytest.raises(ValueError, match=r"`flow` must be a rank-4"):
            flow_warp(np.zeros((1, 4, 4, 2), "float32"), np.zeros((4, 4, 2), "float32"))
        with pytest.raises(ValueError, match=r"`grid` must be a rank-4"):
            grid_sample(np.zeros((1, 4, 4, 2), "float32"), np.zeros((4, 2), "float32"))

    def test_flow_must_have_two_components(self):
        with pytest.raises(ValueError, match=r"2 components.*\(1, 4, 4, 3\)"):
            flow_warp(
                np.zeros((1, 4, 4, 2), "float32"), np.zeros((1, 4, 4, 3), "float32")
            )

    def test_batch_mismatch(self):
        with pytest.raises(ValueError, match="same batch size"):
            flow_warp(
                np.zeros((2, 4, 4, 2), "float32"), np.zeros((3, 4, 4, 2), "float32")
            )
        with pytest.raises(ValueError, match="same batch size"):
            grid_sample(
                np.zeros((2, 4, 4, 2), "float32"), np.zeros((1, 3, 3, 2), "float32")
            )

    @pytest.mark.parametrize("op", [flow_warp, grid_sample])
    def test_empty_maps(self, op):
        # An empty output (a 0x0 map) needs no sample: it is empty too.
        for features_shape, coords_shape in (
            ((1, 0, 0, 3), (1, 0, 0, 2)),
            ((1, 4, 4, 3), (1, 0, 0, 2)),
            ((0, 4, 4, 3), (0, 4, 4, 2)),
        ):
            out = op(
                np.zeros(features_shape, "float32"), np.zeros(coords_shape, "float32")
            )
            assert tuple(out.shape) == (*coords_shape[:3], 3)
        # A non-empty output cannot be sampled from an empty map.
        with pytest.raises(
            ValueError, match=r"non-zero height and width.*\(1, 0, 0, 3\)"
        ):
            op(np.zeros((1, 0, 0, 3), "float32"), np.zeros((1, 4, 4, 2), "float32"))

    def test_unknown_options(self):
        features = np.zeros((1, 4, 4, 2), "float32")
        flow = np.zeros((1, 4, 4, 2), "float32")
        with pytest.raises(
            ValueError, match=r"padding_mode.*Received: padding_mode='wrap'"
        ):
            flow_warp(features, flow, padding_mode="wrap")
        with pytest.raises(ValueError, match="align_corners"):
            flow_warp(features, flow, align_corners="yes")
        with pytest.raises(ValueError, match="data_format"):
            flow_warp(features, flow, data_format="NHWC")

    def test_integer_inputs(self):
        with pytest.raises(
            ValueError, match=r"`flow` must have a floating-point dtype"
        ):
            flow_warp(
                np.zeros((1, 4, 4, 2), "float32"), np.zeros((1, 4, 4, 2), "int32")
            )


class TestSymbolicAndCompiled:
    def test_symbolic_shapes_keep_none(self):
        features = keras.Input((None, None, 8))
        flow = keras.Input((None, None, 2))
        out = flow_warp(features, flow)
        assert tuple(out.shape) == (None, None, None, 8)
        grid = keras.Input((5, 7, 2))
        out = grid_sample(keras.Input((None, None, 3)), grid)
        assert tuple(out.shape) == (None, 5, 7, 3)
        out = grid_sample(
            keras.Input((3, None, None)),
            keras.Input((2, 4, 6)),
            data_format="channels_first",
        )
        assert tuple(out.shape) == (None, 3, 4, 6)

    def test_symbolic_validation(self):
        with pytest.raises(ValueError, match="same batch size"):
            flow_warp(
                keras.Input((4, 4, 3), batch_size=2),
                keras.Input((5, 4, 2), batch_size=3),
            )
        out = flow_warp(keras.Input((4, 4, 3)), keras.Input((7, 8, 2)))
        assert tuple(out.shape) == (None, 7, 8, 3)

    def test_functional_model_any_size(self, rng):
        features = keras.Input((None, None, 3))
        flow = keras.Input((None, None, 2))
        model = keras.Model([features, flow], flow_warp(features, flow))
        for height, width in [(5, 7), (9, 4)]:
            f = rng.standard_normal((2, height, width, 3), np.float32)
            fl = rng.uniform(-2, 2, (2, height, width, 2)).astype(np.float32)
            np.testing.assert_allclose(
                to_numpy(model([f, fl])), to_numpy(flow_warp(f, fl)), atol=1e-6
            )

    def test_functional_model_with_the_ops_round_trips(self, rng, tmp_path):
        features = keras.Input((None, None, 3))
        flow = keras.Input((None, None, 2))
        grid = keras.Input((4, 5, 2))
        model = keras.Model(
            [features, flow, grid],
            [
                flow_warp(
                    features, flow, padding_mode="reflection", align_corners=True
                ),
                grid_sample(features, grid, padding_mode="border"),
            ],
        )
        inputs = [
            rng.standard_normal((2, 6, 7, 3)).astype("float32"),
            rng.uniform(-2, 2, (2, 6, 7, 2)).astype("float32"),
            rng.uniform(-1, 1, (2, 4, 5, 2)).astype("float32"),
        ]
        model.save(tmp_path / "ops.keras")
        restored = keras.saving.load_model(tmp_path / "ops.keras")
        for a, b in zip(
            model.predict(inputs, verbose=0), restored.predict(inputs, verbose=0)
        ):
            np.testing.assert_array_equal(a, b)

    def test_jit_compiled_matches_eager(self, rng):
        backend = keras.backend.backend()
        f = rng.standard_normal((2, 6, 5, 3), np.float32)
        fl = rng.uniform(-2, 2, (2, 6, 5, 2)).astype(np.float32)
        eager = to_numpy(flow_warp(f, fl, padding_mode="reflection"))
        if backend == "tensorflow":
            import tensorflow as tf

            compiled = tf.function(
                lambda a, b: flow_warp(a, b, padding_mode="reflection"),
                jit_compile=True,
                input_signature=[
                    tf.TensorSpec((None, None, None, 3)),
                    tf.TensorSpec((None, None, None, 2)),
                ],
            )
        elif backend == "jax":
            import jax

            compiled = jax.jit(lambda a, b: flow_warp(a, b, padding_mode="reflection"))
        else:
            pytest.skip("XLA jit applies to TensorFlow and JAX; torch runs eagerly")
        np.testing.assert_allclose(to_numpy(compiled(f, fl)), eager, atol=1e-6)

    def test_trains_in_model_fit_with_jit(self, rng):
        """A conv predicts the flow; fit must move its weights and lower the loss."""

        @keras.saving.register_keras_serializable(package="keras_srcrm_tests")
        class WarpByPredictedFlow(keras.layers.Layer):
            def build(self, input_shape):
                self.flow_conv = keras.layers.Conv2D(2, 3, padding="same")
                self.flow_conv.build(input_shape)

            def call(self, inputs):
                return flow_warp(inputs, self.flow_conv(inputs))

        features = rng.standard_normal((8, 8, 8, 2), np.float32)
        targets = np.roll(features, 1, axis=2)
        inputs = keras.Input((None, None, 2))
        model = keras.Model(inputs, WarpByPredictedFlow()(inputs))
        jit = keras.backend.backend() in ("tensorflow", "jax")
        model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=jit)
        history = model.fit(features, targets, epochs=15, batch_size=4, verbose=0)
        assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]


class TestFastPath:
    def test_dispatch_agrees_with_generic_path(self, rng):
        if keras.backend.backend() != "torch":
            pytest.skip("only the torch backend has a fast path; others are generic")
        features = rng.standard_normal((2, 5, 6, 3), np.float32)
        x = rng.uniform(-2, 7, size=(2, 4, 3)).astype(np.float32)
        y = rng.uniform(-2, 6, size=(2, 4, 3)).astype(np.float32)
        cotangent = rng.standard_normal((2, 4, 3, 3), np.float32)
        results = []
        for fn in (
            sampling.zero_padded_bilinear,
            sampling.zero_padded_bilinear_generic,
        ):
            value = to_numpy(fn(*map(keras.ops.convert_to_tensor, (features, x, y))))
            grads = gradients(
                lambda f, a, b, fn=fn: weighted_sum(fn(f, a, b), cotangent),
                features,
                x,
                y,
            )
            results.append((value, grads))
        (fast, fast_grads), (generic, generic_grads) = results
        np.testing.assert_allclose(fast, generic, atol=1e-6)
        for a, b in zip(fast_grads, generic_grads):
            np.testing.assert_allclose(a, b, atol=1e-5)
