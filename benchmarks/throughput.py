"""Training and inference throughput of SRM + CRM segmenters vs a PyTorch FPN.

Measures, on the current Keras backend, images per second of a training step
(`model.train_on_batch`, compiled as the library's `compile_segmenter` does:
XLA on JAX and on a TensorFlow GPU, TensorFlow's graph executor on a CPU,
eager on PyTorch; `--jit-compile on` forces XLA) and of inference
(`predict_on_batch`), against the
model a PyTorch user would pick instead at the same FLOPs: a plain PyTorch
FPN-ResNet-18 with the architecture of segmentation_models_pytorch's
`FPN("resnet18")` (`benchmarks/torch_fpn.py`, 142.4 GMACs at 1024x2048),
trained in eager PyTorch with SGD, in the same run. Every model runs in its
own subprocess, one after the other, so that peak memory is its own:

- `torch_fpn_resnet18 (reference)`: the PyTorch FPN, NCHW, eager;
- `srcrm_lite`: SRM + CRM, 96 channels, on KerasHub's ResNet-18 (140.0
  GMACs at 1024x2048);
- `fpn_resnet18`: the library's plain FPN ablation, 128 channels;
- optionally (`--models ... deeplabv3plus`) KerasCV's DeepLabV3Plus.

All with random weights, 19 classes, the same batch and input size. For each
it prints train and inference img/s (inference: label maps on the host), the
ratio to the reference (above 1 is faster), the peak memory (of the process,
or of the GPU where the model ran on one) and the time of the first training
step (compilation included). `--profile` adds the time of one
training step of each part of `srcrm_lite` (backbone, CRM, each SRM and its
smoothing, multi-level fusion, head, loss), each compiled on its own.

    KERAS_BACKEND=jax python benchmarks/throughput.py --size 256 512 --batch 2

The figures of a run are in docs/benchmarks.md. On a CPU use small sizes
(the default, 256 x 512); on a GPU, `--size 1024 1024 --batch 8` is the
Cityscapes training crop.
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

NUM_CLASSES = 19
REFERENCE = "torch_fpn_resnet18"
MODELS = (REFERENCE, "srcrm_lite", "fpn_resnet18", "deeplabv3plus")
DEFAULT_MODELS = MODELS[:3]


def _peak_rss_mib():
    # Linux reports kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _torch_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _peak_accelerator_mib(backend):
    """Peak memory on the GPU in MiB, or None on a CPU."""
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.max_memory_allocated() / 2**20
    elif backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "gpu":
            return (device.memory_stats() or {}).get("peak_bytes_in_use", 0) / 2**20
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return None


def _seconds_per_call(function, repeats):
    """(first call in seconds, best of `repeats` later calls)."""
    start = time.perf_counter()
    function()
    first = time.perf_counter() - start
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return first, best


def measure_torch_reference(size, batch, repeats):
    import numpy as np
    import torch
    import torch_fpn

    torch.manual_seed(0)
    device = _torch_device()
    model = torch_fpn.TorchFPN(NUM_CLASSES).to(device)
    height, width = size
    rng = np.random.default_rng(0)
    images = torch.tensor(
        rng.uniform(0, 1, (batch, 3, height, width)).astype("float32"), device=device
    )
    labels = torch.tensor(
        rng.integers(0, NUM_CLASSES, (batch, height, width)), device=device
    )
    # Keras returns host values, which waits for the device; so does this.
    synchronize = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        synchronize()

    def predict():
        model.eval()
        with torch.no_grad():
            # The label map on the host, as `measure_keras` predicts.
            model(images).argmax(1).int().cpu()

    _, predict_seconds = _seconds_per_call(predict, repeats)
    first, train_seconds = _seconds_per_call(train, repeats)
    gmacs = torch_fpn.conv_macs(model.cpu(), (1, 3, height, width)) / 1e9
    return {
        "gmacs": gmacs,
        "params_m": torch_fpn.parameter_count(model) / 1e6,
        "predict": batch / predict_seconds,
        "train": batch / train_seconds,
        "first_step_s": first,
        "compiled": "eager",
    }


def build_keras_model(name):
    from keras_srcrm.models import SRCRMSegmenter

    if name == "deeplabv3plus":
        import keras_cv

        from keras_srcrm.models import backbone_from_config

        model = keras_cv.models.DeepLabV3Plus(
            backbone=backbone_from_config("cv_resnet18"), num_classes=NUM_CLASSES
        )
        return model, False
    model = SRCRMSegmenter.from_preset(name, NUM_CLASSES, load_weights=False)
    return model, True


def random_batch(size, batch):
    """Random images in [0, 255] and labels, on the backend's default device.

    On the device as the reference's tensors are: a step then times the
    model, not a host-to-device copy of the batch.
    """
    import keras
    import numpy as np

    height, width = size
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, height, width, 3)).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, (batch, height, width)).astype("int32")
    return keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(labels)


def _jit_compile(choice):
    """`auto`: what the library's `compile_segmenter` picks on this machine."""
    from keras_srcrm.training import resolve_jit_compile

    return {"auto": resolve_jit_compile("auto"), "on": True, "off": False}[choice]


