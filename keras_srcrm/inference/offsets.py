"""The offset fields that the SRMs of a trained segmenter predict."""

import keras
import numpy as np
from keras import ops

from keras_srcrm.layers import SemanticRefinementModule


def srm_offsets(model, images):
    """The offsets that every SRM of a segmenter predicts for some images.

    The decoder's top-down path is replayed step by step, each
    `SemanticRefinementModule` replaced by a copy of itself with the same
    weights and `return_offsets=True`, so any trained segmenter (or one
    loaded from a `.keras` file) shows what its SRMs learned, without being
    rebuilt. Draw a field with `offsets_to_rgb`.

    Args:
        model: A segmenter whose layer `"decoder"` is an `SRCRMDecoder` with
            SRMs (`SRCRMSegmenter(..., use_srm=True)`, the default).
        images: `(N, H, W, 3)` images, as the model takes them (float in
            `[0, 255]` for `SRCRMSegmenter`).

    Returns:
        A list of float32 NumPy arrays, one per SRM from the coarsest
        (stride 16) to the finest (stride 4) step, each `(N, h, w, 2 *
        offset_groups)`: the offsets `(dx, dy)` in pixels of that step's
        output.

    Raises:
        ValueError: If the model has no decoder with SRMs.

    Example:

    ```python
    import numpy as np
    from keras_srcrm.inference import offsets_to_rgb, srm_offsets
    from keras_srcrm.models import SRCRMSegmenter, backbone_from_config

    model = SRCRMSegmenter(backbone_from_config("hub_resnet_mini"), 3)
    images = np.random.uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    fields = srm_offsets(model, images)  # (1, 4, 4, 2), (1, 8, 8, 2), (1, 16, 16, 2)
    picture = offsets_to_rgb(fields[-1][0])  # zero: an untrained SRM
    ```
    """
    _, _, offsets = replay_top_down(model, images)
    return [ops.convert_to_numpy(ops.cast(field, "float32")) for field in offsets]


def replay_top_down(model, images):
    """Runs the decoder's top-down path step by step, with the offsets.

    Returns:
        `(stages, outputs, offsets)`: the backbone stages `[C2..C5]`, the
        output of the top and of each SRM step (coarsest first), and the
        offsets of each SRM (backend tensors).
    """
    decoder = _srm_decoder(model)
    stages_model = keras.Model(model.inputs, list(decoder.input))
    stages = stages_model(ops.convert_to_tensor(np.asarray(images)), training=False)
    stages = list(stages)
    x = decoder.top(stages if decoder.use_crm else stages[3], training=False)
    outputs, offsets = [x], []
    for step, lateral in zip(decoder.top_down, (stages[2], stages[1], stages[0])):
        probe = SemanticRefinementModule.from_config(
            {**step.get_config(), "return_offsets": True}
        )
        probe.build([tuple(x.shape), tuple(lateral.shape)])
        probe.set_weights(step.get_weights())
        x, step_offsets = probe([x, lateral], training=False)
        outputs.append(x)
        offsets.append(step_offsets)
    return stages, outputs, offsets


def _srm_decoder(model):
    try:
        decoder = model.get_layer("decoder")
    except ValueError:
        decoder = None
    steps = getattr(decoder, "top_down", None) or []
    if not steps or not all(isinstance(s, SemanticRefinementModule) for s in steps):
        raise ValueError(
            "srm_offsets needs a segmenter whose layer 'decoder' is an "
            "SRCRMDecoder with SRMs (use_srm=True). Received: model "
            f"{model.name!r} with decoder {decoder!r}"
        )
    return decoder
