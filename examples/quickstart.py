"""The main job in Python: train, evaluate, export and predict on synthetic data.

The same steps as `keras-srcrm demo` (what `make demo` runs), written with the
library's API so that each step can be read and changed:

    KERAS_BACKEND=jax python examples/quickstart.py --output-dir runs/quickstart

Nothing is downloaded: the backbone starts from random weights and the data is
the built-in synthetic dataset. Refuses to replace an earlier run's outputs
unless given `--overwrite`.
"""

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import keras_srcrm  # noqa: E402
from keras_srcrm import data  # noqa: E402
from keras_srcrm import inference  # noqa: E402
from keras_srcrm import training  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="runs/quickstart")
    parser.add_argument(
        "--model",
        default="srcrm_lite",
        help="a named configuration or backbone (see `keras-srcrm train --help`)",
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps-per-epoch", type=int, default=64)
    parser.add_argument("--val-samples", type=int, default=64)
    parser.add_argument(
        "--jit-compile",
        choices=("auto", "off"),
        default="auto",
        help='"auto": XLA on JAX and on a TensorFlow GPU; "off" starts sooner',
    )
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    output_dir = Path(args.output_dir)
    num_classes = data.SYNTHETIC_INFO.num_classes
    keras.utils.set_random_seed(0)

    # 1. Data: procedural scenes with thin structures and sharp boundaries.
    train = data.training_pipeline(
        data.synthetic_dataset(512, 96, split="train", shuffle=True).repeat(),
        batch_size=8,
        crop_size=64,
        seed=0,
    )
    val = data.evaluation_pipeline(
        data.synthetic_dataset(args.val_samples, 96, split="val")
    )

    # 2. Model: the lightweight SRM + CRM network, random backbone weights.
    model = keras_srcrm.models.SRCRMSegmenter.from_preset(
        args.model, num_classes, load_weights=False
    )
    steps = args.epochs * args.steps_per_epoch
    schedule = training.PolynomialDecayWithWarmup(
        1e-3, decay_steps=steps, warmup_steps=steps // 20
    )
    training.compile_segmenter(
        model,
        num_classes,
        optimizer=training.build_optimizer("adamw", schedule),
        jit_compile=False if args.jit_compile == "off" else "auto",
    )

    # 3. Train with checkpoints and a backup that resumes an interrupted run.
    callbacks = training.training_callbacks(
        output_dir / "train", overwrite=args.overwrite
    )
    model.fit(
        train,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        validation_data=val,
        callbacks=callbacks,
        verbose=2,
    )

    # 4. Evaluate: mIoU over the whole val split (confusion matrix, exact).
    mean_iou = keras_srcrm.metrics.MeanIoU(num_classes)
    for images, masks in val.as_numpy_iterator():
        mean_iou.update_state(masks, inference.segment(model, images))
    print(f"val mIoU: {100 * float(mean_iou.result()):.1f}")

    # 5. Export a SavedModel that TF Serving loads (uint8 images -> class map).
    # PyTorch cannot trace a TensorFlow graph: re-load the model under TF.
    export = (
        keras_srcrm.export.export_with_tensorflow_backend
        if keras.backend.backend() == "torch"
        else keras_srcrm.export.export_saved_model
    )
    result = export(model, output_dir / "saved_model", overwrite=args.overwrite)
    print(result.summary())

    # 6. Predict one test scene and write a colour overlay.
    images, _ = data.synthetic_arrays(1, 128, split="test")
    classes = inference.segment(model, images.astype("float32"))[0]
    path = inference.save_png(
        output_dir / "overlay.png",
        inference.overlay(images[0], classes),
        overwrite=args.overwrite,
    )
    print(f"overlay: {path}")


if __name__ == "__main__":
    main()
