"""`model.compile` with the loss, metrics and optimizer of a segmentation run."""

from keras_srcrm.losses import SegmentationCrossEntropy
from keras_srcrm.losses import deep_supervision_losses
from keras_srcrm.metrics import MeanIoU
from keras_srcrm.metrics import PixelAccuracy
from keras_srcrm.training.optimizers import build_optimizer
from keras_srcrm.utils.backend import backend_name
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_num_classes

MAIN_OUTPUT = "segmentation"


def _tensorflow_replicas():
    """Replicas of the current `tf.distribute` strategy (1 outside one)."""
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def resolve_jit_compile(jit_compile="auto"):
    """Returns the `jit_compile` value `compile_segmenter` uses.

    `"auto"` is True on JAX and on TensorFlow, where XLA compiles the train
    step, with one exception: inside a `tf.distribute` strategy with more
    than one replica (`data_parallel_scope` on TensorFlow) it is False,
    because an XLA cluster runs on one device and cannot read the copies of
    the variables on the other devices (the XLA known issue "tf.Variable on
    a different device"; Keras compiles the whole replicated step as one
    cluster). On torch it is False: there Keras's `jit_compile=True` means
    `torch.compile`, which recompiles for each new input shape, is slow to
    compile a segmenter and is not what this project tests; the eager torch
    step is.

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
            return _tensorflow_replicas() == 1
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

    - **Loss**: `keras_srcrm.losses.SegmentationCrossEntropy(ignore_label=...)`
      unless `loss` is given (e.g. with OHEM). A model with auxiliary heads
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
    ```
    """
    num_classes = check_num_classes(num_classes)
    jit_compile = resolve_jit_compile(jit_compile)
    if optimizer is None:
        optimizer = build_optimizer()
    elif isinstance(optimizer, str):
        optimizer = build_optimizer(optimizer)
    if loss is None:
        loss = SegmentationCrossEntropy(ignore_label=ignore_label)
    metrics = [
        MeanIoU(num_classes, ignore_label=ignore_label),
        PixelAccuracy(num_classes, ignore_label=ignore_label),
    ]
    if _has_auxiliary_outputs(model):
        losses, loss_weights = deep_supervision_losses(
            model, loss, aux_weight=aux_loss_weight, main_output=MAIN_OUTPUT
        )
        model.compile(
            optimizer=optimizer,
            loss=losses,
            loss_weights=loss_weights,
            metrics={MAIN_OUTPUT: metrics},
            jit_compile=jit_compile,
        )
    else:
        model.compile(
            optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_compile
        )
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
