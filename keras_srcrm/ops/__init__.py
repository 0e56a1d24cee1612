"""Differentiable, backend-agnostic operations."""
