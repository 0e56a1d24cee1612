"""The plain PyTorch FPN-ResNet-18 that throughput ratios are measured against.

The architecture of segmentation_models_pytorch's `FPN("resnet18")`, written
with `torch.nn` only (no torchvision, no smp):

- a ResNet-18 encoder (7x7 stem, max pool, four stages of two basic blocks);
- 1x1 lateral convolutions (with bias) to 256 channels; a top-down path of
  nearest-neighbour 2x upsampling and addition;
- per pyramid level a segmentation block: 3x3 convolution (no bias),
  GroupNorm(32) and ReLU to 128 channels, each followed by a bilinear 2x
  upsampling (align_corners=True) until stride 4 (3, 2, 1 and 0 upsamplings
  for P5..P2, a conv block before each);
- the four maps summed, Dropout2d(0.2), a 1x1 convolution (with bias) to the
  classes and a bilinear 4x upsampling (align_corners=True).

142.4 G multiply-adds at 1 x 3 x 1024 x 2048 and 13.05 M parameters for 19
classes, as smp's model (`conv_macs` counts them).
"""

import torch
from torch import nn
from torch.nn import functional as F


class BasicBlock(nn.Module):
    def __init__(self, in_channels, channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = None
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                nn.BatchNorm2d(channels),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + identity)


class ResNet18Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages = []
        in_channels = 64
        for channels, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(
                nn.Sequential(
                    BasicBlock(in_channels, channels, stride),
                    BasicBlock(channels, channels, 1),
                )
            )
            in_channels = channels
        self.stages = nn.ModuleList(stages)

    def forward(self, x):
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features  # strides 4, 8, 16, 32


class Conv3x3GNReLU(nn.Module):
    def __init__(self, in_channels, channels, upsample):
        super().__init__()
        self.upsample = upsample
        self.conv = nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False)
        self.norm = nn.GroupNorm(32, channels)

    def forward(self, x):
        x = F.relu(self.norm(self.conv(x)))
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return x


class SegmentationBlock(nn.Sequential):
    def __init__(self, in_channels, channels, upsamples):
        blocks = [Conv3x3GNReLU(in_channels, channels, upsample=upsamples > 0)]
        for _ in range(1, upsamples):
            blocks.append(Conv3x3GNReLU(channels, channels, upsample=True))
        super().__init__(*blocks)


class TorchFPN(nn.Module):
    """FPN-ResNet-18 (smp's `FPN("resnet18")` architecture), NCHW."""

    def __init__(self, num_classes, pyramid_channels=256, segmentation_channels=128):
        super().__init__()
        self.encoder = ResNet18Encoder()
        self.p5 = nn.Conv2d(512, pyramid_channels, 1)
        self.laterals = nn.ModuleList(
            nn.Conv2d(c, pyramid_channels, 1) for c in (256, 128, 64)
        )
        self.segmentation_blocks = nn.ModuleList(
            SegmentationBlock(pyramid_channels, segmentation_channels, upsamples)
            for upsamples in (3, 2, 1, 0)
        )
        self.dropout = nn.Dropout2d(0.2)
        self.head = nn.Conv2d(segmentation_channels, num_classes, 1)

    def forward(self, images):
        c2, c3, c4, c5 = self.encoder(images)
        pyramid = [self.p5(c5)]
        for lateral, skip in zip(self.laterals, (c4, c3, c2)):
            above = F.interpolate(pyramid[-1], scale_factor=2, mode="nearest")
            pyramid.append(above + lateral(skip))
        x = sum(block(level) for block, level in zip(self.segmentation_blocks, pyramid))
        x = self.head(self.dropout(x))
        return F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=True)


def conv_macs(model, input_shape):
    """Multiply-adds of the model's convolutions for one input (no biases)."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        kernel = module.weight
        total += output.numel() * kernel.shape[1] * kernel.shape[2] * kernel.shape[3]

    hooks = [
        module.register_forward_hook(count)
        for module in model.modules()
        if isinstance(module, nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())