def measure_keras(name, size, batch, repeats, jit_compile="auto"):
    import keras

    from keras_srcrm.analysis import count_flops
    from keras_srcrm.analysis import count_params

    keras.utils.set_random_seed(0)
    model, from_logits = build_keras_model(name)
    height, width = size
    images, labels = random_batch(size, batch)
    gmacs = count_flops(model, (1, height, width, 3)).gmacs
    # Inference gives label maps: on a GPU, copying 19-channel float32 logits
    # to the host would cost more than the model and hide its speed.
    labeller = keras.Model(
        model.inputs, keras.ops.argmax(model.outputs[0], axis=-1), name="labeller"
    )
    _, predict_seconds = _seconds_per_call(
        lambda: labeller.predict_on_batch(images), repeats
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        jit_compile=_jit_compile(jit_compile),
    )
    first, train_seconds = _seconds_per_call(
        lambda: model.train_on_batch(images, labels), repeats
    )
    return {
        "gmacs": gmacs,
        "params_m": count_params(model).total / 1e6,
        "predict": batch / predict_seconds,
        "train": batch / train_seconds,
        "first_step_s": first,
        # Keras turns XLA off (with a warning) for a model with a layer that
        # does not support it, e.g. KerasCV's DeepLabV3Plus on TensorFlow.
        "compiled": "XLA"
        if model.jit_compile
        else {"tensorflow": "graph", "jax": "no XLA"}.get(
            keras.backend.backend(), "eager"
        ),
    }


