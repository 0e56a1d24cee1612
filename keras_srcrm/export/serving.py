"""The serving functions shared by the SavedModel and the ONNX exports.

A segmentation model of this library maps float32 images `(B, H, W, 3)` of
raw `[0, 255]` pixel values to float32 logits `(B, H, W, C)`. For serving,
it is wrapped in three functions:

- `logits`: float32 images -> `{"logits": (B, H, W, C) float32}`. It is
  written with `keras.ops`, so the JAX backend can convert it with jax2tf;
  the optional fixed-size resize policy lives here.
- `serving_default`: uint8 images -> `{"classes": (B, H, W) int32}` plus,
  on request, `"probabilities"`, `(B, H, W, C)` float32.
- `serve_float32`: the same for float32 images.

The last two are plain TensorFlow on top of `logits`: a cast, a softmax and
an argmax. Also here: `ExportResult`, what every export returns, and the
error that points a backend that cannot export to the TensorFlow backend.
"""

import dataclasses

import keras
from keras import ops

from keras_srcrm.utils.validation import check_pair
from keras_srcrm.utils.validation import segmentation_output

SERVING_DEFAULT = "serving_default"
SERVE_FLOAT32 = "serve_float32"
LOGITS = "logits"
SIGNATURE_NAMES = (SERVING_DEFAULT, SERVE_FLOAT32, LOGITS)
INPUT_NAME = "images"
MAIN_OUTPUT = "segmentation"
# Every signature takes a batch of images of any size.
IMAGE_SHAPE = (None, None, None, 3)


