"""The SRM in its SFNet mode computes SFNet's Flow Alignment Module exactly.

The reference is an independent PyTorch implementation, written here from
SFNet's published equations (Li et al., ECCV 2020, and the `AlignedModule`
inside the `UperNetAlignHead` top-down step of the authors' code):

    conv_x = fpn_in(C)                          # lateral 1x1 conv-BN-ReLU
    h = interpolate(down_h(f), size(conv_x), bilinear, align_corners=True)
    flow = flow_make(cat([h, down_l(conv_x)]))  # 3x3, 2 channels, no bias
    grid = identity(-1..1, output size) + flow / (W, H)
    out = conv_x + grid_sample(f, grid, bilinear, zeros, align_corners=True)

Its random weights are copied into a `SemanticRefinementModule` with
`sample_from="coarse", padding_mode="zeros", align_corners=True,
neighbor_kernel_size=1`: the lateral block into `low_projection`, and
`flow_make` composed with `down_h` / `down_l` (all linear and bias-free)
into the offset predictor, scaled from SFNet's flow unit to pixels,
`(W - 1) / (2 W)` in x and `(H - 1) / (2 H)` in y.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_srcrm.layers import SemanticRefinementModule
from tests.helpers import call_jitted
from tests.helpers import float64_enabled
from tests.helpers import to_numpy

FILTERS = 8
LOW_CHANNELS = 6


def sfnet_warp(features, flow, size):
    """SFNet's `flow_warp`: the output grid plus flow / (W, H), zero padding."""
    out_h, out_w = size
    batch = features.shape[0]
    ys = torch.linspace(-1.0, 1.0, out_h, dtype=features.dtype)
    xs = torch.linspace(-1.0, 1.0, out_w, dtype=features.dtype)
    grid = torch.stack(
        [xs.view(1, -1).expand(out_h, out_w), ys.view(-1, 1).expand(out_h, out_w)],
        dim=-1,
    )
    grid = grid.unsqueeze(0).expand(batch, out_h, out_w, 2)
    norm = torch.tensor([out_w, out_h], dtype=features.dtype)
    grid = grid + flow.permute(0, 2, 3, 1) / norm
    return F.grid_sample(features, grid, mode="bilinear", align_corners=True)


class SFNetTopDownStep(torch.nn.Module):
    """The `UperNetAlignHead` top-down step around SFNet's `AlignedModule`."""

    def __init__(self, low_channels, fpn_dim, generator):
        super().__init__()
        half = fpn_dim // 2

        def weight(*shape, scale):
            return torch.nn.Parameter(
                torch.randn(*shape, generator=generator, dtype=torch.float64) * scale
            )

        self.fpn_in_kernel = weight(fpn_dim, low_channels, 1, 1, scale=0.5)
        self.bn_gamma = weight(fpn_dim, scale=0.2)
        self.bn_beta = weight(fpn_dim, scale=0.2)
        self.bn_mean = weight(fpn_dim, scale=0.2)
        self.bn_var = torch.nn.Parameter(
            1.0 + 0.2 * torch.rand(fpn_dim, generator=generator, dtype=torch.float64)
        )
        self.down_h = weight(half, fpn_dim, 1, 1, scale=0.5)
        self.down_l = weight(half, fpn_dim, 1, 1, scale=0.5)
        # Large enough for flows of several output pixels.
        self.flow_make = weight(2, 2 * half, 3, 3, scale=1.5)

    def forward(self, low, high):
        conv_x = F.conv2d(low, self.fpn_in_kernel)
        conv_x = F.batch_norm(
            conv_x, self.bn_mean, self.bn_var, self.bn_gamma, self.bn_beta, eps=1e-5
        )
        conv_x = F.relu(conv_x)
        size = conv_x.shape[2:]
        h = F.interpolate(
            F.conv2d(high, self.down_h), size=size, mode="bilinear", align_corners=True
        )
        l_ = F.conv2d(conv_x, self.down_l)
        flow = F.conv2d(torch.cat([h, l_], dim=1), self.flow_make, padding=1)
        return conv_x + sfnet_warp(high, flow, size), flow