def profile_parts(size, batch, repeats, jit_compile="auto"):
    """Seconds of one compiled training step of each part of `srcrm_lite`."""
    import keras
    import numpy as np

    from keras_srcrm.models import SRCRMSegmenter

    keras.utils.set_random_seed(0)
    model = SRCRMSegmenter.from_preset("srcrm_lite", NUM_CLASSES, load_weights=False)
    height, width = size
    rng = np.random.default_rng(0)
    decoder = model.get_layer("decoder")
    extractor = next(layer for layer in model.layers if layer.name.endswith("_pyramid"))
    images = rng.uniform(0, 255, (batch, height, width, 3)).astype("float32")
    stages = [
        np.asarray(keras.ops.convert_to_numpy(x))
        for x in extractor(model.get_layer("preprocessing")(images))
    ]
    filters = decoder.filters
    strides = (4, 8, 16, 32)
    level = [
        rng.standard_normal((batch, height // s, width // s, filters)).astype("float32")
        for s in strides
    ]

    def part(name, layer_fn, inputs):
        symbolic = [keras.Input(x.shape[1:], batch_size=batch) for x in inputs]
        outputs = layer_fn(symbolic if len(symbolic) > 1 else symbolic[0])
        # TensorFlow takes model names as name scopes: no spaces or commas.
        sub = keras.Model(symbolic, outputs, name=re.sub(r"[^\w.]+", "_", name))
        sub.compile(
            keras.optimizers.SGD(0.01),
            loss=lambda y_true, y_pred: keras.ops.mean(keras.ops.square(y_pred)),
            jit_compile=_jit_compile(jit_compile),
        )
        target = [np.zeros((batch, *o.shape[1:]), "float32") for o in sub.outputs]
        target = target if len(target) > 1 else target[0]
        data = inputs if len(inputs) > 1 else inputs[0]
        _, seconds = _seconds_per_call(
            lambda: sub.train_on_batch(data, target), repeats
        )
        return name, seconds

    rows = [
        part("backbone (with input scaling)", lambda x: extractor(x), [images]),
        part("CRM (stride 32)", decoder.top, stages),
    ]
    for step, smooth, index in zip(decoder.top_down, decoder.smoothing, (2, 1, 0)):
        stride = strides[index]
        rows.append(
            part(
                f"SRM + smoothing, stride {stride}",
                lambda x, step=step, smooth=smooth: smooth(step(x)),
                [level[index + 1], stages[index]],
            )
        )
    rows.append(
        part(
            "multi-level fusion (3x3 conv at stride 4)",
            decoder.fusion,
            [np.concatenate([level[0]] * 4, axis=-1)],
        )
    )
    classifier = model.get_layer("segmentation_classifier")
    resize = model.get_layer("segmentation_resize")
    rows.append(
        part(
            "head: classifier, resize to the input, loss",
            lambda x: resize([classifier(x[0]), x[1]]),
            [level[0], images],
        )
    )
    return rows


def _child(args):
    size = tuple(args.size)
    if args.profile_child:
        rows = profile_parts(size, args.batch, args.repeats, args.jit_compile)
        result = {"profile": rows}
    elif args.child == REFERENCE:
        result = measure_torch_reference(size, args.batch, args.repeats)
    else:
        result = measure_keras(
            args.child, size, args.batch, args.repeats, args.jit_compile
        )
    result["peak_rss_mib"] = _peak_rss_mib()
    if args.child == REFERENCE:
        result["peak_device_mib"] = _peak_accelerator_mib("torch")
    else:
        import keras

        result["peak_device_mib"] = _peak_accelerator_mib(keras.backend.backend())
    print("RESULT " + json.dumps(result), flush=True)


def _peak_mib(row):
    """The GPU's peak where the model ran on one (marked), else the process's."""
    if row.get("peak_device_mib") is not None:
        return f"{row['peak_device_mib']:.0f}g"
    return f"{row['peak_rss_mib']:.0f}"


def _run_child(extra, args):
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--size",
        *map(str, args.size),
        "--batch",
        str(args.batch),
        "--repeats",
        str(args.repeats),
        "--jit-compile",
        args.jit_compile,
        *extra,
    ]
    completed = subprocess.run(command, capture_output=True, text=True)
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (completed.stdout + completed.stderr).strip().splitlines()[-3:]
    return {"error": " | ".join(tail)[-200:]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[256, 512])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--models", nargs="+", choices=MODELS, default=list(DEFAULT_MODELS)
    )
    parser.add_argument(
        "--profile", action="store_true", help="Also time each part of srcrm_lite."
    )
    parser.add_argument(
        "--jit-compile",
        choices=("auto", "on", "off"),
        default="auto",
        help="XLA for the Keras models: 'auto' (default) is the library's "
        "choice (XLA on JAX and on a TensorFlow GPU; TensorFlow's graph "
        "executor on a CPU; eager on PyTorch), 'on' forces it.",
    )
    parser.add_argument("--child", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child or args.profile_child:
        return _child(args)

    import keras

    print(
        f"backend={keras.backend.backend()}, input {args.size[0]}x{args.size[1]}, "
        f"batch {args.batch}, best of {args.repeats}, each model in its own "
        "process; reference: a plain PyTorch FPN-ResNet-18 (smp's FPN "
        "architecture), eager; peak MiB: the process's resident memory, or "
        "the GPU's (marked g) where the model ran on one",
        flush=True,
    )
    header = (
        f"{'model':<32} {'GMACs/img':>9} {'params':>7} {'train img/s':>11} "
        f"{'ratio':>6} {'infer img/s':>11} {'ratio':>6} {'peak MiB':>9} "
        f"{'1st step s':>10} {'compiled':>8}"
    )
    print(header)
    reference = None
    models = [REFERENCE] + [m for m in args.models if m != REFERENCE]
    for name in models:
        row = _run_child(["--child", name], args)
        label = f"{name} (reference)" if name == REFERENCE else name
        if "error" in row:
            print(f"{label:<32} failed: {row['error']}", flush=True)
            continue
        if name == REFERENCE:
            reference = row
        base = reference or {"train": float("nan"), "predict": float("nan")}
        print(
            f"{label:<32} {row['gmacs']:9.2f} {row['params_m']:6.2f}M "
            f"{row['train']:11.2f} {row['train'] / base['train']:6.2f} "
            f"{row['predict']:11.2f} {row['predict'] / base['predict']:6.2f} "
            f"{_peak_mib(row):>9} {row['first_step_s']:10.1f} "
            f"{row['compiled']:>8}",
            flush=True,
        )
    if args.profile:
        result = _run_child(["--profile-child"], args)
        if "error" in result:
            print(f"profile failed: {result['error']}")
            return None
        rows = result["profile"]
        total = sum(seconds for _, seconds in rows)
        print(
            "\nOne training step of each part of srcrm_lite "
            f"({keras.backend.backend()}):"
        )
        for name, seconds in rows:
            print(
                f"  {name:<44} {1000 * seconds:8.1f} ms  {100 * seconds / total:5.1f} %"
            )
    return None


if __name__ == "__main__":
    main()
