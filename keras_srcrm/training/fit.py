"""`model.compile` with the loss, metrics and optimizer of a segmentation run."""

import warnings

import keras

from keras_srcrm.losses import SegmentationCrossEntropy
from keras_srcrm.losses import deep_supervision_losses
from keras_srcrm.metrics import MeanIoU
from keras_srcrm.metrics import PixelAccuracy
from keras_srcrm.training.optimizers import build_optimizer
from keras_srcrm.utils.backend import backend_name
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_ignore_label
from keras_srcrm.utils.validation import check_num_classes

MAIN_OUTPUT = "segmentation"


def _tensorflow_replicas():
    """Replicas of the current `tf.distribute` strategy (1 outside one)."""
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def _tensorflow_sees_an_accelerator():
    import tensorflow as tf

    return any(d.device_type != "CPU" for d in tf.config.list_physical_devices())


def resolve_jit_compile(jit_compile="auto"):
    """Returns the `jit_compile` value `compile_segmenter` uses.

    `"auto"` is True on JAX, where XLA compiles the train step. On
    TensorFlow it is True where TensorFlow sees a GPU or TPU, as Keras's own
    `"auto"` is: on a CPU, TensorFlow's graph executor trains `srcrm_lite`
    twice as fast as XLA does (2.7 against 1.4 images/s at 256 x 512, batch
    2) and builds its first step in a third of the time. It is False inside
    a `tf.distribute` strategy with more than one replica
    (`data_parallel_scope` on TensorFlow) too, because an XLA cluster runs on
    one device and cannot read the copies of the variables on the other
    devices (the XLA known issue "tf.Variable on a different device"; Keras
    compiles the whole replicated step as one cluster). On torch it is
    False: there Keras's `jit_compile=True` means `torch.compile`, which
    recompiles for each new input shape and is slow to compile a segmenter
    (and, on a CPU, no faster than the eager step, which is what this
    project tests).

    Args:
        jit_compile: `"auto"`, True or False.

    Returns:
        A bool.

    Raises:
        ValueError: For True inside a multi-replica TensorFlow strategy.
    """
    backend = backend_name()
    if jit_compile == "auto":
        if backend == "tensorflow":
            return _tensorflow_sees_an_accelerator() and _tensorflow_replicas() == 1
        return backend == "jax"
    check_choice("jit_compile", jit_compile, ("auto", True, False))
    if jit_compile and backend == "tensorflow" and _tensorflow_replicas() > 1:
        raise ValueError(
            "`jit_compile=True` does not work inside a multi-replica "
            "`tf.distribute` strategy (such as `data_parallel_scope` on "
            "TensorFlow): XLA compiles the replicated step for one device and "
            "fails to read the variables of the others. Use "
            "jit_compile='auto' or False there. Received: jit_compile=True "
            f"with {_tensorflow_replicas()} replicas"
        )
    return jit_compile


def _has_auxiliary_outputs(model):
    try:
        outputs = model.output
    except (AttributeError, ValueError):
        return bool(getattr(model, "auxiliary_heads", False))
    return isinstance(outputs, dict)


def output_is_softmax(model):
    """Whether the model declares probabilities (`output_activation="softmax"`)."""
    return getattr(model, "output_activation", None) == "softmax"


def _leaf_losses(loss):
    """The losses inside `loss`: itself, a dict's values, a `CombinedLoss`'s terms."""
    if isinstance(loss, dict):
        return [leaf for value in loss.values() for leaf in _leaf_losses(value)]
    if isinstance(loss, (list, tuple)):
        return [leaf for value in loss for leaf in _leaf_losses(value)]
    terms = getattr(loss, "losses", None)
    if isinstance(terms, list):
        return [leaf for term in terms for leaf in _leaf_losses(term)]
    return [loss]


def _warn_on_from_logits_mismatch(model, loss):
    if not hasattr(model, "output_activation"):
        return
    from_logits = not output_is_softmax(model)
    for leaf in _leaf_losses(loss):
        declared = getattr(leaf, "from_logits", None)
        if isinstance(declared, bool) and declared != from_logits:
            activation = model.output_activation
            warnings.warn(
                f"The loss `{getattr(leaf, 'name', leaf)}` has "
                f"from_logits={declared}, but the model's outputs are "
                f"{'probabilities' if activation else 'logits'} "
                f"(output_activation={activation!r}). Build the loss with "
                f"from_logits={from_logits}, or let compile choose it "
                "(loss='auto').",
                stacklevel=3,
            )


