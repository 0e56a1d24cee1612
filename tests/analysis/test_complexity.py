"""Tests of `keras_srcrm.analysis.count_flops` and `count_params`.

Every expected figure is computed by hand here, so the same integers are
asserted on every backend: a pass on TensorFlow, JAX and PyTorch means the
three backends agree exactly.
"""

import math
import sys
import threading
import types

import keras
import pytest
from keras import ops

from keras_srcrm.analysis import complexity as flops_module
from keras_srcrm.analysis import count_flops
from keras_srcrm.analysis import count_params
from keras_srcrm.layers import ContextualRefinementModule
from keras_srcrm.layers import SemanticRefinementModule
from keras_srcrm.ops import flow_warp
from keras_srcrm.ops import grid_sample
from keras_srcrm.ops import resize_bilinear
from keras_srcrm.ops.cost import report_bilinear_sampling


def conv_macs(height, width, out_channels, kernel_size, in_channels, batch=1):
    """MACs of a convolution, from its output size."""
    return batch * height * width * out_channels * kernel_size**2 * in_channels


def sampling_macs(*shape):
    """4 MACs per output element of a bilinear resize or warp."""
    return 4 * math.prod(shape)


def functional(inputs, outputs):
    return keras.Model(inputs, outputs)


@pytest.fixture(autouse=True)
def zero_initializers(monkeypatch):
    """Random initializers return zeros in these tests.

    Weights do not change a MAC count, and on JAX every random initializer
    is compiled once per weight shape, which costs seconds per shape on a
    busy CPU (a ResNet-50 has about 30 shapes).
    """
    random = keras.src.backend.random

    def zeros(shape, *args, dtype=None, **kwargs):
        return keras.ops.zeros(shape, dtype=dtype or keras.config.floatx())

    for name in ("uniform", "normal", "truncated_normal"):
        monkeypatch.setattr(random, name, zeros)


# --- Hand-computed small models ------------------------------------------------


def test_conv_dense_depthwise_model_exact():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.DepthwiseConv2D(
        3, depth_multiplier=2, padding="same", name="depthwise"
    )(x)
    x = keras.layers.SeparableConv2D(12, 3, padding="same", name="separable")(x)
    x = keras.layers.Conv2D(6, 1, groups=2, name="grouped")(x)
    x = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="up")(x)
    x = keras.layers.Conv1D(5, 3, name="conv1d")(ops.reshape(x, (-1, 256, 4)))
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(10, name="dense")(pooled)
    model = functional(inputs, outputs)

    expected = {
        "conv": conv_macs(8, 8, 8, 3, 3),
        "depthwise": 8 * 8 * 16 * 9,
        # Depthwise 3x3 on 16 channels, then pointwise 16 -> 12.
        "separable": 8 * 8 * (16 * 9 + 16 * 12),
        # Two groups of 6 -> 3 channels.
        "grouped": conv_macs(8, 8, 6, 1, 6),
        # Every input element is spread over 3 x 3 x 4 outputs.
        "up": 8 * 8 * 6 * 9 * 4,
        "conv1d": 254 * 5 * 3 * 4,
        "dense": 5 * 10,
    }
    count = count_flops(model, (1, 16, 16, 3))
    assert {k: v for k, v in count.by_layer.items() if v} == expected
    assert count.conv == sum(expected.values()) - expected["dense"]
    assert count.matmul == expected["dense"]
    assert count.sampling == 0
    assert count.total == sum(expected.values())
    assert count.by_op == {
        "conv": expected["conv"] + expected["grouped"] + expected["conv1d"],
        "depthwise_conv": expected["depthwise"],
        "separable_conv": expected["separable"],
        "conv_transpose": expected["up"],
        "matmul": expected["dense"],
    }
    # Batch norm, activations, reshapes and pooling count 0 but are listed.
    assert count.by_layer["bn"] == count.by_layer["pool"] == 0


def test_batch_size_scales_the_count():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)])
    assert count_flops(model, (3, 8, 8, 3)).total == conv_macs(6, 6, 4, 3, 3, 3)


