"""PyTorch fast path of zero-padded bilinear sampling.

The same arithmetic as `sampling.zero_padded_bilinear_generic`, as one
`torch.autograd.Function`: the forward pass accumulates the four weighted
neighbours in place, and the backward pass scatters the output gradient with
`index_add_` and computes the coordinate gradients from re-gathered neighbours
instead of keeping four copies of them alive. `torch.nn.functional.grid_sample`
is not used because it takes normalised coordinates, and converting pixel
positions to them and back is not exact: zero flow would no longer return the
input bit for bit.
"""

import torch


def _corners(x, y, height, width):
    """Flat row indices and weights of the four bilinear neighbours."""
    x0 = torch.floor(x)
    y0 = torch.floor(y)
    wx1 = (x - x0).reshape(-1, 1)
    wy1 = (y - y0).reshape(-1, 1)
    x0 = x0.to(torch.int64).reshape(-1)
    y0 = y0.to(torch.int64).reshape(-1)
    batch = x.shape[0]
    per_image = x.shape[1] * x.shape[2]
    batch_offset = torch.arange(batch, device=x.device, dtype=torch.int64)
    batch_offset = (batch_offset * (height * width)).repeat_interleave(per_image)
    corners = []
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        yi = y0 + dy
        xi = x0 + dx
        inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
        index = batch_offset + yi.clamp(0, height - 1) * width + xi.clamp(0, width - 1)
        corners.append((index, inside.to(x.dtype).reshape(-1, 1)))
    return corners, wx1, wy1


def _weights(wx1, wy1):
    wx0 = 1.0 - wx1
    wy0 = 1.0 - wy1
    return (wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1)


class _ZeroPaddedBilinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, x, y):
        batch, height, width, channels = features.shape
        rows = features.reshape(-1, channels).to(x.dtype)
        corners, wx1, wy1 = _corners(x, y, height, width)
        # Fresh full-size tensors are costly on CPU (each one is page-faulted
        # in), so the four neighbours go through one reused buffer.
        out = None
        values = None
        for (index, inside), weight in zip(corners, _weights(wx1, wy1)):
            if out is None:
                out = rows.index_select(0, index).mul_(weight * inside)
                values = torch.empty_like(out)
            else:
                torch.index_select(rows, 0, index, out=values)
                out.addcmul_(values, weight * inside)
        ctx.save_for_backward(rows, x, y)
        ctx.feature_shape = features.shape
        ctx.feature_dtype = features.dtype
        return out.reshape(x.shape + (channels,))

    @staticmethod
    def backward(ctx, grad_out):
        rows, x, y = ctx.saved_tensors
        _, height, width, channels = ctx.feature_shape
        grad_rows = grad_out.reshape(-1, channels).to(rows.dtype)
        corners, wx1, wy1 = _corners(x, y, height, width)
        weights = _weights(wx1, wy1)
        grad_features = grad_x = grad_y = None

        buffer = torch.empty_like(grad_rows)
        if ctx.needs_input_grad[0]:
            grad_features = torch.zeros_like(rows)
            for (index, inside), weight in zip(corners, weights):
                torch.mul(grad_rows, weight * inside, out=buffer)
                grad_features.index_add_(0, index, buffer)
            grad_features = grad_features.reshape(ctx.feature_shape).to(
                ctx.feature_dtype
            )

        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            # d(out)/d(x) needs the dot product of the output gradient with
            # each neighbour; only zero-padding validity multiplies it.
            dots = []
            for index, inside in corners:
                torch.index_select(rows, 0, index, out=buffer)
                dot = torch.bmm(grad_rows.unsqueeze(1), buffer.unsqueeze(2))
                dots.append(dot.reshape(-1, 1) * inside)
            d00, d01, d10, d11 = dots
            if ctx.needs_input_grad[1]:
                grad_x = ((1.0 - wy1) * (d01 - d00) + wy1 * (d11 - d10)).reshape(
                    x.shape
                )
            if ctx.needs_input_grad[2]:
                grad_y = ((1.0 - wx1) * (d10 - d00) + wx1 * (d11 - d01)).reshape(
                    y.shape
                )
        return grad_features, grad_x, grad_y


def zero_padded_bilinear(features, x, y):
    """See `sampling.zero_padded_bilinear_generic` for the contract."""
    return _ZeroPaddedBilinear.apply(features.contiguous(), x, y)