def check_model(model):
    """Checks a model against the library's segmentation contract.

    Args:
        model: The model to export.

    Returns:
        `(num_classes, static_size)`: the number of classes and the
        `(height, width)` of the model's input, `None` where the model takes
        any size.

    Raises:
        ValueError: If the model is not a functional Keras model with one
            `(batch, height, width, 3)` input and a rank-4 output (or a dict
            with a `"segmentation"` entry), or if it returns probabilities.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            "`model` must be a `keras.Model`. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1:
        raise ValueError(
            "`model` must be a functional Keras model (built from one "
            "`keras.Input`) with a single image input. "
            f"Received: model.inputs={inputs!r}"
        )
    input_shape = tuple(inputs[0].shape)
    if len(input_shape) != 4 or input_shape[-1] not in (3, None):
        raise ValueError(
            "`model` must take channels-last RGB images (batch, height, width, "
            f"3). Received: model input shape={input_shape}"
        )
    activation = getattr(model, "output_activation", None)
    if activation not in (None, "linear"):
        raise ValueError(
            "`model` must return logits: the export applies the softmax itself. "
            f"Received: model.output_activation={activation!r}. Build the same "
            "architecture with `output_activation=None` and load these weights "
            "into it (`new_model.set_weights(model.get_weights())`)."
        )
    output = segmentation_output(model.output)
    output_shape = tuple(output.shape)
    if len(output_shape) != 4 or output_shape[-1] is None:
        raise ValueError(
            "`model` must return logits of shape (batch, height, width, "
            f"num_classes) with a known num_classes. Received: output "
            f"shape={output_shape}"
        )
    return output_shape[-1], input_shape[1:3]


def resolve_image_size(image_size, static_size):
    """Chooses the size the model runs at: None (each image's own) or (h, w).

    Args:
        image_size: The user's `image_size` argument.
        static_size: The model's input `(height, width)`, `None` where free.

    Returns:
        None, or a tuple of two positive ints.

    Raises:
        ValueError: If `image_size` is malformed or contradicts the model.
    """
    if image_size is not None:
        if not isinstance(image_size, (tuple, list)):
            raise ValueError(
                "`image_size` must be None or (height, width), two positive "
                f"ints. Received: image_size={image_size!r}"
            )
        image_size = check_pair("image_size", image_size)
        if any(s is not None and s != d for s, d in zip(static_size, image_size)):
            raise ValueError(
                "`image_size` must match the model's fixed input size. "
                f"Received: image_size={image_size}, model input (height, "
                f"width)={tuple(static_size)}"
            )
        return image_size
    if all(s is None for s in static_size):
        return None
    if all(s is not None for s in static_size):
        return tuple(static_size)
    raise ValueError(
        "The model fixes only one of its input height and width, so "
        "`image_size=(height, width)` must be given. Received: model input "
        f"(height, width)={tuple(static_size)}"
    )


def _resize(images, size):
    """Bilinear, half-pixel resize, without antialiasing, to a run-time size."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # `keras.ops.image.resize` checks `size > 0` in Python, which a size
        # known only at run time cannot answer inside a TensorFlow graph.
        return tf.image.resize(images, size, method="bilinear")
    return ops.image.resize(images, size, interpolation="bilinear", antialias=False)


def make_logits_function(model, image_size):
    """The model as `images -> {"logits": ...}`, written with `keras.ops`.

    Args:
        model: A model that passed `check_model`.
        image_size: None, or the `(height, width)` every image is resized to
            before the model; the logits are resized back to the image's size.

    Returns:
        A function of one float32 tensor `(B, H, W, 3)`.
    """
    input_dtype = keras.backend.standardize_dtype(model.inputs[0].dtype)

    def logits_function(images):
        height, width = ops.shape(images)[1], ops.shape(images)[2]
        x = images
        if image_size is not None:
            x = _resize(x, image_size)
        outputs = model(ops.cast(x, input_dtype), training=False)
        if isinstance(outputs, dict):
            outputs = outputs[MAIN_OUTPUT]
        logits = ops.cast(outputs, "float32")
        if image_size is not None:
            logits = _resize(logits, (height, width))
        return {"logits": logits}

    return logits_function


def make_serving_functions(tf, logits_function, include_probabilities):
    """The uint8 and float32 image signatures, built on a traced `logits`.

    Args:
        tf: The `tensorflow` module.
        logits_function: A `tf.function` of float32 images returning
            `{"logits": ...}`, with an input signature.
        include_probabilities: Whether to also return the softmax.

    Returns:
        `{SERVING_DEFAULT: tf.function, SERVE_FLOAT32: tf.function}`, both
        traced once.
    """

    def classify(images):
        logits = logits_function(tf.cast(images, tf.float32))["logits"]
        outputs = {"classes": tf.argmax(logits, axis=-1, output_type=tf.int32)}
        if include_probabilities:
            outputs["probabilities"] = tf.nn.softmax(logits, axis=-1)
        return outputs

    functions = {}
    for name, dtype in ((SERVING_DEFAULT, tf.uint8), (SERVE_FLOAT32, tf.float32)):
        function = tf.function(
            classify,
            input_signature=[tf.TensorSpec(IMAGE_SHAPE, dtype, name=INPUT_NAME)],
            autograph=False,
        )
        function.get_concrete_function()
        functions[name] = function
    return functions


def describe_function(function):
    """Describes a traced `tf.function`'s inputs and outputs as plain values."""
    concrete = function.get_concrete_function()
    args, kwargs = concrete.structured_input_signature
    specs = list(args) + list(kwargs.values())
    inputs = {spec.name or INPUT_NAME: _describe(spec) for spec in specs}
    outputs = {name: _describe(t) for name, t in concrete.structured_outputs.items()}
    return {"inputs": inputs, "outputs": outputs}


def _describe(tensor):
    return {"dtype": tensor.dtype.name, "shape": list(tensor.shape.as_list())}


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """The location and the signatures of an exported model.

    Every field holds plain Python values, so `to_dict()` is JSON-serialisable
    (a command-line tool can print it) and `from_dict` rebuilds the result.

    Attributes:
        path: Absolute path of the export: a SavedModel directory or an
            `.onnx` file.
        format: `"saved_model"` or `"onnx"`.
        backend: The Keras backend that traced the model, e.g.
            `"tensorflow"`.
        signatures: `{signature_name: {"inputs": {...}, "outputs": {...}}}`,
            each tensor described as `{"dtype": "uint8", "shape": [None,
            None, None, 3]}` (`None` for a size known only at run time). An
            ONNX file has one graph, described under the name of the
            signature it was made from.

    Example:

    ```python
    result = keras_srcrm.export.export_saved_model(model, "export/1")
    print(result.summary())
    result.signatures["serving_default"]["outputs"]["classes"]
    # {'dtype': 'int32', 'shape': [None, None, None]}
    ```
    """

    path: str
    format: str
    backend: str
    signatures: dict

    def to_dict(self):
        """Returns the result as a dict of plain, JSON-serialisable values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config):
        """Rebuilds a result from the output of `to_dict()`.

        Args:
            config: A dict as returned by `to_dict()`.

        Returns:
            An `ExportResult`.
        """
        return cls(**config)

    def summary(self):
        """Returns a readable, multi-line description of the signatures."""
        lines = [f"{self.format} at {self.path} (traced on {self.backend})"]
        for name, signature in self.signatures.items():
            lines.append(f"  {name}")
            for kind in ("inputs", "outputs"):
                for tensor_name, tensor in signature[kind].items():
                    shape = ", ".join(
                        "?" if dim is None else str(dim) for dim in tensor["shape"]
                    )
                    lines.append(
                        f"    {kind[:-1]:<6} {tensor_name}: {tensor['dtype']} ({shape})"
                    )
        return "\n".join(lines)

    def __str__(self):
        return self.summary()


def unsupported_backend_error(function, supported, backend, format, reason):
    """The error for an export the active backend cannot do, with the way out.

    Args:
        function: Name of the export function, e.g. `"export_onnx"`.
        supported: The backends it runs on, in words.
        backend: The active Keras backend.
        format: The `format` argument of `export_with_tensorflow_backend`.
        reason: Why this backend cannot do it; may be empty.

    Returns:
        A `NotImplementedError` to raise.
    """
    return NotImplementedError(
        f"{function} runs on the {supported}; the active Keras backend is "
        f"{backend!r}. {reason}\n"
        "Export through the TensorFlow backend instead, in one call:\n\n"
        f"    keras_srcrm.export.export_with_tensorflow_backend(model, path, "
        f"format={format!r})\n\n"
        "which saves the model as `.keras` and exports it in a subprocess with "
        "KERAS_BACKEND=tensorflow; or by hand: `model.save('model.keras')`, "
        "then, in a new process with KERAS_BACKEND=tensorflow, "
        f"`model = keras.models.load_model('model.keras')` and "
        f"`keras_srcrm.export.{function}(model, path)`. "
        "See docs/deployment.md."
    )