class AttentionBlock(keras.layers.Layer):
    """Single-head attention written with matmul, einsum, dot and tensordot."""

    def build(self, input_shape):
        channels = input_shape[-1]
        self.query = self.add_weight(shape=(channels, 4), name="query")
        self.key = self.add_weight(shape=(channels, 4), name="key")
        self.value = self.add_weight(shape=(channels, channels), name="value")
        self.out = self.add_weight(shape=(channels, channels), name="out")

    def call(self, x):
        query = ops.matmul(x, self.query)  # (B, T, 4)
        key = ops.einsum("btc,cd->btd", x, self.key)
        value = ops.tensordot(x, self.value, axes=1)  # (B, T, C)
        scores = ops.einsum("bqd,bkd->bqk", query, key)
        weights = ops.softmax(scores / 2.0, axis=-1)
        attended = ops.matmul(weights, value)
        return ops.dot(attended, self.out)


def test_attention_block_exact():
    batch, tokens, channels = 2, 6, 8
    inputs = keras.Input((tokens, channels), batch_size=batch)
    model = functional(inputs, AttentionBlock(name="attention")(inputs))
    projections = batch * tokens * (4 + 4 + channels) * channels
    affinities = batch * tokens * tokens * 4
    attended = batch * tokens * tokens * channels
    output = batch * tokens * channels * channels
    count = count_flops(model, (batch, tokens, channels))
    assert count.matmul == projections + affinities + attended + output
    assert count.total == count.matmul
    assert count.by_op == {
        "matmul": batch * tokens * 4 * channels + attended,
        "einsum": batch * tokens * 4 * channels + affinities,
        "tensordot": batch * tokens * channels * channels,
        "dot": output,
    }
    assert count.by_layer == {"attention": count.total}


def test_multi_head_attention_exact():
    tokens, dim, heads, key_dim = 6, 8, 2, 4
    inputs = keras.Input((tokens, dim))
    layer = keras.layers.MultiHeadAttention(heads, key_dim, name="mha")
    model = functional(inputs, layer(inputs, inputs))
    projections = 4 * tokens * dim * heads * key_dim  # query, key, value, output
    attention = 2 * heads * tokens * tokens * key_dim  # scores, weighted values
    assert count_flops(model, (1, tokens, dim)).total == projections + attention


@pytest.mark.parametrize(
    "equation,shapes,expected",
    [
        ("ij,jk->ik", [(2, 3), (3, 4)], 2 * 3 * 4),
        ("ij,jk", [(2, 3), (3, 4)], 2 * 3 * 4),  # implicit output "ik"
        ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)], 5 * 2 * 3 * 4),
        ("i,j->ij", [(3,), (4,)], 12),  # outer product: one multiply each
        ("ij->ji", [(3, 4)], 0),  # a transposition multiplies nothing
        # Left to right: (ij,jk -> ik: 2*3*4), then (ik,kl -> il: 2*4*5).
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], 2 * 3 * 4 + 2 * 4 * 5),
    ],
)
def test_einsum_equations(equation, shapes, expected):
    class Einsum(keras.layers.Layer):
        def call(self, x):
            operands = [ops.ones(shape) for shape in shapes[1:]]
            return ops.einsum(equation, ops.reshape(x, shapes[0]), *operands)

    size = math.prod(shapes[0])
    inputs = keras.Input((size,), batch_size=1)
    model = functional(inputs, Einsum()(inputs))
    assert count_flops(model, (1, size)).matmul == expected


# --- Bilinear sampling -----------------------------------------------------------


class SamplingBlock(keras.layers.Layer):
    def call(self, x):
        up = resize_bilinear(x, (12, 16), align_corners=False)
        up_aligned = resize_bilinear(x, (12, 16), align_corners=True)
        warped = flow_warp(up, ops.zeros_like(up[..., :2]))
        grid = ops.zeros((1, 5, 7, 2))
        sampled = grid_sample(x, grid, align_corners=True)
        return up_aligned + warped, sampled


