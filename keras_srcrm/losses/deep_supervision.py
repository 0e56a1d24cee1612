"""`model.compile` arguments for deep supervision (a main and auxiliary heads)."""

import re

import keras

from keras_srcrm.utils.validation import check_number

_AUX_NAME = re.compile(r"aux_[1-9][0-9]*")


def _output_names(model_or_output_names):
    if isinstance(model_or_output_names, keras.Model):
        model = model_or_output_names
        try:
            outputs = model.output
        except AttributeError as error:
            raise ValueError(
                f"Model '{model.name}' has not been called yet, so its output "
                "names are unknown. Call it on a batch first, or pass the "
                "output names, e.g. ['segmentation', 'aux_1']."
            ) from error
        if not isinstance(outputs, dict):
            raise ValueError(
                "Deep supervision needs a model that returns a dict of "
                f"outputs, e.g. {{'segmentation': ..., 'aux_1': ...}}. Model "
                f"'{model.name}' returns a {type(outputs).__name__}; compile "
                "it with the loss directly."
            )
        return list(outputs)
    if isinstance(model_or_output_names, str):
        raise ValueError(
            "`model_or_output_names` must be a model or a sequence "
            f"of names. Received the string {model_or_output_names!r}"
        )
    return list(model_or_output_names)


def _checked_output_names(model_or_output_names, main_output):
    names = _output_names(model_or_output_names)
    if main_output not in names:
        raise ValueError(
            f"The main output {main_output!r} is not among the outputs. "
            f"Received: output names {names}"
        )
    unexpected = [
        name for name in names if name != main_output and not _AUX_NAME.fullmatch(name)
    ]
    if unexpected:
        raise ValueError(
            f"Outputs must be {main_output!r} or auxiliary outputs 'aux_1', "
            f"'aux_2', ...; pass only the names to supervise. Received "
            f"unexpected output names {unexpected} among {names}"
        )
    return names


def deep_supervision_losses(
    model_or_output_names,
    loss,
    aux_weight=0.4,
    main_output="segmentation",
    aux_loss=None,
):
    """Returns `loss` and `loss_weights` for a deeply supervised model.

    The main output gets weight 1 and every auxiliary output (`"aux_1"`,
    `"aux_2"`, ...) gets `aux_weight`, so Keras minimises
    `loss(main) + aux_weight * sum_i aux_loss(aux_i)` (0.4 is the weight of
    PSPNet's and SFNet's auxiliary heads).

    Keras matches dict losses to dict outputs by key, and wants the labels
    as a dict with the same keys: build it with `deep_supervision_targets`.

    Args:
        model_or_output_names: A `keras.Model` whose outputs are a dict (its
            keys are used), or the output names.
        loss: The loss of the main output, e.g. a `SegmentationCrossEntropy`.
        aux_weight: Weight of each auxiliary loss, a number >= 0. Defaults to
            0.4.
        main_output: Name of the main output. Defaults to `"segmentation"`.
        aux_loss: Loss of the auxiliary outputs. Defaults to `loss`.

    Returns:
        A tuple `(losses, loss_weights)` of dicts keyed by output name, for
        `model.compile(loss=losses, loss_weights=loss_weights)`.

    Raises:
        ValueError: If the main output is missing, an output is neither the
            main output nor named `aux_<n>`, or `aux_weight` is negative.

    Example:

    ```python
    from keras_srcrm.losses import SegmentationCrossEntropy
    from keras_srcrm.losses import deep_supervision_losses

    losses, loss_weights = deep_supervision_losses(
        ["segmentation", "aux_1"], SegmentationCrossEntropy()
    )
    # loss_weights == {"segmentation": 1.0, "aux_1": 0.4}
    model.compile(optimizer="adam", loss=losses, loss_weights=loss_weights)
    ```
    """
    check_number("aux_weight", aux_weight, minimum=0.0)
    names = _checked_output_names(model_or_output_names, main_output)
    aux_loss = loss if aux_loss is None else aux_loss
    losses = {name: loss if name == main_output else aux_loss for name in names}
    loss_weights = {
        name: 1.0 if name == main_output else float(aux_weight) for name in names
    }
    return losses, loss_weights


def deep_supervision_targets(y_true, model_or_output_names, main_output="segmentation"):
    """Repeats the labels for every output of a deeply supervised model.

    Keras needs one label entry per output key when a model returns a dict.
    All outputs are already at the label resolution, so each gets `y_true`.

    Args:
        y_true: The label tensor (or array).
        model_or_output_names: A `keras.Model` returning a dict of outputs,
            or the output names.
        main_output: Name of the main output. Defaults to `"segmentation"`.

    Returns:
        A dict `{output_name: y_true}`.

    Example:

    ```python
    dataset = dataset.map(
        lambda x, y: (x, deep_supervision_targets(y, ["segmentation", "aux_1"]))
    )
    ```
    """
    names = _checked_output_names(model_or_output_names, main_output)
    return {name: y_true for name in names}
