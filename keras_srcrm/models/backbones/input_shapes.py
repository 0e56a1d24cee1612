"""Validation of backbone input shapes."""

# Classes that reshape their tokens to a sqrt(N) x sqrt(N) grid whose size is
# computed from the static input shape when the model is built: KerasHub's and
# KerasCV's MiT (`int(height / stride)` in `MiTBackbone.__init__`).
STATIC_SQUARE_CLASSES = {
    "keras_hub": ("MiTBackbone",),
    "keras_cv": ("MiTBackbone",),
}


def check_input_shape(input_shape, class_name=None, library=None):
    """Validates `(height, width, 3)`, and a static square for MiT.

    Args:
        input_shape: The shape to check.
        class_name: Optional backbone class name, for class-specific rules.
        library: `"keras_hub"` or `"keras_cv"`, with `class_name`.

    Raises:
        ValueError: If the shape is not channels-last RGB, or the class needs
            a static square input whose side is a multiple of 32 and the
            shape is not one.
    """
    shape = tuple(input_shape) if input_shape is not None else None
    if shape is None or len(shape) != 3 or shape[-1] != 3:
        raise ValueError(
            "`input_shape` must be `(height, width, 3)` (channels-last RGB; "
            f"height and width may be None). Received: input_shape={input_shape}"
        )
    if class_name in STATIC_SQUARE_CLASSES.get(library, ()) and (
        shape[0] is None or shape[0] != shape[1] or shape[0] % 32
    ):
        raise ValueError(
            f"{library}'s `{class_name}` reshapes its tokens to a square grid "
            "fixed when the model is built, so it needs a static square "
            "`input_shape` whose side is a multiple of 32, e.g. (512, 512, 3). "
            f"Received: input_shape={input_shape}"
        )
