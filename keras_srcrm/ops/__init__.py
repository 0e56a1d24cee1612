"""Differentiable, backend-agnostic operations."""

from keras_srcrm.ops.resize import resize_bilinear
from keras_srcrm.ops.warp import flow_warp
from keras_srcrm.ops.warp import grid_sample

__all__ = ["flow_warp", "grid_sample", "resize_bilinear"]
