"""Training and inference throughput of SRM + CRM segmenters vs DeepLabV3+.

Measures, in one process and on the current Keras backend, images per second
of a jit-compiled training step (`model.train_on_batch` after `compile(...,
jit_compile=True)` on TensorFlow and JAX; eager on PyTorch) and of inference
(`predict_on_batch`), for:

- the reference: KerasCV's `DeepLabV3Plus` (ASPP + decoder) on a ResNet-18
  (`keras_cv.models.ResNetBackbone`, the architecture of KerasCV's `resnet18`);
- `srcrm_lite` (SRM + CRM, 96 channels) on the same KerasCV ResNet-18;
- `fpn_resnet18`-style ablation (plain FPN, 128 channels) on the same backbone,

all with random weights, 19 classes, the same batch and input size, and
prints each model's ratio to the reference (above 1 is faster). GMACs per
image are counted with `keras_srcrm.analysis.count_flops`.

    KERAS_BACKEND=jax python benchmarks/throughput.py --size 512 1024 --batch 2

The figures of a run are in docs/benchmarks.md. On a CPU use small sizes
(the default, 256 x 512); on a GPU, `--size 1024 1024 --batch 8` is the
Cityscapes training crop.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NUM_CLASSES = 19


def _backbone():
    from keras_srcrm.models import backbone_from_config

    return backbone_from_config("cv_resnet18")


def build_deeplabv3plus():
    import keras_cv

    return keras_cv.models.DeepLabV3Plus(backbone=_backbone(), num_classes=NUM_CLASSES)


def build_srcrm(decoder_filters, use_srm, use_crm):
    from keras_srcrm.models import SRCRMSegmenter

    def build():
        return SRCRMSegmenter(
            _backbone(),
            NUM_CLASSES,
            decoder_filters=decoder_filters,
            use_srm=use_srm,
            use_crm=use_crm,
        )

    return build


# name -> (builder, whether the model returns logits; KerasCV's head ends in a
# softmax).
MODELS = {
    "deeplabv3plus_resnet18 (reference)": (build_deeplabv3plus, False),
    "srcrm_lite (SRM + CRM, 96 ch)": (build_srcrm(96, True, True), True),
    "fpn_resnet18 (no SRM, no CRM, 128 ch)": (build_srcrm(128, False, False), True),
}


def _seconds_per_call(function, repeats):
    function()  # compiles
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def measure(build, from_logits, size, batch, repeats):
    import keras
    import numpy as np

    from keras_srcrm.analysis import count_flops

    keras.utils.set_random_seed(0)
    model = build()
    height, width = size
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, height, width, 3)).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, (batch, height, width)).astype("int32")
    gmacs = count_flops(model, (1, height, width, 3)).gmacs
    predict = _seconds_per_call(lambda: model.predict_on_batch(images), repeats)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        jit_compile=keras.backend.backend() != "torch",
    )
    train = _seconds_per_call(lambda: model.train_on_batch(images, labels), repeats)
    # Keras turns XLA off (with a warning) for a model with a layer that does
    # not support it: KerasCV's DeepLabV3Plus on TensorFlow.
    jit = bool(model.jit_compile)
    return {
        "gmacs": gmacs,
        "predict": batch / predict,
        "train": batch / train,
        "jit": jit,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[256, 512])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import keras

    print(
        f"backend={keras.backend.backend()}, input {args.size[0]}x{args.size[1]}, "
        f"batch {args.batch}, best of {args.repeats}; reference: KerasCV "
        "DeepLabV3Plus on the same ResNet-18"
    )
    print(
        f"{'model':<40} {'GMACs/img':>9} {'train img/s':>11} {'ratio':>6} "
        f"{'infer img/s':>11} {'ratio':>6} {'XLA':>4}"
    )
    reference = None
    for name, (build, from_logits) in MODELS.items():
        try:
            row = measure(
                build, from_logits, tuple(args.size), args.batch, args.repeats
            )
        except Exception as error:  # noqa: BLE001 (report and go on)
            message = str(error).strip().splitlines()[0][:60]
            print(f"{name:<40} failed: {type(error).__name__}: {message}", flush=True)
            continue
        if reference is None and "(reference)" in name:
            reference = row
        base = reference or {"train": float("nan"), "predict": float("nan")}
        print(
            f"{name:<40} {row['gmacs']:9.2f} {row['train']:11.2f} "
            f"{row['train'] / base['train']:6.2f} {row['predict']:11.2f} "
            f"{row['predict'] / base['predict']:6.2f} "
            f"{'yes' if row['jit'] else 'no':>4}",
            flush=True,
        )


if __name__ == "__main__":
    main()
