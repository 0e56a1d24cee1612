"""The `keras-srcrm` command line, end to end on tiny synthetic runs."""

import json
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_srcrm.cli import build_parser
from keras_srcrm.cli import main
from tests.cli.runs import ONE_STEP
from tests.cli.runs import TINY_TRAIN

COMMANDS = ("train", "evaluate", "predict", "export", "benchmark", "demo")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: keras-srcrm {command}" in capsys.readouterr().out


def test_console_script_entry_point():
    """`python -m keras_srcrm` is the installed `keras-srcrm` command."""
    result = subprocess.run(
        [sys.executable, "-m", "keras_srcrm", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("keras-srcrm ")


def test_train_writes_model_checkpoints_and_run_info(trained):
    assert (trained / "model.keras").is_file()
    assert (trained / "best.keras").is_file() or (trained / "last.keras").is_file()
    info = json.loads((trained / "run.json").read_text())
    assert info["num_classes"] == 7
    assert info["backend"] == keras.backend.backend()
    assert np.isfinite(info["final_metrics"]["loss"])
    assert 0.0 <= info["final_metrics"]["val_mean_iou"] <= 1.0
    model = keras.saving.load_model(trained / "model.keras")
    assert model.output_shape[-1] == 7


def test_run_json_holds_the_resolved_configuration(trained):
    """The file's options, the flags, and the defaults that depend on them."""
    config = json.loads((trained / "run.json").read_text())["config"]
    assert config["loss"] == "ce+0.5*dice"  # from the file
    assert config["scale_range"] == [0.75, 1.5]
    assert config["learning_rate"] == 0.002
    assert config["decoder_filters"] == 8  # from a flag
    assert config["weight_decay"] == 0.01  # AdamW's default, resolved
    assert config["warmup_steps"] == 0  # 5 % of 4 steps
    assert config["backbone_weights"] == "none"
    assert config["seed"] == 0 and config["mixed_precision"] == "none"
    versions = json.loads((trained / "run.json").read_text())["versions"]
    assert versions["keras"] == keras.__version__
    assert keras.backend.backend() in versions


def test_val_every_validates_only_at_its_steps(trained, trained_warnings):
    from keras_srcrm.training import read_history

    rows = read_history(trained / "history.csv")
    assert [row["epoch"] for row in rows] == [0, 1]
    assert "val_mean_iou" not in rows[0]  # step 2: not validated
    assert 0.0 <= rows[1]["val_mean_iou"] <= 1.0  # step 4
    assert (trained / "best.keras").is_file()
    # An epoch without validation is not a missing metric.
    assert not [w for w in trained_warnings if "Can save best model" in w]


def test_tensorboard_logs_beside_the_history(trained):
    events = list((trained / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and all(path.stat().st_size > 0 for path in events)


def test_config_flags_override_the_file(tmp_path):
    from keras_srcrm.cli.main import parse_args

    config = tmp_path / "run.yaml"
    config.write_text("epochs: 7\nbatch_size: 3\nno_crm: true\n")
    args = parse_args(
        build_parser(), ["train", "--config", str(config), "--epochs", "2"]
    )
    assert (args.epochs, args.batch_size, args.no_crm) == (2, 3, True)


def test_a_run_json_is_a_config_that_repeats_the_run(trained):
    from keras_srcrm.cli.main import parse_args

    args = parse_args(build_parser(), ["train", "--config", str(trained / "run.json")])
    assert args.loss == "ce+0.5*dice"
    assert args.scale_range == [0.75, 1.5]
    assert (args.epochs, args.decoder_filters) == (2, 8)


@pytest.mark.parametrize(
    "text, message",
    [
        ("learning_rat: 0.1\n", "unknown option 'learning_rat'"),
        ("optimizer: adam\n", "--optimizer in --config must be one of sgd, adamw"),
        ("epochs: two\n", "--epochs in --config takes int values"),
        ("epochs: 2.5\n", "--epochs in --config takes an int"),
        ("no_srm: 1\n", "--no-srm in --config takes true or false"),
        ("scale_range: 1\n", "--scale-range in --config takes 2 values"),
        ("- epochs\n", "must hold a mapping"),
        ("epochs: [\n", "not valid YAML"),
    ],
)
def test_bad_config_files_are_one_clear_line(tmp_path, capsys, text, message):
    config = tmp_path / "run.yaml"
    config.write_text(text)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--config", str(config)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_json_config(tmp_path):
    from keras_srcrm.cli.main import parse_args

    config = tmp_path / "run.json"
    config.write_text(json.dumps({"--crop-size": [32, 48], "optimizer": "sgd"}))
    args = parse_args(build_parser(), ["train", "--config", str(config)])
    assert (args.crop_size, args.optimizer) == ([32, 48], "sgd")


def test_init_from_a_trained_run_keeps_the_parts_that_fit(trained, capsys):
    """A wider decoder starts from scratch; the backbone starts trained.

    `build_model` is where `train` applies --init-from; the run that follows
    is the same as any other (tested by the `trained` fixture).
    """
    from keras_srcrm.cli import train
    from keras_srcrm.cli.main import parse_args

    argv = ["train", *ONE_STEP, "--decoder-filters", "16", "--verbose", "1"]
    args = parse_args(build_parser(), [*argv, "--init-from", str(trained)])
    model = train.build_model(args, 7)
    out = capsys.readouterr().out
    assert "parts from" in out and "trained from scratch: decoder" in out
    before = keras.saving.load_model(trained / "model.keras")
    before, after = (
        next(layer for layer in model.layers if "backbone" in layer.name)
        for model in (before, model)
    )
    assert before.trainable_weights
    for old, new in zip(before.weights, after.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(new), keras.ops.convert_to_numpy(old)
        )


def test_init_from_a_preset_directory(trained, tmp_path, capsys):
    """A `save_to_preset` directory initialises every part of the same model."""
    from keras_srcrm.cli import train
    from keras_srcrm.cli.main import parse_args

    trained_model = keras.saving.load_model(trained / "model.keras")
    trained_model.save_to_preset(tmp_path / "preset", dataset="synthetic")
    argv = ["train", *ONE_STEP, "--init-from", str(tmp_path / "preset")]
    args = parse_args(build_parser(), [*argv, "--verbose", "1"])
    model = train.build_model(args, 7)
    assert re.search(r"Initialised (\d+) of \1 parts", capsys.readouterr().out)
    for old, new in zip(trained_model.weights, model.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(new), keras.ops.convert_to_numpy(old)
        )


def test_init_from_a_model_without_a_matching_part_is_refused(tmp_path, capsys):
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(7, 1)])
    model.save(tmp_path / "other.keras")
    argv = ["train", *ONE_STEP, "--init-from", str(tmp_path / "other.keras")]
    assert main([*argv, "--output-dir", str(tmp_path / "run")]) == 2
    assert "shares no part of the same shapes" in capsys.readouterr().err


def test_tensorboard_without_its_package_names_the_install(
    tmp_path, monkeypatch, capsys
):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "tensorboard" else find_spec(name, *args),
    )
    argv = ["train", *ONE_STEP, "--tensorboard", "--output-dir", str(tmp_path)]
    assert main(argv) == 2
    assert "pip install 'keras-srcrm[tensorboard]'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before the run started


def test_train_refuses_to_replace_a_finished_run(trained, capsys):
    status = main(["train", *TINY_TRAIN, "--output-dir", str(trained)])
    assert status == 2
    assert "--overwrite" in capsys.readouterr().err


def test_evaluate_scores_and_writes_json(trained, tmp_path, capsys):
    output = tmp_path / "scores.json"
    argv = ["evaluate", str(trained), "--synthetic-size", "48", "--max-images", "2"]
    assert main([*argv, "--output", str(output)]) == 0
    scores = json.loads(output.read_text())
    assert scores["images"] == 2
    assert 0.0 <= scores["mean_iou"] <= 1.0
    assert len(scores["per_class_iou"]) == len(scores["class_names"]) == 7
    assert "mIoU" in capsys.readouterr().out
    # The scores file is the user's: kept unless --overwrite.
    assert main([*argv, "--output", str(output)]) == 2
    assert main([*argv, "--output", str(output), "--overwrite"]) == 0


def test_evaluate_writes_the_confusion_matrix_and_pictures(trained, tmp_path, capsys):
    from keras_srcrm.metrics import MeanAccuracy
    from keras_srcrm.metrics import MeanDice

    pytest.importorskip("matplotlib")
    report, shown = tmp_path / "report", tmp_path / "shown"
    argv = ["evaluate", str(trained), "--synthetic-size", "48", "--max-images", "2"]
    argv += ["--output-dir", str(report), "--show-dir", str(shown)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mAcc" in out and "mDice" in out
    scores = json.loads((report / "scores.json").read_text())
    counts = np.load(report / "confusion_matrix.npy")
    assert counts.shape == (7, 7) and 0 < counts.sum() <= 2 * 48 * 48
    assert counts.tolist() == scores["confusion_matrix"]
    # mAcc and mDice are the metrics' own, from the same counts.
    for metric, key in ((MeanAccuracy(7), "mean_accuracy"), (MeanDice(7), "mean_dice")):
        metric.add_confusion_matrix(counts.astype("int32"))
        assert scores[key] == pytest.approx(float(metric.result()), abs=1e-6)
    for name in ("confusion_matrix.png", "per_class_iou.png"):
        assert (report / name).read_bytes().startswith(b"\x89PNG")
    assert sorted(path.name for path in shown.iterdir()) == ["00000.png", "00001.png"]
    # What evaluate wrote is the user's: kept unless --overwrite.
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0


@pytest.mark.parametrize(
    "mode_args",
    [
        ["--mode", "sliding", "--tile-size", "40", "--stride", "24"],
        ["--mode", "multiscale", "--scales", "0.75", "1.0"],
    ],
)
def test_evaluate_inference_modes(trained, tmp_path, mode_args):
    output = tmp_path / "scores.json"
    argv = ["evaluate", str(trained), "--synthetic-size", "48", "--max-images", "1"]
    assert main([*argv, *mode_args, "--output", str(output)]) == 0
    assert json.loads(output.read_text())["mode"] == mode_args[1]


def test_predict_writes_pngs(trained, tmp_path):
    from PIL import Image

    image_path = tmp_path / "scene.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (27, 41, 3), dtype=np.uint8)).save(image_path)
    output_dir = tmp_path / "out"
    argv = ["predict", str(trained), str(image_path), "--output-dir", str(output_dir)]
    assert main(argv) == 0
    labels = np.asarray(Image.open(output_dir / "scene_labels.png"))
    overlay = np.asarray(Image.open(output_dir / "scene_overlay.png"))
    assert labels.shape == (27, 41) and labels.max() < 7
    assert overlay.shape == (27, 41, 3)
    assert np.asarray(Image.open(output_dir / "scene_color.png")).shape == (27, 41, 3)
    # Existing outputs are kept unless --overwrite.
    assert main(argv) == 2
    assert main([*argv, "--overwrite"]) == 0


def test_predict_without_images_uses_a_synthetic_scene(trained, tmp_path):
    output_dir = tmp_path / "out"
    argv = ["predict", str(trained), "--synthetic-size", "40"]
    assert main([*argv, "--output-dir", str(output_dir)]) == 0
    assert sorted(p.name for p in output_dir.iterdir()) == [
        "synthetic_0_color.png",
        "synthetic_0_labels.png",
        "synthetic_0_overlay.png",
    ]


@pytest.mark.parametrize(
    "train",
    [
        False,
        # --train compiles the train step with XLA on TensorFlow and JAX (a
        # minute on a small CPU); torch runs it eagerly.
        pytest.param(True, marks=pytest.mark.slow)
        if keras.backend.backend() != "torch"
        else True,
    ],
)
def test_benchmark_reports_params_and_gmacs(capsys, train):
    argv = ["benchmark", "--model", "hub_resnet_mini", "--num-classes", "3"]
    argv += ["--image-size", "64", "64", "--steps", "1", "--json"]
    assert main([*argv, "--train"] if train else argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["params_m"] > 0 and report["gmacs"] > 0
    assert report["predict_images_per_s"] > 0
    if train:
        assert report["train_images_per_s"] > 0
    else:
        assert "train_images_per_s" not in report


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "missing_dir"], "No model at"),
        (["predict", "missing_dir", "missing.png"], "No image file"),
        (["train", "--crop-size", "4"], "--crop-size"),
        (["train", "--epochs", "0"], "`--epochs` must be a positive int"),
        (["train", "--dataset", "cityscapes"], "--data-dir"),
        (["train", "--dataset", "folder"], "--num-classes"),
        (["benchmark", "--image-size", "16", "16"], "--image-size"),
    ],
)
def test_usage_errors_are_one_clear_line(argv, message, capsys, tmp_path):
    argv = [a.replace("missing", str(tmp_path / "missing")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_demo_refuses_to_replace_an_earlier_demo(tmp_path, capsys):
    (tmp_path / "metrics.json").write_text("{}")
    assert main(["demo", "--output-dir", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "metrics.json").read_text() == "{}"


def test_commands_load_models_for_inference_only(tmp_path):
    """A model saved with `jit_compile=True` is not recompiled on loading.

    On torch, a compiled model would run through `torch.compile`, which
    compiles again for each image size that `evaluate` or `predict` meets.
    """
    from keras_srcrm.cli import common

    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 1)])
    model.compile(loss="mse", jit_compile=True)
    model.save(tmp_path / "model.keras")
    loaded = common.load_model(tmp_path / "model.keras")
    assert not loaded.compiled
    if keras.backend.backend() == "torch":
        assert loaded.jit_compile is False
    for size in (8, 12):
        images = np.zeros((1, size, size + 2, 3), "float32")
        assert loaded.predict_on_batch(images).shape == (1, size, size + 2, 2)