def test_warp_and_resize_count_four_per_output_element():
    inputs = keras.Input((6, 8, 3), batch_size=1)
    model = functional(inputs, SamplingBlock(name="sampling")(inputs))
    count = count_flops(model, (1, 6, 8, 3))
    assert count.by_op == {
        "resize_bilinear": 2 * sampling_macs(1, 12, 16, 3),
        "grid_sample": sampling_macs(1, 5, 7, 3),
        "flow_warp": sampling_macs(1, 12, 16, 3),
    }
    assert count.sampling == count.total == sum(count.by_op.values())
    assert count.conv == count.matmul == 0

    excluded = count_flops(model, (1, 6, 8, 3), include_sampling=False)
    assert excluded.sampling == count.sampling
    assert excluded.total == 0
    assert excluded.by_layer == {"sampling": 0}


def test_keras_resizing_layers():
    inputs = keras.Input((4, 4, 2))
    outputs = [
        keras.layers.UpSampling2D(2, interpolation="bilinear", name="up")(inputs),
        keras.layers.UpSampling2D(2, interpolation="nearest", name="nearest")(inputs),
        # Resizing calls the backend's resize directly, not keras.ops.
        keras.layers.Resizing(6, 10, name="resizing")(inputs),
        keras.layers.Resizing(6, 10, interpolation="bicubic", name="bicubic")(inputs),
    ]
    count = count_flops(functional(inputs, outputs), (1, 4, 4, 2))
    assert count.by_layer == {
        "up": sampling_macs(1, 8, 8, 2),
        "nearest": 0,
        "resizing": sampling_macs(1, 6, 10, 2),
        "bicubic": 4 * sampling_macs(1, 6, 10, 2),  # 4 x 4 taps
    }


def test_report_bilinear_sampling_is_a_no_op_outside_a_count():
    report_bilinear_sampling(ops.zeros((1, 2, 2, 1)), "test")
    assert flops_module._STATE.counter is None


# --- The SRM and the CRM: the sum of their parts -----------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"offset_groups": 2, "neighbor_aggregation": "static", "fusion": "concat"},
        {"neighbor_kernel_size": 1, "align_corners": True},
    ],
)
def test_srm_equals_sum_of_parts(options):
    batch, (h, w, c_high), (big_h, big_w, c_low), filters = (
        2,
        (5, 6, 32),
        (10, 12, 8),
        16,
    )
    high = keras.Input((h, w, c_high), batch_size=batch)
    low = keras.Input((big_h, big_w, c_low), batch_size=batch)
    srm = SemanticRefinementModule(filters, name="srm", **options)
    model = functional([high, low], srm([high, low]))

    groups = options.get("offset_groups", 1)
    taps = options.get("neighbor_kernel_size", 3) ** 2
    pixels = batch * big_h * big_w
    expected_conv = (
        conv_macs(big_h, big_w, filters, 1, c_low, batch)  # low projection
        + conv_macs(h, w, filters, 1, c_high, batch)  # high projection
        + conv_macs(big_h, big_w, 2 * groups, 3, 2 * filters, batch)  # offsets
    )
    expected_matmul = 0
    if taps > 1 and options.get("neighbor_aggregation", "dynamic") == "dynamic":
        # Weight predictor (3x3 conv of the guide), then a weighted sum of
        # the `taps` neighbours of each offset.
        expected_conv += conv_macs(big_h, big_w, groups * taps, 3, 2 * filters, batch)
        expected_matmul += pixels * groups * taps * 2
    elif taps > 1:
        expected_conv += pixels * 2 * groups * taps  # depthwise
    if options.get("fusion") == "concat":
        expected_conv += conv_macs(big_h, big_w, filters, 1, 2 * filters, batch)
    upsample = sampling_macs(batch, big_h, big_w, filters)
    warp = sampling_macs(batch, big_h, big_w, filters)

    count = count_flops(model, [(batch, h, w, c_high), (batch, big_h, big_w, c_low)])
    assert count.conv == expected_conv
    assert count.matmul == expected_matmul
    assert count.sampling == upsample + warp
    assert count.by_op["flow_warp"] == warp
    assert count.total == expected_conv + expected_matmul + upsample + warp
    assert count.by_layer == {"srm": count.total}


