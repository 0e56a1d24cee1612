"""Single-host data parallelism on JAX and TensorFlow."""

import contextlib

import keras

from keras_srcrm.utils.backend import backend_name
from keras_srcrm.utils.validation import check_positive_int

_TORCH_MESSAGE = (
    "Keras's torch backend has no built-in data parallelism that `model.fit` "
    "uses: a model built in a Keras distribution scope still trains on one "
    "device. To train on several GPUs with torch, launch one process per "
    "GPU with `torchrun` and write a custom training loop around "
    "`torch.nn.parallel.DistributedDataParallel`, or use the JAX or "
    "TensorFlow backend, where `data_parallel_scope` works."
)


def _check_devices(devices):
    if devices is None:
        return None
    if isinstance(devices, str) or not all(isinstance(d, str) for d in devices):
        raise ValueError(
            "`devices` must be None or a list of device names such as "
            f"['gpu:0', 'gpu:1']. Received: devices={devices!r}"
        )
    devices = list(devices)
    if not devices:
        raise ValueError(
            "`devices` must name at least one device. Received: devices=[]"
        )
    return devices


@contextlib.contextmanager
def data_parallel_scope(devices=None):
    """Replicates the model on several devices and splits each batch.

    Synchronous data parallelism on one host: every device holds a copy of
    the weights, computes the gradients of its share of the global batch,
    and the gradients are averaged before each update.

    - **JAX**: sets `keras.distribution.DataParallel(devices=...)` as the
      global Keras distribution, and restores the previous one on exit.
    - **TensorFlow**: enters the scope of a
      `tf.distribute.MirroredStrategy(devices)`.
    - **torch**: raises `NotImplementedError`; see below.

    Build the model, compile it and call `fit` / `evaluate` inside the
    `with` block (TensorFlow fixes the strategy of a model when the model is
    created, JAX shards each batch when `fit` runs). The batch size is the
    global batch size and must divide by the number of devices. Losses need
    no change: `SegmentationCrossEntropy` divides its value by the number of
    replicas under `tf.distribute` as Keras's losses do, and OHEM's
    `ohem_min_kept` counts pixels per replica there.

    **XLA.** On JAX, `jit_compile=True` compiles the whole sharded step. On
    TensorFlow it does not work under `MirroredStrategy`: Keras compiles the
    replicated step as one XLA cluster, which runs on one device and cannot
    read the variables on the others ("Trying to access resource ...
    located in device CPU:1 from device CPU:0"). `compile_segmenter` with
    `jit_compile="auto"` therefore compiles without XLA there, and refuses
    `jit_compile=True`.

    **torch.** Keras 3's torch backend does not implement
    `keras.distribution`, and `model.fit` runs on one device. Use one
    process per GPU (`torchrun`) with a custom loop around
    `torch.nn.parallel.DistributedDataParallel` instead.

    Args:
        devices: Device names as `keras.distribution.list_devices()` gives
            them (e.g. `["gpu:0", "gpu:1"]`), or None (the default) for all
            accelerators, or all CPU devices when there is none. On a
            machine without accelerators, `logical_cpu_devices` makes
            several CPU devices for testing.

    Yields:
        The `keras.distribution.DataParallel` (JAX) or the
        `tf.distribute.MirroredStrategy` (TensorFlow) in use.

    Raises:
        NotImplementedError: On the torch (or any other) backend.

    Example:

    ```python
    with data_parallel_scope() as distribution:
        model = SRCRMSegmenter(backbone, num_classes=19)
        compile_segmenter(model, num_classes=19)
        model.fit(train, epochs=100)  # global batches of e.g. 16
    ```
    """
    backend = backend_name()
    if backend not in ("jax", "tensorflow"):
        raise NotImplementedError(
            f"`data_parallel_scope` is not available on the {backend!r} "
            f"backend. {_TORCH_MESSAGE if backend == 'torch' else ''}".strip()
        )
    devices = _check_devices(devices)
    if devices is None:
        devices = keras.distribution.list_devices()
    if backend == "jax":
        previous = keras.distribution.distribution()
        distribution = keras.distribution.DataParallel(devices=devices)
        keras.distribution.set_distribution(distribution)
        try:
            yield distribution
        finally:
            keras.distribution.set_distribution(previous)
    else:
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices)
        with strategy.scope():
            yield strategy


def logical_cpu_devices(count):
    """Splits the host CPU into `count` devices, to test data parallelism.

    Must run before the backend has set up its devices, that is, before
    the first model, tensor or device query of the process (importing
    `keras` and `keras_srcrm` is fine). Tests therefore call it first thing
    in a fresh subprocess. The devices share the same cores: this is for
    tests of distributed code paths, not for speed.

    - **JAX**: sets `jax.config.update("jax_num_cpu_devices", count)`, the
      same as the environment variable
      `XLA_FLAGS=--xla_force_host_platform_device_count=<count>` set before
      JAX starts.
    - **TensorFlow**: `tf.config.set_logical_device_configuration` with
      `count` logical devices on the first physical CPU.

    Args:
        count: Number of CPU devices, a positive int.

    Returns:
        The CPU device names as `keras.distribution.list_devices("cpu")`
        gives them, e.g. `["cpu:0", "cpu:1"]`.

    Raises:
        RuntimeError: If the backend's devices are already set up with
            another count.
        NotImplementedError: On backends other than JAX and TensorFlow.

    Example:

    ```python
    # In a fresh process:
    import keras_srcrm
    devices = keras_srcrm.training.logical_cpu_devices(2)
    with keras_srcrm.training.data_parallel_scope(devices):
        ...
    ```
    """
    count = check_positive_int("count", count)
    backend = backend_name()
    if backend == "jax":
        import jax

        try:
            jax.config.update("jax_num_cpu_devices", count)
        except RuntimeError as error:
            raise RuntimeError(
                "JAX has already set up its devices; call "
                "`logical_cpu_devices` before anything else runs on JAX, "
                "or set XLA_FLAGS=--xla_force_host_platform_device_count="
                f"{count} before Python starts. ({error})"
            ) from error
    elif backend == "tensorflow":
        import tensorflow as tf

        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * count
            )
        except RuntimeError as error:
            raise RuntimeError(
                "TensorFlow has already set up its devices; call "
                "`logical_cpu_devices` before anything else runs on "
                f"TensorFlow. ({error})"
            ) from error
    else:
        raise NotImplementedError(
            f"`logical_cpu_devices` is not available on the {backend!r} "
            f"backend. {_TORCH_MESSAGE if backend == 'torch' else ''}".strip()
        )
    devices = keras.distribution.list_devices("cpu")
    if len(devices) != count:
        raise RuntimeError(
            f"Asked for {count} CPU devices but the {backend} backend has "
            f"{len(devices)}: {devices}. Call `logical_cpu_devices` before "
            "the backend sets up its devices."
        )
    return devices
