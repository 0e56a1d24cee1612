"""PyTorch fast paths of a channels-last 2-D convolution and batch norm.

A `(batch, height, width, channels)` tensor viewed as `(batch, channels,
height, width)` is what PyTorch calls the `channels_last` memory format, which
its convolutions and batch norm take as they are. Keras's PyTorch backend
instead copies every channels-last input into contiguous NCHW, then back into
`channels_last` memory, and computes batch norm from a dozen element-wise
operations. These functions take views and call the fused kernels: no copy of
the activations, one batch-norm kernel forward and one backward.

Only the PyTorch backend imports this module (see `layers/conv_and_norm.py`).
"""

import torch
import torch.nn.functional as F


def _same_padding(size, kernel, stride, dilation):
    """(before, after) padding of TensorFlow's "same" for one dimension."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def conv2d_channels_last(inputs, kernel, strides, padding, dilation_rate, groups):
    """`keras.ops.conv` of channels-last inputs without activation copies.

    Args:
        inputs: `(batch, height, width, channels)` tensor.
        kernel: `(kernel_h, kernel_w, channels // groups, filters)` tensor,
            Keras's layout.
        strides: `(stride_h, stride_w)`.
        padding: `"same"` or `"valid"`.
        dilation_rate: `(dilation_h, dilation_w)`.
        groups: Number of channel groups.

    Returns:
        `(batch, new_height, new_width, filters)` tensor.
    """
    x = inputs.permute(0, 3, 1, 2)
    weight = kernel.permute(3, 2, 0, 1)
    pad = (0, 0)
    if padding == "same":
        (top, bottom), (left, right) = (
            _same_padding(size, k, s, d)
            for size, k, s, d in zip(
                x.shape[2:], weight.shape[2:], strides, dilation_rate
            )
        )
        if top == bottom and left == right:
            pad = (top, left)
        else:
            x = F.pad(x, (left, right, top, bottom))
    outputs = F.conv2d(
        x,
        weight,
        stride=tuple(strides),
        padding=pad,
        dilation=tuple(dilation_rate),
        groups=groups,
    )
    return outputs.permute(0, 2, 3, 1)


def batch_norm_channels_last(inputs, mean, variance, gamma, beta, epsilon):
    """Batch norm of channels-last inputs with given statistics (inference)."""
    outputs = F.batch_norm(
        inputs.permute(0, 3, 1, 2),
        mean,
        variance,
        gamma,
        beta,
        training=False,
        eps=epsilon,
    )
    return outputs.permute(0, 2, 3, 1)


def batch_norm_channels_last_training(inputs, gamma, beta, epsilon):
    """Batch norm of channels-last inputs with the batch's statistics.

    Returns:
        `(outputs, mean, variance)`: the normalised inputs, and the batch's
        per-channel mean and (biased) variance for the moving statistics.
        The gradient flows through the statistics, as in
        `keras.layers.BatchNormalization`.
    """
    x = inputs.permute(0, 3, 1, 2)
    count = x.numel() // x.shape[1]
    if count < 2:
        # PyTorch's kernel refuses one value per channel; Keras normalises it.
        variance, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
        shape = (1, -1, 1, 1)
        outputs = (x - mean.view(shape)) * torch.rsqrt(variance.view(shape) + epsilon)
        if gamma is not None:
            outputs = outputs * gamma.view(shape)
        if beta is not None:
            outputs = outputs + beta.view(shape)
        return outputs.permute(0, 2, 3, 1), mean.detach(), variance.detach()
    # With momentum 1, the kernel's running statistics are the batch's, the
    # variance unbiased: no second pass over the inputs to get them.
    mean = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    variance = torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
    outputs = F.batch_norm(
        x, mean, variance, gamma, beta, training=True, momentum=1.0, eps=epsilon
    )
    return outputs.permute(0, 2, 3, 1), mean, variance * ((count - 1) / count)