def copy_into_srm(reference, srm, out_size, dtype):
    """Sets the SRM's weights from the reference step (see the module doc)."""
    out_h, out_w = out_size
    numpy = {k: v.detach().numpy() for k, v in reference.named_parameters()}
    projection = srm.low_projection
    projection.conv.kernel.assign(
        numpy["fpn_in_kernel"][:, :, 0, 0].T[None, None].astype(dtype)
    )
    norm = projection.batch_norm
    norm.gamma.assign(numpy["bn_gamma"].astype(dtype))
    norm.beta.assign(numpy["bn_beta"].astype(dtype))
    norm.moving_mean.assign(numpy["bn_mean"].astype(dtype))
    norm.moving_variance.assign(numpy["bn_var"].astype(dtype))
    # flow_make on [down_h(up(high)), down_l(low)] equals one 3x3 kernel on
    # the SRM's guide [low, up(high)]: compose the 1x1 projections in.
    half = numpy["down_h"].shape[0]
    flow_make = numpy["flow_make"]  # (2, 2 * half, 3, 3)
    on_high = np.einsum(
        "ohyx,hc->yxco", flow_make[:, :half], numpy["down_h"][..., 0, 0]
    )
    on_low = np.einsum("ohyx,hc->yxco", flow_make[:, half:], numpy["down_l"][..., 0, 0])
    kernel = np.concatenate([on_low, on_high], axis=2)
    # SFNet's flow unit is 2 / (W, H) of the normalised grid; the SRM's is
    # one output pixel: (W - 1) / 2 pixels per normalised unit.
    kernel[..., 0] *= (out_w - 1) / (2.0 * out_w)
    kernel[..., 1] *= (out_h - 1) / (2.0 * out_h)
    srm.offset_predictor.kernel.assign(kernel.astype(dtype))
    srm.offset_predictor.bias.assign(np.zeros(2, dtype))
    return (out_w - 1) / (2.0 * out_w), (out_h - 1) / (2.0 * out_h)


def run_srm(reference, high, low, dtype, **options):
    """The SRM with the reference's weights on the same inputs, in `dtype`."""
    srm = SemanticRefinementModule(FILTERS, dtype=dtype, **options)
    high_nhwc = high.permute(0, 2, 3, 1).numpy().astype(dtype)
    low_nhwc = low.permute(0, 2, 3, 1).numpy().astype(dtype)
    srm.build([high_nhwc.shape, low_nhwc.shape])
    scales = copy_into_srm(reference, srm, low.shape[2:], dtype)
    return call_jitted(srm, [high_nhwc, low_nhwc], training=False), scales


SFNET_MODE = {
    "sample_from": "coarse",
    "padding_mode": "zeros",
    "align_corners": True,
    "neighbor_kernel_size": 1,
}


@pytest.mark.parametrize(
    "coarse_size, fine_size",
    [((8, 8), (16, 16)), ((16, 32), (32, 64)), ((7, 11), (13, 21))],
)
@pytest.mark.parametrize("dtype, atol", [("float64", 1e-5), ("float32", 2e-4)])
def test_srm_equals_sfnet_flow_alignment_module(coarse_size, fine_size, dtype, atol):
    """float64 checks the maths (the two agree to rounding); float32, what a
    model computes (offsets of several pixels amplify float32 rounding)."""
    generator = torch.Generator().manual_seed(sum(fine_size))
    reference = SFNetTopDownStep(LOW_CHANNELS, FILTERS, generator).eval()
    high = torch.randn(
        2, FILTERS, *coarse_size, generator=generator, dtype=torch.float64
    )
    low = torch.randn(
        2, LOW_CHANNELS, *fine_size, generator=generator, dtype=torch.float64
    )
    with torch.no_grad():
        expected, sfnet_flow = reference(low, high)

    with float64_enabled():
        (actual, offsets), (scale_x, scale_y) = run_srm(
            reference, high, low, dtype, return_offsets=True, **SFNET_MODE
        )
        actual, offsets = to_numpy(actual), to_numpy(offsets)

    # The offsets are SFNet's flow in pixels, and several pixels large, so
    # that the comparison exercises the warp and the zero padding.
    flow = sfnet_flow.permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(offsets, flow * [scale_x, scale_y], rtol=0, atol=atol)
    assert np.abs(offsets).max() > 2.0
    np.testing.assert_allclose(
        actual, expected.permute(0, 2, 3, 1).numpy(), rtol=0, atol=atol
    )


def test_default_srm_is_not_sfnet_mode():
    """The paper's mode (warp the upsampled map, border padding) differs from
    SFNet's once offsets are non-zero: the SFNet mode is an option."""
    generator = torch.Generator().manual_seed(0)
    reference = SFNetTopDownStep(LOW_CHANNELS, FILTERS, generator).eval()
    high = torch.randn(1, FILTERS, 8, 8, generator=generator, dtype=torch.float64)
    low = torch.randn(1, LOW_CHANNELS, 16, 16, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        expected, _ = reference(low, high)
    actual, _ = run_srm(
        reference, high, low, "float32", align_corners=True, neighbor_kernel_size=1
    )
    difference = np.abs(to_numpy(actual) - expected.permute(0, 2, 3, 1).numpy())
    assert difference.max() > 1e-2
