"""Tests of the building blocks: ConvBNAct, offset aggregation, attention."""

import keras
import numpy as np
import pytest
from keras.src import testing

from keras_srcrm.layers import ChannelGate
from keras_srcrm.layers import ChannelSelfAttention
from keras_srcrm.layers import ConvBNAct
from keras_srcrm.layers import FPNFusion
from keras_srcrm.layers import NeighborOffsetAggregation
from keras_srcrm.layers import ResizeLike
from keras_srcrm.layers import SpatialGate
from keras_srcrm.layers import SpatialSelfAttention
from keras_srcrm.layers.offset_aggregation import pad_edges
from tests.helpers import to_numpy

SHAPE = (2, 6, 5, 16)


class BlocksLayerTest(testing.TestCase):
    def test_conv_bn_act(self):
        self.run_layer_test(
            ConvBNAct,
            init_kwargs={"filters": 8, "kernel_size": 3, "strides": 2},
            input_shape=SHAPE,
            expected_output_shape=(2, 3, 3, 8),
            expected_num_trainable_weights=3,
            expected_num_non_trainable_weights=2,
        )

    def test_conv_without_batch_norm(self):
        self.run_layer_test(
            ConvBNAct,
            init_kwargs={"filters": 8, "use_batch_norm": False, "activation": None},
            input_shape=SHAPE,
            expected_output_shape=(2, 6, 5, 8),
            expected_num_trainable_weights=2,
            expected_num_non_trainable_weights=0,
        )

    def test_fpn_fusion(self):
        self.run_layer_test(
            FPNFusion,
            init_kwargs={"filters": 8, "align_corners": True},
            input_shape=((2, 3, 4, 16), (2, 6, 7, 4)),
            expected_output_shape=(2, 6, 7, 8),
        )

    def test_resize_like(self):
        self.run_layer_test(
            ResizeLike,
            init_kwargs={},
            input_shape=((2, 3, 4, 5), (2, 9, 7, 1)),
            expected_output_shape=(2, 9, 7, 5),
            expected_num_trainable_weights=0,
        )

    def test_dynamic_aggregation(self):
        # Two call arguments (offsets, guide): run_layer_test's training check
        # cannot feed those, so the same checks are spelled out here.
        layer = NeighborOffsetAggregation(kernel_size=3, offset_groups=2)
        self.run_class_serialization_test(layer)
        offsets = keras.Input((None, None, 4))
        guide = keras.Input((None, None, 8))
        out = layer(offsets, guide)
        self.assertEqual(tuple(out.shape), (None, None, None, 4))
        self.assertLen(layer.trainable_weights, 2)
        model = keras.Model([offsets, guide], out)
        model.compile("sgd", "mse", jit_compile=keras.backend.backend() != "torch")
        data = [np.ones((2, 6, 5, 4), "float32"), np.ones((2, 6, 5, 8), "float32")]
        model.fit(data, np.zeros((2, 6, 5, 4)), verbose=0)
        mixed = NeighborOffsetAggregation(3, dtype="mixed_float16")
        result = mixed(data[0][..., :2], data[1])
        self.assertEqual(keras.backend.standardize_dtype(result.dtype), "float16")

    def test_static_aggregation(self):
        self.run_layer_test(
            NeighborOffsetAggregation,
            init_kwargs={"kernel_size": 5, "mode": "static"},
            input_shape=(2, 6, 5, 2),
            expected_output_shape=(2, 6, 5, 2),
            expected_num_trainable_weights=1,
        )

    def test_channel_self_attention(self):
        self.run_layer_test(
            ChannelSelfAttention,
            init_kwargs={},
            input_shape=SHAPE,
            expected_output_shape=SHAPE,
            expected_num_trainable_weights=1,
        )

    def test_spatial_self_attention(self):
        self.run_layer_test(
            SpatialSelfAttention,
            init_kwargs={"reduction": 4},
            input_shape=SHAPE,
            expected_output_shape=SHAPE,
            expected_num_trainable_weights=7,
        )

    def test_channel_gate(self):
        self.run_layer_test(
            ChannelGate,
            init_kwargs={"reduction": 4},
            input_shape=SHAPE,
            expected_output_shape=SHAPE,
            expected_num_trainable_weights=4,
        )

    def test_spatial_gate(self):
        self.run_layer_test(
            SpatialGate,
            init_kwargs={"kernel_size": 3},
            input_shape=SHAPE,
            expected_output_shape=SHAPE,
            expected_num_trainable_weights=2,
        )