@pytest.mark.parametrize(
    "channel_attention,spatial_attention", [("self", "self"), ("gate", "gate")]
)
def test_crm_equals_sum_of_parts(channel_attention, spatial_attention):
    stage_shapes = [(32, 32, 8), (16, 16, 16), (8, 8, 24), (4, 4, 32)]
    filters, reduction = 16, 8
    stage_filters = filters // 4
    inputs = [keras.Input(shape, batch_size=1) for shape in stage_shapes]
    crm = ContextualRefinementModule(
        filters,
        channel_attention=channel_attention,
        spatial_attention=spatial_attention,
        reduction=reduction,
        name="crm",
    )
    model = functional(inputs, crm(inputs))

    projections = sum(conv_macs(h, w, stage_filters, 1, c) for h, w, c in stage_shapes)
    # Finer stages step down through every coarser size to stride 32.
    resizes = sum(
        sampling_macs(h, w, stage_filters)
        for level in range(3)
        for h, w, _ in stage_shapes[level + 1 :]
    )
    positions, channels = 4 * 4, filters
    if channel_attention == "self":
        channel = 2 * positions * channels * channels  # X^T X, then X A^T
    else:
        hidden = channels // reduction
        channel = 2 * (channels * hidden + hidden * channels)  # avg and max MLPs
    if spatial_attention == "self":
        key_channels = channels // reduction
        spatial_conv = positions * (2 * key_channels + channels) * channels
        spatial_matmul = positions * positions * (key_channels + channels)
    else:
        spatial_conv = conv_macs(4, 4, 1, 7, 2)
        spatial_matmul = 0
    output = conv_macs(4, 4, filters, 3, filters)

    count = count_flops(model, [(1, *shape) for shape in stage_shapes])
    assert count.conv == projections + spatial_conv + output
    assert count.matmul == channel + spatial_matmul
    assert count.sampling == resizes
    assert count.total == (
        projections + resizes + channel + spatial_conv + spatial_matmul + output
    )
    assert count.by_layer == {"crm": count.total}


# --- Real backbones --------------------------------------------------------------


def resnet50_macs(stride_on_3x3, size=224, classes=1000):
    """Conv + FC MACs of ResNet-50, layer by layer.

    `stride_on_3x3=False` is the original ResNet v1 (and keras.applications),
    which strides the first 1x1 conv of a stage; True is "v1.5"
    (torchvision, KerasHub), which strides the 3x3 conv.
    """
    side = size // 2
    macs = conv_macs(side, side, 64, 7, 3)
    side //= 2  # max pooling
    in_channels = 64
    for filters, blocks, first_stride in zip(
        (64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2)
    ):
        for block in range(blocks):
            stride = first_stride if block == 0 else 1
            out = side // stride
            conv1_side = side if stride_on_3x3 else out
            macs += conv_macs(conv1_side, conv1_side, filters, 1, in_channels)
            macs += conv_macs(out, out, filters, 3, filters)
            macs += conv_macs(out, out, 4 * filters, 1, filters)
            if block == 0:
                macs += conv_macs(out, out, 4 * filters, 1, in_channels)
            in_channels, side = 4 * filters, out
    return macs + in_channels * classes


def test_keras_applications_resnet50():
    model = keras.applications.ResNet50(weights=None)
    count = count_flops(model, (1, 224, 224, 3))
    # keras.applications' ResNet50 is the original v1 (3.86 G), which the
    # ResNet paper reports as "3.8 x 10^9 FLOPs".
    assert count.total == resnet50_macs(stride_on_3x3=False) == 3_857_973_248
    assert count.matmul == 2048 * 1000
    assert count.sampling == 0
    # torchvision's count: 25,557,032; v1 has more (bias on every conv).
    assert count_params(model).trainable == 25_583_592


