"""A training and an inference step of KerasHub's ResNet-18, channels-last
against channels-first, on the current Keras backend.

    KERAS_BACKEND=torch python benchmarks/channels_first.py

On PyTorch, Keras transposes channels-last tensors around each convolution;
this measures what channels-first would save (figures in docs/benchmarks.md).
"""

import time

import keras
import keras_hub
import numpy as np

from keras_srcrm.models import BACKBONE_CONFIGS


def step_seconds(function, *arguments, repeats=4):
    """Best of `repeats` calls, after one call that builds and compiles."""
    function(*arguments)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function(*arguments)
        best = min(best, time.perf_counter() - start)
    return best


def main(size=(256, 512), batch=2):
    resnet18 = BACKBONE_CONFIGS["hub_resnet18"].kwargs
    print(f"backend={keras.backend.backend()}, ResNet-18, {size}, batch {batch}")
    for data_format in ("channels_last", "channels_first"):
        keras.utils.set_random_seed(0)
        if data_format == "channels_last":
            shape = (*size, 3)
        else:
            shape = (3, *size)
        backbone = keras_hub.models.ResNetBackbone(
            **resnet18, image_shape=shape, data_format=data_format
        )
        images = np.random.default_rng(0).uniform(0, 1, (batch, *shape))
        images = images.astype("float32")
        targets = np.zeros((batch, *backbone.output_shape[1:]), "float32")
        backbone.compile(keras.optimizers.SGD(0.01), "mse")
        train = step_seconds(backbone.train_on_batch, images, targets)
        predict = step_seconds(backbone.predict_on_batch, images)
        print(
            f"{data_format:>14}: train step {1000 * train:.0f} ms, "
            f"predict {1000 * predict:.0f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
