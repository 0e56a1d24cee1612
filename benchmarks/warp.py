"""Times `keras_srcrm.ops.flow_warp` forward+backward against torch's grid_sample.

Run once per backend:

    KERAS_BACKEND=tensorflow python benchmarks/warp.py
    KERAS_BACKEND=jax python benchmarks/warp.py
    KERAS_BACKEND=torch python benchmarks/warp.py

For each shape `(B, H, W, C)` it measures, in the same run, the best-of-N wall
time of one forward+backward pass (gradients with respect to the features and
the flow, with a random cotangent) of:

- the reference, `torch.nn.functional.grid_sample(mode="bilinear",
  padding_mode="border")` on a contiguous NCHW tensor (its native layout),
  grid built from the flow inside the timed region;
- `flow_warp` on the current backend (channels_last), compiled the way that
  backend trains: `tf.function(jit_compile=True)` on TensorFlow, `jax.jit` on
  JAX, eager on PyTorch; `--variant generic` forces the generic `keras.ops`
  path instead of the backend's fast path.

It prints the ratio (ours / reference; below 1 is faster) and the peak memory
of each, measured as the growth of the process's peak RSS in a fresh
subprocess (so it includes the backend's own workspace, e.g. XLA buffers).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SHAPES = [(2, 128, 128, 128), (8, 64, 128, 256)]


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _inputs(shape, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    b, h, w, c = shape
    features = rng.standard_normal((b, h, w, c), dtype=np.float32)
    flow = (rng.standard_normal((b, h, w, 2)) * 2.0).astype(np.float32)
    cotangent = rng.standard_normal((b, h, w, c), dtype=np.float32)
    return features, flow, cotangent


def _reference_step(shape):
    """torch grid_sample forward+backward, NCHW, padding border."""
    import torch
    import torch.nn.functional as F

    features, flow, cotangent = _inputs(shape)
    _, h, w, _ = shape
    features = torch.tensor(features).permute(0, 3, 1, 2).contiguous()
    features.requires_grad_(True)
    flow = torch.tensor(flow, requires_grad=True)
    cotangent = torch.tensor(cotangent).permute(0, 3, 1, 2).contiguous()
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32),
        torch.arange(w, dtype=torch.float32),
        indexing="ij",
    )

    def step():
        features.grad = None
        flow.grad = None
        grid = torch.stack(
            [
                (xs + flow[..., 0]) * (2.0 / w) + (1.0 / w - 1.0),
                (ys + flow[..., 1]) * (2.0 / h) + (1.0 / h - 1.0),
            ],
            dim=-1,
        )
        out = F.grid_sample(
            features,
            grid,
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )
        (out * cotangent).sum().backward()
        return features.grad

    return step, lambda result: None


def _ours_step(shape, variant):
    import keras

    from keras_srcrm.ops import flow_warp
    from keras_srcrm.ops import sampling

    if variant == "generic":
        sampling.zero_padded_bilinear = sampling.zero_padded_bilinear_generic
    features, flow, cotangent = _inputs(shape)
    backend = keras.backend.backend()

    if backend == "tensorflow":
        import tensorflow as tf

        features, flow, cotangent = map(tf.constant, (features, flow, cotangent))

        @tf.function(jit_compile=True)
        def grads(f, fl, ct):
            with tf.GradientTape() as tape:
                tape.watch([f, fl])
                loss = tf.reduce_sum(flow_warp(f, fl) * ct)
            return tape.gradient(loss, [f, fl])

        return (lambda: grads(features, flow, cotangent)), (
            lambda result: result[0].numpy()
        )
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        features, flow, cotangent = map(jnp.asarray, (features, flow, cotangent))
        grads = jax.jit(
            jax.grad(lambda f, fl, ct: jnp.sum(flow_warp(f, fl) * ct), argnums=(0, 1))
        )
        return (lambda: grads(features, flow, cotangent)), (
            lambda result: jax.block_until_ready(result)
        )
    if backend == "torch":
        import torch

        features = torch.tensor(features, requires_grad=True)
        flow = torch.tensor(flow, requires_grad=True)
        cotangent = torch.tensor(cotangent)

        def step():
            features.grad = None
            flow.grad = None
            (flow_warp(features, flow) * cotangent).sum().backward()
            return features.grad

        return step, lambda result: None
    raise SystemExit(f"Unsupported backend for this benchmark: {backend}")


def _time(step, sync, repeats):
    sync(step())  # compile / warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        sync(step())
        best = min(best, time.perf_counter() - start)
    return best


def _measure(which, shape, variant, repeats):
    """Runs in a fresh subprocess: returns seconds and peak RSS growth."""
    step, sync = (
        _reference_step(shape) if which == "reference" else _ours_step(shape, variant)
    )
    baseline = _peak_rss_mib()
    seconds = _time(step, sync, repeats)
    return {"seconds": seconds, "peak_mib": _peak_rss_mib() - baseline}


def _run_child(which, shape, variant, repeats):
    command = [
        sys.executable,
        __file__,
        "--child",
        which,
        "--shape",
        ",".join(map(str, shape)),
        "--variant",
        variant,
        "--repeats",
        str(repeats),
    ]
    output = subprocess.run(
        command, check=True, capture_output=True, text=True, env=os.environ
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--variant", choices=["dispatch", "generic"], default="dispatch"
    )
    parser.add_argument(
        "--child", choices=["reference", "ours"], help=argparse.SUPPRESS
    )
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        shape = tuple(int(v) for v in args.shape.split(","))
        print(json.dumps(_measure(args.child, shape, args.variant, args.repeats)))
        return

    import keras

    backend = keras.backend.backend()
    print(
        f"flow_warp forward+backward, backend={backend}, variant={args.variant}, "
        f"best of {args.repeats}; reference: torch grid_sample (NCHW, border)"
    )
    header = (
        f"{'shape (B,H,W,C)':>20} {'reference ms':>13} {'ours ms':>9} "
        f"{'ratio':>6} {'ref peak MiB':>13} {'ours peak MiB':>14}"
    )
    print(header)
    for shape in SHAPES:
        reference = _run_child("reference", shape, args.variant, args.repeats)
        ours = _run_child("ours", shape, args.variant, args.repeats)
        print(
            f"{str(shape):>20} {reference['seconds'] * 1e3:13.1f} "
            f"{ours['seconds'] * 1e3:9.1f} "
            f"{ours['seconds'] / reference['seconds']:6.2f} "
            f"{reference['peak_mib']:13.0f} {ours['peak_mib']:14.0f}"
        )


if __name__ == "__main__":
    main()