def test_keras_hub_resnet50_v1_5_matches_fvcore():
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[3, 4, 6, 3],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
        image_shape=(224, 224, 3),
        name="backbone",
    )
    inputs = keras.Input((224, 224, 3))
    features = keras.layers.GlobalAveragePooling2D(name="pool")(backbone(inputs))
    model = functional(inputs, keras.layers.Dense(1000, name="head")(features))
    count = count_flops(model, (1, 224, 224, 3))
    expected = resnet50_macs(stride_on_3x3=True)
    assert count.total == expected == 4_089_184_256
    # torchvision's model table: ResNet-50 (v1.5), 4.09 GFLOPS (1 per MAC).
    assert abs(count.total / 4.09e9 - 1) < 0.01
    assert count.by_layer == {
        "backbone": expected - 2048 * 1000,
        "pool": 0,
        "head": 2048 * 1000,
    }
    assert count_params(model).trainable == 25_557_032  # as torchvision


# --- Robustness ------------------------------------------------------------------


def _wrappers_left():
    """Module attributes that are still counting wrappers."""
    found = []
    for module in list(sys.modules.values()):
        if isinstance(module, types.ModuleType):
            for name, value in list(getattr(module, "__dict__", {}).items()):
                # No getattr: some module attributes are lazy imports.
                if type(value) is types.FunctionType and (
                    "__wrapped_for_flops__" in vars(value)
                ):
                    found.append(f"{module.__name__}.{name}")
    return found


def test_no_wrapper_left_behind():
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Conv2D(2, 1)])
    count_flops(model, (1, 4, 4, 2))
    assert _wrappers_left() == []
    assert flops_module._STATE.counter is None


class Failing(keras.layers.Layer):
    def call(self, x):
        ops.matmul(ops.reshape(x, (1, -1)), ops.ones((4 * 4 * 2, 1)))
        raise RuntimeError("failing on purpose")

    def compute_output_shape(self, input_shape):
        return input_shape


def test_no_wrapper_left_behind_on_error():
    inputs = keras.Input((4, 4, 2), batch_size=1)
    model = functional(inputs, Failing()(inputs))
    with pytest.raises(RuntimeError, match="failing on purpose"):
        count_flops(model, (1, 4, 4, 2))
    assert _wrappers_left() == []
    assert flops_module._STATE.counter is None
    assert flops_module._STATE.depth == 0
    # Counting still works afterwards.
    conv = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Conv2D(2, 1)])
    assert count_flops(conv, (1, 4, 4, 2)).total == conv_macs(4, 4, 2, 1, 2)


def test_ops_are_wrapped_during_the_count_only():
    seen = []

    class Probe(keras.layers.Layer):
        def call(self, x):
            seen.append(_wrappers_left())
            return x

    inputs = keras.Input((2,), batch_size=1)
    count_flops(functional(inputs, Probe()(inputs)), (1, 2))
    backend = keras.backend.backend()
    assert f"keras.src.backend.{backend}.nn.conv" in seen[-1]
    assert f"keras.src.backend.{backend}.numpy.matmul" in seen[-1]
    assert f"keras.src.backend.{backend}.image.resize" in seen[-1]


def test_other_threads_are_not_counted():
    results = []

    class OtherThread(keras.layers.Layer):
        def call(self, x):
            thread = threading.Thread(
                target=lambda: results.append(
                    ops.matmul(ops.ones((3, 3)), ops.ones((3, 3)))
                )
            )
            thread.start()
            thread.join()
            return x

    inputs = keras.Input((2,), batch_size=1)
    model = functional(inputs, OtherThread()(inputs))
    results.clear()
    count = count_flops(model, (1, 2))
    assert len(results) == 1
    assert count.total == 0


def test_reference_held_by_another_module_is_counted():
    # As KerasCV's `from keras.src.backend.tensorflow import *`.
    backend_nn = keras.src.backend.nn
    alias = types.ModuleType("_flops_test_alias")
    alias.conv = backend_nn.conv
    sys.modules[alias.__name__] = alias
    try:

        class DirectConv(keras.layers.Layer):
            def build(self, input_shape):
                self.kernel = self.add_weight(shape=(3, 3, input_shape[-1], 5))

            def call(self, x):
                return alias.conv(x, self.kernel, padding="same")

        inputs = keras.Input((6, 6, 2), batch_size=1)
        model = functional(inputs, DirectConv()(inputs))
        assert count_flops(model, (1, 6, 6, 2)).total == conv_macs(6, 6, 5, 3, 2)
        assert alias.conv is backend_nn.conv
    finally:
        del sys.modules[alias.__name__]


@pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="the meta-device retry is torch's"
)
def test_torch_retry_on_cpu_counts_once():
    class MetaUnfriendly(keras.layers.Layer):
        def call(self, x):
            if x.device.type == "meta":
                raise NotImplementedError("no meta kernel")
            return x

    inputs = keras.Input((4, 4, 2), batch_size=1)
    x = keras.layers.Conv2D(3, 1)(inputs)
    model = functional(inputs, MetaUnfriendly()(x))
    with pytest.warns(UserWarning, match="meta device"):
        count = count_flops(model, (1, 4, 4, 2))
    assert count.total == conv_macs(4, 4, 3, 1, 2)


def test_unbuilt_layer_is_built_at_the_input_shape():
    srm = SemanticRefinementModule(8, neighbor_kernel_size=1)
    count = count_flops(srm, [(1, 4, 4, 8), (1, 8, 8, 4)])
    assert srm.built
    assert count.conv == conv_macs(8, 8, 8, 1, 4) + conv_macs(8, 8, 2, 3, 16)
    assert count.by_layer == {
        "low_projection": count.conv - conv_macs(8, 8, 2, 3, 16),
        "offset_predictor": conv_macs(8, 8, 2, 3, 16),
        srm.name: count.sampling,
    }


def test_mixed_precision_does_not_change_the_count():
    def build(dtype):
        inputs = keras.Input((8, 8, 4))
        x = keras.layers.Conv2D(6, 3, dtype=dtype)(inputs)
        return functional(inputs, keras.layers.Dense(3, dtype=dtype)(x))

    expected = conv_macs(6, 6, 6, 3, 4) + 6 * 6 * 6 * 3
    assert count_flops(build("float32"), (1, 8, 8, 4)).total == expected
    assert count_flops(build("mixed_float16"), (1, 8, 8, 4)).total == expected


def test_nested_count_is_refused():
    class Nested(keras.layers.Layer):
        def call(self, x):
            count_flops(keras.layers.Dense(2), (1, 2))
            return x

    inputs = keras.Input((2,), batch_size=1)
    with pytest.raises(RuntimeError, match="another count_flops"):
        count_flops(functional(inputs, Nested()(inputs)), (1, 2))
    assert _wrappers_left() == []


@pytest.mark.parametrize(
    "input_shape", [(None, 8, 8, 3), (1, 8, 8), (8, 8, 3.0), (), "1x8x8x3", 3]
)
def test_rejects_shapes_that_are_not_static(input_shape):
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)])
    with pytest.raises(ValueError):
        count_flops(model, input_shape)


def test_rejects_non_layers():
    with pytest.raises(TypeError, match="keras.Model or keras.layers.Layer"):
        count_flops(lambda x: x, (1, 2))
    with pytest.raises(TypeError, match="keras.Model or keras.layers.Layer"):
        count_params(object())


def test_result_formats():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)])
    count = count_flops(model, (1, 8, 8, 3))
    assert count.gmacs == count.total / 1e9
    assert count.to_dict()["total"] == count.total == conv_macs(8, 8, 2, 1, 3)
    assert "total" in str(count) and "(1, 8, 8, 3)" in str(count)


# --- Parameters ----------------------------------------------------------------


def test_count_params():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    frozen = keras.layers.Dense(2, name="frozen")
    frozen.trainable = False
    model = functional(inputs, frozen(x))
    params = count_params(model)
    assert params.trainable == (3 * 3 * 3 * 4 + 4) + 2 * 4
    assert params.non_trainable == 2 * 4 + (4 * 2 + 2)
    assert params.total == params.trainable + params.non_trainable
    assert params.total == model.count_params()


