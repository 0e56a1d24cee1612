"""Trains a tiny segmenter on two logical CPU devices; run in a fresh process.

`tests/training/test_distribution.py` runs this file with `python` so that the
devices are set up before the backend starts. It prints one JSON line.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_srcrm  # noqa: E402
from keras_srcrm.training import build_optimizer  # noqa: E402
from keras_srcrm.training import compile_segmenter  # noqa: E402
from keras_srcrm.training import data_parallel_scope  # noqa: E402
from keras_srcrm.training import logical_cpu_devices  # noqa: E402

NUM_CLASSES = 3


def replica_count(variable):
    """How many devices hold a copy of `variable`."""
    value = variable.value
    if keras.backend.backend() == "jax":
        return len(value.sharding.device_set)
    # A MirroredVariable has one component per replica.
    return len(getattr(value, "values", [value]))


def main():
    devices = logical_cpu_devices(2)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(4, 32, 32, 3)).astype("float32")
    masks = rng.integers(0, NUM_CLASSES, size=(4, 32, 32)).astype("int32")
    report = {"devices": devices}
    with data_parallel_scope(devices) as scope:
        backbone = keras_srcrm.models.backbone_from_config("hub_resnet_mini")
        # The FPN ablation: the full model trains too, but XLA takes 15-20 s
        # more to compile the SRM and CRM for two devices on a small CPU.
        model = keras_srcrm.models.SRCRMSegmenter(
            backbone, NUM_CLASSES, decoder_filters=8, use_srm=False, use_crm=False
        )
        compile_segmenter(model, NUM_CLASSES, optimizer=build_optimizer("sgd", 0.01))
        history = model.fit(images, masks, batch_size=4, epochs=2, verbose=0)
        report["scope"] = type(scope).__name__
        report["jit_compile"] = bool(model.jit_compile)
        report["replicas"] = replica_count(model.trainable_variables[0])
        report["losses"] = [float(v) for v in history.history["loss"]]
        report["iterations"] = int(
            keras.ops.convert_to_numpy(model.optimizer.iterations)
        )
        try:
            compile_segmenter(model, NUM_CLASSES, jit_compile=True)
            report["explicit_jit"] = "accepted"
        except ValueError as error:
            report["explicit_jit"] = str(error)
    report["distribution_after"] = repr(keras.distribution.distribution())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