def compile_arguments(
    model,
    num_classes,
    *,
    optimizer="auto",
    loss="auto",
    metrics="auto",
    loss_weights=None,
    ignore_label=255,
    aux_loss_weight=0.4,
    jit_compile="auto",
):
    """Returns the `keras.Model.compile` arguments of a segmentation run.

    The defaults of `SRCRMSegmenter.compile` and `compile_segmenter`, which
    both pass the result to `keras.Model.compile`:

    - **optimizer**: `"auto"` (or None) is `build_optimizer()`: SGD with
      learning rate 0.01 and momentum 0.9. A name (`"sgd"`, `"adamw"`,
      `"adam"`) is passed to `build_optimizer` as its `name`, so it gets the
      same learning rate and weight-decay exclusions; an optimizer instance
      is used as it is.
    - **loss**: `"auto"` (or None) is
      `SegmentationCrossEntropy(from_logits=..., ignore_label=ignore_label)`,
      with `from_logits=False` when the model declares
      `output_activation="softmax"` and True otherwise. A given loss whose
      `from_logits` contradicts the model's `output_activation` gets a
      warning.
    - **auxiliary heads**: a model with a dict output `{"segmentation",
      "aux_1", ...}` (`SRCRMSegmenter(..., auxiliary_heads=True)`) gets the
      loss on every output, weighted 1 for `"segmentation"` and
      `aux_loss_weight` for the others (`deep_supervision_losses`), unless
      `loss` is already a dict; its dataset must repeat the labels per
      output (`keras_srcrm.losses.deep_supervision_targets`).
    - **metrics**: `"auto"` is `MeanIoU` and `PixelAccuracy` with the same
      `ignore_label` (log keys `"mean_iou"` and `"pixel_accuracy"`). With
      auxiliary heads a list of metrics goes to the main output only, and
      Keras prefixes its keys: `"segmentation_mean_iou"`.
    - **jit_compile**: see `resolve_jit_compile`.

    Args:
        model: The segmenter to compile.
        num_classes: Number of classes of the default metrics.
        optimizer: `"auto"`, None, an optimizer name or a Keras optimizer.
        loss: `"auto"`, None, a Keras loss, or a dict of losses per output.
        metrics: `"auto"`, None, a list of metrics, or a dict per output.
        loss_weights: Optional `loss_weights` of `keras.Model.compile`;
            with auxiliary heads and a single loss, the deep-supervision
            weights unless given.
        ignore_label: Label id left out of the default loss and metrics, or
            None. Defaults to 255.
        aux_loss_weight: Weight of each auxiliary loss. Defaults to 0.4.
        jit_compile: `"auto"` (default), True or False.

    Returns:
        A dict with the keys `optimizer`, `loss`, `loss_weights`, `metrics`
        and `jit_compile`.
    """
    num_classes = check_num_classes(num_classes)
    ignore_label = check_ignore_label(ignore_label, allow_none=True)
    jit_compile = resolve_jit_compile(jit_compile)
    if optimizer is None or (isinstance(optimizer, str) and optimizer == "auto"):
        optimizer = build_optimizer()
    elif isinstance(optimizer, str):
        optimizer = build_optimizer(optimizer)
    if loss is None or (isinstance(loss, str) and loss == "auto"):
        loss = SegmentationCrossEntropy(
            from_logits=not output_is_softmax(model), ignore_label=ignore_label
        )
    else:
        _warn_on_from_logits_mismatch(model, loss)
    if isinstance(metrics, str) and metrics == "auto":
        metrics = [
            MeanIoU(num_classes, ignore_label=ignore_label),
            PixelAccuracy(num_classes, ignore_label=ignore_label),
        ]
    if _has_auxiliary_outputs(model):
        if not isinstance(loss, dict):
            loss, weights = deep_supervision_losses(
                model, loss, aux_weight=aux_loss_weight, main_output=MAIN_OUTPUT
            )
            loss_weights = weights if loss_weights is None else loss_weights
        if isinstance(metrics, (list, tuple)):
            metrics = {MAIN_OUTPUT: list(metrics)}
    return {
        "optimizer": optimizer,
        "loss": loss,
        "loss_weights": loss_weights,
        "metrics": metrics,
        "jit_compile": jit_compile,
    }