def test_count_params_needs_a_built_model():
    with pytest.raises(ValueError, match="built"):
        count_params(keras.layers.Dense(3))


# --- The benchmark script --------------------------------------------------------


def test_complexity_script_registry_and_table():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "complexity.py"
    spec = importlib.util.spec_from_file_location("_complexity_script", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert set(script.DEFAULT_MODELS) <= set(script.MODELS)

    @script.register("tiny")
    def build_tiny(image_shape):
        inputs = keras.Input(image_shape)
        return functional(inputs, keras.layers.Conv2D(4, 3, padding="same")(inputs))

    with pytest.raises(ValueError, match="already registered"):
        script.register("tiny")(build_tiny)
    row = script.measure("tiny", (1, 8, 16, 3))
    assert row["macs"] == conv_macs(8, 16, 4, 3, 3)
    assert row["params"] == 3 * 3 * 3 * 4 + 4
    table = script.format_table([row])
    assert "| tiny | 1x8x16x3 |" in table


# --- Pinned against hand counts of whole networks ----------------------------------


def resnet18_conv_macs(height, width):
    """Convolution MACs of ResNet-18 (v1, basic blocks) from its architecture."""
    macs = conv_macs(height // 2, width // 2, 64, 7, 3)  # stem, stride 2
    h, w = height // 4, width // 4  # after the stride-2 max pool
    macs += 4 * conv_macs(h, w, 64, 3, 64)  # stage 1: two blocks of two 3x3
    in_channels = 64
    for channels in (128, 256, 512):
        h, w = h // 2, w // 2
        macs += conv_macs(h, w, channels, 3, in_channels)  # strided 3x3
        macs += 3 * conv_macs(h, w, channels, 3, channels)
        macs += conv_macs(h, w, channels, 1, in_channels)  # 1x1 shortcut
        in_channels = channels
    return macs


def srcrm_decoder_conv_macs(height, width, filters, num_classes):
    """Convolution MACs of the SRM + CRM decoder and head on ResNet-18 stages."""
    sizes = [(height // s, width // s) for s in (4, 8, 16, 32)]
    channels = (64, 128, 256, 512)
    stage_filters = filters // 4
    h5, w5 = sizes[3]
    # CRM at stride 32: stage projections, spatial attention's 1x1 query, key
    # and value projections (channel attention has no convolution), output.
    macs = sum(
        conv_macs(h, w, stage_filters, 1, c) for (h, w), c in zip(sizes, channels)
    )
    macs += conv_macs(h5, w5, 2 * (filters // 8) + filters, 1, filters)
    macs += conv_macs(h5, w5, filters, 3, filters)
    # One SRM per top-down step: lateral projection, offset predictor and
    # neighbour weights (3x3 on both maps), then the 3x3 smoothing.
    for (h, w), c in zip(sizes[2::-1], channels[2::-1]):
        macs += conv_macs(h, w, filters, 1, c)
        macs += conv_macs(h, w, 2 + 9, 3, 2 * filters)
        macs += conv_macs(h, w, filters, 3, filters)
    h2, w2 = sizes[0]
    macs += conv_macs(h2, w2, filters, 3, 4 * filters)  # multi-level fusion
    macs += conv_macs(h2, w2, num_classes, 1, filters)  # classifier
    return macs


def test_resnet18_backbone_matches_the_hand_count():
    from keras_srcrm.models import backbone_from_config

    count = count_flops(backbone_from_config("hub_resnet18"), (1, 1024, 2048, 3))
    assert count.conv == resnet18_conv_macs(1024, 2048) == 75_799_461_888
    assert count.matmul == 0


def test_srcrm_lite_matches_the_hand_count():
    from keras_srcrm.models import SRCRMSegmenter

    model = SRCRMSegmenter.from_preset("srcrm_lite", 19, load_weights=False)
    count = count_flops(model, (1, 1024, 2048, 3))
    expected = resnet18_conv_macs(1024, 2048) + srcrm_decoder_conv_macs(
        1024, 2048, 96, 19
    )
    assert count.conv == expected == 139_044_323_328