def box_filter_with_edge_padding(field, size):
    pad = size // 2
    padded = np.pad(field, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    height, width = field.shape[1:3]
    windows = [
        padded[:, dy : dy + height, dx : dx + width]
        for dy in range(size)
        for dx in range(size)
    ]
    return np.mean(windows, axis=0)


class TestNeighborOffsetAggregation:
    @pytest.mark.parametrize("mode", ["dynamic", "static"])
    @pytest.mark.parametrize("size", [3, 5])
    def test_starts_as_edge_padded_box_filter(self, rng, mode, size):
        offsets = rng.standard_normal((2, 7, 6, 4)).astype("float32")
        guide = rng.standard_normal((2, 7, 6, 3)).astype("float32")
        layer = NeighborOffsetAggregation(size, offset_groups=2, mode=mode)
        out = to_numpy(layer(offsets, guide))
        np.testing.assert_allclose(
            out, box_filter_with_edge_padding(offsets, size), atol=1e-5
        )

    def test_dynamic_weights_follow_the_guide(self, rng):
        # A weight predictor that favours the right neighbour wherever the
        # guide is positive picks that neighbour's offset there.
        layer = NeighborOffsetAggregation(3, mode="dynamic")
        offsets = rng.standard_normal((1, 4, 5, 2)).astype("float32")
        guide = np.ones((1, 4, 5, 1), "float32")
        layer(offsets, guide)
        kernel = np.zeros(layer.weight_predictor.kernel.shape, "float32")
        kernel[1, 1, 0, 5] = 100.0  # tap (dy=1, dx=2) of 3x3: the right one
        layer.weight_predictor.kernel.assign(kernel)
        out = to_numpy(layer(offsets, guide))
        right = np.concatenate([offsets[:, :, 1:], offsets[:, :, -1:]], axis=2)
        np.testing.assert_allclose(out, right, atol=1e-4)

    def test_pad_edges_repeats_borders(self, rng):
        field = rng.standard_normal((1, 3, 4, 2)).astype("float32")
        np.testing.assert_array_equal(
            to_numpy(pad_edges(field, 2)),
            np.pad(field, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="edge"),
        )

    def test_errors(self):
        with pytest.raises(ValueError, match="kernel_size"):
            NeighborOffsetAggregation(4)
        with pytest.raises(ValueError, match="mode"):
            NeighborOffsetAggregation(3, mode="median")
        with pytest.raises(ValueError, match=r"offsets.*\(batch, height, width, 2\)"):
            NeighborOffsetAggregation(3, mode="static")(
                np.zeros((1, 4, 4, 3), "float32")
            )
        with pytest.raises(ValueError, match="guide"):
            NeighborOffsetAggregation(3)(np.zeros((1, 4, 4, 2), "float32"))


def reference_channel_attention(x, gamma):
    b, h, w, c = x.shape
    flat = x.reshape(b, h * w, c).astype(np.float64)
    energy = np.einsum("bnc,bnd->bcd", flat, flat) / (h * w)
    energy -= energy.max(axis=-1, keepdims=True)
    affinity = np.exp(energy) / np.exp(energy).sum(axis=-1, keepdims=True)
    attended = np.einsum("bnd,bcd->bnc", flat, affinity)
    return gamma * attended.reshape(x.shape) + x


class TestAttention:
    def test_channel_self_attention_matches_reference(self, rng):
        x = rng.standard_normal(SHAPE).astype("float32")
        layer = ChannelSelfAttention()
        layer(x)
        layer.gamma.assign(0.5)
        np.testing.assert_allclose(
            to_numpy(layer(x)), reference_channel_attention(x, 0.5), atol=1e-4
        )

    def test_spatial_self_attention_matches_reference(self, rng):
        x = rng.standard_normal(SHAPE).astype("float32")
        layer = SpatialSelfAttention(reduction=4)
        layer(x)
        layer.gamma.assign(2.0)
        flat = x.reshape(2, -1, 16).astype(np.float64)

        def project(conv):
            kernel, bias = (to_numpy(w).astype(np.float64) for w in conv.weights)
            return flat @ kernel[0, 0] + bias

        q, k, v = project(layer.query), project(layer.key), project(layer.value)
        energy = q @ k.transpose(0, 2, 1) / np.sqrt(4)
        energy -= energy.max(axis=-1, keepdims=True)
        attention = np.exp(energy) / np.exp(energy).sum(axis=-1, keepdims=True)
        expected = 2.0 * (attention @ v).reshape(SHAPE) + x
        np.testing.assert_allclose(to_numpy(layer(x)), expected, atol=1e-4)

    @pytest.mark.parametrize("layer_cls", [ChannelSelfAttention, SpatialSelfAttention])
    def test_self_attention_starts_as_identity(self, rng, layer_cls):
        x = rng.standard_normal(SHAPE).astype("float32")
        np.testing.assert_array_equal(to_numpy(layer_cls()(x)), x)

    def test_gates_scale_by_sigmoid(self, rng):
        x = rng.standard_normal(SHAPE).astype("float32")
        gate = ChannelGate(reduction=4)
        gate(x)
        for weight in gate.weights:
            weight.assign(np.zeros(weight.shape, "float32"))
        # Zero MLP: every channel gated by sigmoid(0) = 0.5.
        np.testing.assert_allclose(to_numpy(gate(x)), 0.5 * x, atol=1e-6)
        spatial = SpatialGate(kernel_size=1)
        spatial(x)
        spatial.conv.kernel.assign(np.array([[[[1.0], [0.0]]]], "float32"))
        spatial.conv.bias.assign(np.zeros(1, "float32"))
        mean = x.mean(axis=-1, keepdims=True)
        np.testing.assert_allclose(
            to_numpy(spatial(x)), x / (1 + np.exp(-mean)), atol=1e-5
        )

    @pytest.mark.parametrize(
        "layer_cls",
        [ChannelSelfAttention, SpatialSelfAttention, ChannelGate, SpatialGate],
    )
    def test_float16_inputs_do_not_overflow(self, rng, layer_cls):
        # Channel affinities of activations ~300 reach ~9e4 > float16's 65504.
        x = (300.0 * rng.standard_normal(SHAPE)).astype("float16")
        layer = layer_cls(dtype="float16")
        out = layer(x)
        if hasattr(layer, "gamma"):
            layer.gamma.assign(1.0)
            out = layer(x)
        assert keras.backend.standardize_dtype(out.dtype) == "float16"
        assert np.all(np.isfinite(to_numpy(out)))
