"""Export to a TensorFlow SavedModel that TF Serving loads."""

import warnings

import keras

from keras_srcrm.export import atomic
from keras_srcrm.export import serving
from keras_srcrm.export.serving import ExportResult
from keras_srcrm.utils.backend import import_optional
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_positive_int

JAX_PLATFORMS = ("cpu", "cuda", "rocm", "tpu")

_TORCH_REASON = (
    "Keras exports a SavedModel from PyTorch only through torch_xla, as an "
    "XLA program rather than standard TensorFlow ops."
)


def export_saved_model(
    model,
    path,
    *,
    overwrite=False,
    include_probabilities=False,
    image_size=None,
    jax_platforms=("cpu", "cuda"),
    jax_min_image_size=32,
    verbose=False,
):
    """Exports a segmentation model as a SavedModel for TF Serving.

    The SavedModel has three signatures, all taking a batch of RGB images of
    any height and width (`None` dimensions), channels last:

    - `serving_default`: `images`, uint8 `(B, H, W, 3)` -> `classes`, the
      class map, int32 `(B, H, W)`.
    - `serve_float32`: the same for float32 `images` of raw `[0, 255]`
      values.
    - `logits`: float32 `images` of raw `[0, 255]` values -> `logits`,
      float32 `(B, H, W, C)`.

    With `include_probabilities=True`, `serving_default` and `serve_float32`
    also return `probabilities`, the per-class softmax, float32
    `(B, H, W, C)`. Images are only cast to float32: the model normalises its
    own inputs. Outputs are always at the resolution of the input images.

    Resize policy: with `image_size=None` (and a model that takes any size,
    as this library's models do), the model runs at each image's own size.
    With `image_size=(height, width)`, or for a model built with a fixed
    input size, images are resized bilinearly (half-pixel centres, no
    antialiasing) to that size before the model, and the logits are resized
    back the same way to the image's size before the softmax and argmax.

    A model with deep supervision (a dict output) is exported through its
    `"segmentation"` output only. Batch normalisation and dropout run in
    inference mode.

    The export is written into a temporary directory beside `path` and
    renamed to `path` when complete, so a failed export leaves nothing at
    `path` (or, with `overwrite=True`, the previous export intact).

    Works on the TensorFlow backend (a graph of standard TensorFlow ops,
    which any TF Serving build runs) and on the JAX backend (the model runs
    inside one `XlaCallModule` op: see docs/deployment.md for what that needs
    from TF Serving). On the PyTorch backend it raises a `NotImplementedError`
    that names `export_with_tensorflow_backend`, which does the export in a
    TensorFlow subprocess.

    Args:
        model: A functional Keras segmentation model: float32 `(B, H, W, 3)`
            images in `[0, 255]` -> float32 logits `(B, H, W, C)`, or a dict
            with a `"segmentation"` entry of them.
        path: Destination directory, e.g. `"models/srcrm/1"` (TF Serving
            serves numbered version directories under a model's base path).
        overwrite: Whether to replace an existing `path`. Defaults to False.
        include_probabilities: Whether `serving_default` and `serve_float32`
            also return the per-class probabilities. Defaults to False (the
            class map alone is `C` times smaller in a REST response).
        image_size: None, or `(height, width)` to run the model at that fixed
            size (see the resize policy above). Defaults to None.
        jax_platforms: JAX backend only: the platforms the model is compiled
            for, among `"cpu"`, `"cuda"`, `"rocm"` and `"tpu"`. Defaults to
            `("cpu", "cuda")`. Ignored by the TensorFlow backend, whose graph
            runs anywhere.
        jax_min_image_size: JAX backend only: the smallest image height and
            width the export accepts. jax2tf traces the model once for every
            size, with symbolic height and width, and must prove that each
            feature map keeps at least one pixel; a backbone with "valid"
            strided convolutions needs this lower bound for that. Smaller
            images are refused at run time. Defaults to 32. If the export
            fails with `InconclusiveDimensionOperation`, raise it.
        verbose: Whether Keras prints the endpoints it wrote. Defaults to
            False.

    Returns:
        An `ExportResult`: the absolute `path` and a description of each
        signature's inputs and outputs.

    Raises:
        ValueError: If an argument is invalid or `model` does not follow the
            segmentation contract.
        FileExistsError: If `path` exists and `overwrite` is False.
        NotImplementedError: On a backend other than TensorFlow and JAX.

    Example:

    ```python
    result = keras_srcrm.export.export_saved_model(
        model, "models/srcrm/1", include_probabilities=True
    )
    print(result.summary())

    # Anywhere with TensorFlow (no Keras, no keras-srcrm needed):
    reloaded = tf.saved_model.load("models/srcrm/1")
    serve = reloaded.signatures["serving_default"]
    classes = serve(images=tf.zeros((1, 512, 1024, 3), tf.uint8))["classes"]
    ```
    """
    check_bool("include_probabilities", include_probabilities)
    check_bool("verbose", verbose)
    platforms = _check_jax_platforms(jax_platforms)
    check_positive_int("jax_min_image_size", jax_min_image_size)
    _, static_size = serving.check_model(model)
    image_size = serving.resolve_image_size(image_size, static_size)
    destination = atomic.resolve_destination(path, overwrite, "directory")
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise serving.unsupported_backend_error(
            "export_saved_model",
            "TensorFlow and JAX backends",
            backend,
            "saved_model",
            _TORCH_REASON if backend == "torch" else "",
        )
    tf = import_optional("tensorflow", "SavedModel export")

    archive = keras.export.ExportArchive()
    archive.track(model)
    backend_kwargs = {}
    if backend == "jax":
        # Serving needs no gradients, and the custom gradient jax2tf attaches
        # otherwise makes `tf.saved_model.save` fail unless it is saved too.
        # Height and width are symbolic; the lower bound lets JAX prove that
        # strided "valid" convolutions leave every feature map non-empty.
        backend_kwargs["jax2tf_kwargs"] = {
            "with_gradient": False,
            "native_serialization_platforms": platforms,
            "polymorphic_shapes": ["(batch, height, width, 3)"],
            "polymorphic_constraints": (
                f"height >= {jax_min_image_size}",
                f"width >= {jax_min_image_size}",
            ),
        }
    with warnings.catch_warnings():
        # Keras 3.15 always passes jax2tf's `native_serialization`, which
        # recent JAX deprecates (JAX 0.10 still honours it).
        warnings.filterwarnings(
            "ignore", message=".*`native_serialization` parameter is deprecated"
        )
        logits_function = archive.add_endpoint(
            serving.LOGITS,
            serving.make_logits_function(model, image_size),
            input_signature=[
                keras.InputSpec(
                    dtype="float32",
                    shape=serving.IMAGE_SHAPE,
                    name=serving.INPUT_NAME,
                )
            ],
            **backend_kwargs,
        )
    try:
        functions = serving.make_serving_functions(
            tf, logits_function, include_probabilities
        )
    except Exception as error:
        # JAX's shape-polymorphism error (a private class) explains the
        # symbolic comparison but not which argument of ours settles it.
        if type(error).__name__ == "InconclusiveDimensionOperation" and hasattr(
            error, "add_note"
        ):
            error.add_note(
                "keras_srcrm: the JAX export assumes images of at least "
                f"jax_min_image_size={jax_min_image_size} pixels a side; pass a "
                "larger `jax_min_image_size`, or export through TensorFlow "
                "(`export_with_tensorflow_backend`)."
            )
        raise
    for name, function in functions.items():
        archive.add_endpoint(name, function)
    functions[serving.LOGITS] = logits_function
    signatures = {
        name: serving.describe_function(functions[name])
        for name in serving.SIGNATURE_NAMES
    }

    with atomic.atomic_destination(destination, overwrite, "directory") as temporary:
        archive.write_out(str(temporary), verbose=verbose)
    return ExportResult(
        path=str(destination),
        format="saved_model",
        backend=backend,
        signatures=signatures,
    )


def _check_jax_platforms(platforms):
    if (
        isinstance(platforms, str)
        or not isinstance(platforms, (tuple, list))
        or not platforms
        or any(p not in JAX_PLATFORMS for p in platforms)
    ):
        raise ValueError(
            f"`jax_platforms` must be a non-empty tuple of {JAX_PLATFORMS}. "
            f"Received: jax_platforms={platforms!r}"
        )
    return tuple(platforms)