def compile_segmenter(
    model,
    num_classes,
    *,
    optimizer=None,
    loss=None,
    ignore_label=255,
    jit_compile="auto",
    aux_loss_weight=0.4,
):
    """Compiles a segmenter with the loss, metrics and optimizer of a recipe.

    A thin wrapper of `compile_arguments` for any Keras segmenter, also one
    that is not a `SRCRMSegmenter` (whose own
    `model.compile(optimizer="auto", loss="auto", metrics="auto")` reads
    `num_classes` from the model and gives the same result):

    - **Loss**: `keras_srcrm.losses.SegmentationCrossEntropy(ignore_label=...)`
      unless `loss` is given (e.g. with OHEM); `from_logits=False` for a
      model with `output_activation="softmax"`. A model with auxiliary heads
      (a dict output `{"segmentation", "aux_1", ...}`, as
      `SRCRMSegmenter(..., auxiliary_heads=True)` returns) gets the same loss
      on every output, weighted 1 for `"segmentation"` and `aux_loss_weight`
      for the others (`keras_srcrm.losses.deep_supervision_losses`); its
      dataset must repeat the labels per output
      (`keras_srcrm.losses.deep_supervision_targets`).
    - **Metrics**: `keras_srcrm.metrics.MeanIoU` and `PixelAccuracy` on the
      main output. Their log keys are `"mean_iou"` and `"pixel_accuracy"`
      (`"val_mean_iou"` on validation data); with auxiliary heads Keras
      prefixes the output name: `"segmentation_mean_iou"`,
      `"val_segmentation_mean_iou"`.
    - **Optimizer**: `build_optimizer()` (SGD, learning rate 0.01, momentum
      0.9) unless given; a string is passed to `build_optimizer` as its
      `name`.
    - **jit_compile**: see `resolve_jit_compile`.

    Args:
        model: A built segmenter returning logits `(B, H, W, num_classes)`,
            or a dict of such outputs with auxiliary heads.
        num_classes: Number of classes of the metrics.
        optimizer: None, an optimizer name for `build_optimizer`, or a Keras
            optimizer.
        loss: None for `SegmentationCrossEntropy(ignore_label=ignore_label)`,
            or a Keras loss for every output.
        ignore_label: Label id left out of the loss and the metrics, or None.
            Defaults to 255.
        jit_compile: `"auto"` (default), True or False.
        aux_loss_weight: Weight of each auxiliary loss. Defaults to 0.4.

    Returns:
        The model, compiled.

    Example:

    ```python
    model = SRCRMSegmenter(backbone, num_classes=19, auxiliary_heads=True)
    schedule = PolynomialDecayWithWarmup(0.01, decay_steps=80_000)
    compile_segmenter(
        model,
        19,
        optimizer=build_optimizer("sgd", schedule, weight_decay=5e-4),
        loss=SegmentationCrossEntropy(ohem_threshold=0.7),
    )
    # The same with the model's own compile:
    model.compile(
        optimizer=build_optimizer("sgd", schedule, weight_decay=5e-4),
        loss=SegmentationCrossEntropy(ohem_threshold=0.7),
    )
    ```
    """
    arguments = compile_arguments(
        model,
        num_classes,
        optimizer=optimizer,
        loss=loss,
        ignore_label=ignore_label,
        aux_loss_weight=aux_loss_weight,
        jit_compile=jit_compile,
    )
    # `keras.Model.compile` itself: a segmenter's own `compile` would apply
    # its defaults again.
    keras.Model.compile(model, **arguments)
    return model


def checkpoint_monitor(model, metric="mean_iou", validation=True):
    """The log key of a `compile_segmenter` metric, for `training_callbacks`.

    Args:
        model: A model compiled (or to be compiled) by `compile_segmenter`.
        metric: `"mean_iou"` (default) or `"pixel_accuracy"`.
        validation: Whether the key is that of the validation data.

    Returns:
        E.g. `"val_mean_iou"`, or `"val_segmentation_mean_iou"` for a model
        with auxiliary heads.

    Example:

    ```python
    callbacks = training_callbacks(run_dir, monitor=checkpoint_monitor(model))
    ```
    """
    key = f"{MAIN_OUTPUT}_{metric}" if _has_auxiliary_outputs(model) else metric
    return f"val_{key}" if validation else key
