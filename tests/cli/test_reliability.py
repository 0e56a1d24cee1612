"""Runs that never lose work nor report a false success; one-line errors.

`Killed` stands for SIGKILL in the middle of a write: a `BaseException`
that no `except Exception` of the library or of Keras catches, raised after
the file being written was cut to half its size. (`tests/training/test_kill.py`
kills a real process.)
"""

import json
import os
import shutil
import subprocess

import keras
import numpy as np
import pytest

from keras_srcrm.cli import common
from keras_srcrm.cli import evaluate
from keras_srcrm.cli import main
from keras_srcrm.cli import predict
from keras_srcrm.cli import train
from keras_srcrm.cli.main import build_parser
from keras_srcrm.training import read_backup_state
from tests.cli.runs import ONE_STEP
from tests.cli.runs import write_folder

Image = pytest.importorskip("PIL.Image")


class Killed(BaseException):
    """The process died here."""


def _error_line(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _cut_and_die(target_suffix):
    """A `keras.Model.save` that dies half-way through `*target_suffix`."""
    original = keras.Model.save

    def save(self, filepath, *args, **kwargs):
        original(self, filepath, *args, **kwargs)
        if str(filepath).endswith(target_suffix):
            os.truncate(filepath, os.path.getsize(filepath) // 2)
            raise Killed(filepath)

    return save


# --- 1, 2, 18: a kill while the final model is written ----------------------


@pytest.fixture(scope="module")
def killed_at_final_save(tmp_path_factory):
    """A one-step run killed while it wrote its final `model.keras`."""
    run_dir = tmp_path_factory.mktemp("killed") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Model, "save", _cut_and_die("model.keras"))
        with pytest.raises(Killed):
            main(["train", *ONE_STEP, "--output-dir", str(run_dir)])
    return run_dir


def _copy(run_dir, tmp_path):
    return shutil.copytree(run_dir, tmp_path / "run")


def test_a_kill_while_the_final_model_is_written_loses_nothing(
    killed_at_final_save, tmp_path, capsys
):
    run_dir = _copy(killed_at_final_save, tmp_path)
    # No half model where `evaluate` and `export` look; the backup is kept.
    assert not (run_dir / "model.keras").exists()
    assert read_backup_state(run_dir / "backup")["epoch"] == 1
    # What a real kill leaves besides: the temporary file of the write.
    (run_dir / ".tmp-0123456789ab-model.keras").write_bytes(b"PK half")
    assert main(["evaluate", str(run_dir)]) == 2
    assert "No model at" in _error_line(capsys)

    # The same command again resumes (no epoch left) and finishes the run.
    assert main(["train", *ONE_STEP, "--output-dir", str(run_dir)]) == 0
    model = keras.saving.load_model(run_dir / "model.keras")
    assert model.output_shape[-1] == 7
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished"
    assert np.isfinite(info["final_metrics"]["loss"])
    assert not (run_dir / "backup").exists()
    assert not list(run_dir.glob(".tmp-*"))
    # Finished now: refused without --overwrite.
    assert main(["train", *ONE_STEP, "--output-dir", str(run_dir)]) == 2
    assert "--overwrite" in _error_line(capsys)


def test_resuming_with_other_model_options_says_so(
    killed_at_final_save, tmp_path, capsys
):
    run_dir = _copy(killed_at_final_save, tmp_path)
    argv = [*ONE_STEP, "--output-dir", str(run_dir), "--decoder-filters", "12"]
    assert main(["train", *argv]) == 2
    line = _error_line(capsys)
    assert "other model options: --decoder-filters 8 (now 12)" in line
    assert "--overwrite" in line and len(line) < 400


def test_a_damaged_backup_is_one_line_that_says_what_to_do(
    killed_at_final_save, tmp_path, capsys
):
    run_dir = _copy(killed_at_final_save, tmp_path)
    (weights,) = (run_dir / "backup").glob("*.weights.h5")
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert main(["train", *ONE_STEP, "--output-dir", str(run_dir)]) == 2
    line = _error_line(capsys)
    assert str(weights) in line and "damaged" in line and "--overwrite" in line


# --- 4: --overwrite first removes the earlier run ------------------------------


def _earlier_run(run_dir):
    run_dir.mkdir()
    for name in ("model.keras", "best.keras", "last.keras"):
        (run_dir / name).write_bytes(b"PK an earlier model")
    (run_dir / "run.json").write_text('{"status": "finished"}')
    (run_dir / "history.csv").write_text("epoch,loss\n0,0.5\n")
    (run_dir / "backup").mkdir()
    (run_dir / "backup" / "training_state.json").write_text("{damaged")
    (run_dir / "notes.txt").write_text("the user's own file")


def test_overwrite_first_removes_every_file_of_the_earlier_run(
    tmp_path, monkeypatch, capsys
):
    run_dir = tmp_path / "run"
    _earlier_run(run_dir)

    def killed(*args, **kwargs):
        raise Killed("killed before the new model was built")

    monkeypatch.setattr(train, "build_model", killed)
    with pytest.raises(Killed):
        main(["train", *ONE_STEP, "--overwrite", "--output-dir", str(run_dir)])
    # Only the user's file is left, and the new run's run.json, written when
    # it started.
    assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt", "run.json"]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    assert main(["evaluate", str(run_dir)]) == 2
    assert "No model at" in _error_line(capsys)


def test_an_interrupted_overwrite_is_finished_by_the_next_run(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _earlier_run(run_dir)
    replace = os.replace
    calls = []

    def dies_on_the_second_move(source, target):
        calls.append(source)
        if len(calls) == 2:
            raise Killed("killed while clearing")
        replace(source, target)

    monkeypatch.setattr(os, "replace", dies_on_the_second_move)
    with pytest.raises(Killed):
        common.clear_run(run_dir)
    monkeypatch.setattr(os, "replace", replace)
    # The finished model went first: the directory no longer looks finished.
    assert not (run_dir / "model.keras").exists()
    assert (run_dir / "best.keras").exists()
    common.finish_clearing(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt"]


# --- 6: a diverged run --------------------------------------------------------


def test_a_diverged_run_fails_and_records_the_nan(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = [*ONE_STEP, "--steps-per-epoch", "3", "--optimizer", "sgd"]
    argv += ["--learning-rate", "1e30", "--output-dir", str(run_dir)]
    assert main(["train", *argv]) == 1
    line = _error_line(capsys)
    assert "training diverged" in line and "--learning-rate" in line
    info = json.loads((run_dir / "run.json").read_text())  # strict JSON
    assert info["status"] == "diverged"
    assert info["final_metrics"]["loss"] in ("nan", "inf")
    assert info["diverged"]["epoch"] == 1 and info["diverged"]["loss"] in (
        "nan",
        "inf",
    )
    # No model of NaN weights; the backup is kept (no finite epoch yet).
    assert not (run_dir / "model.keras").exists()
    assert not (run_dir / "last.keras").exists()
    assert read_backup_state(run_dir / "backup")["epoch"] == 0


# --- 7, 16: --dataset folder honours splits and suffixes --------------------------


def _folder_args(tmp_path, *extra):
    return build_parser().parse_args(
        [
            "train",
            "--dataset",
            "folder",
            "--image-dir",
            str(tmp_path / "images"),
            "--mask-dir",
            str(tmp_path / "masks"),
            "--num-classes",
            "3",
            *extra,
        ]
    )


def test_folder_splits_are_honoured(tmp_path, capsys):
    for split, names, size in (("train", "ab", (16, 20)), ("val", "c", (12, 8))):
        write_folder(
            tmp_path / "images" / split, tmp_path / "masks" / split, names, size=size
        )
    args = _folder_args(tmp_path)
    train_folder = common.folder_directories(args, "train")
    assert common.load_dataset(args, folder=train_folder).cardinality() == 2
    # Validation (which picks best.keras) reads the val images, not train's.
    validation = train._validation_data(args, train_folder)
    (image, _), *rest = list(validation.unbatch().as_numpy_iterator())
    assert not rest and image.shape == (12, 8, 3)

    argv = ["train", *ONE_STEP[:-8], "--dataset", "folder", "--num-classes", "3"]
    argv += ["--image-dir", str(tmp_path / "images")]
    argv += ["--mask-dir", str(tmp_path / "masks")]
    assert main([*argv, "--split", "test"]) == 2
    assert "--split test" in _error_line(capsys)
    assert main([*argv, "--val-split", "train"]) == 2
    assert "--val-split must differ" in _error_line(capsys)


def test_a_flat_folder_does_not_validate_on_its_training_images(tmp_path, capsys):
    write_folder(tmp_path / "images", tmp_path / "masks", "ab")
    argv = ["train", "--dataset", "folder", "--num-classes", "3"]
    argv += ["--image-dir", str(tmp_path / "images")]
    argv += ["--mask-dir", str(tmp_path / "masks"), "--output-dir", str(tmp_path)]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert "--val-image-dir" in line and "--val-split none" in line
    assert main([*argv, "--split", "train", "--val-split", "none"]) == 2
    assert "has no 'train' sub-directory" in _error_line(capsys)
    # The flat folder is one set of images; other suffixes than .png are found.
    args = _folder_args(tmp_path)
    assert common.load_dataset(args).cardinality() == 2
    assert main([*argv, "--val-split", "none", "--image-suffix", ".jpg"]) == 2
    assert "No image file ending in '.jpg'" in _error_line(capsys)


# --- 8: one image decoder -------------------------------------------------------


def test_predict_reads_16_bit_images_as_training_does(tmp_path):
    from keras_srcrm import data

    path = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 6), 30000, np.uint16)).save(path)
    (mask_dir := tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(mask_dir / "deep.png")
    image = predict.read_image(path)
    (training_image, _), *_ = data.folder_dataset(
        tmp_path, mask_dir, num_classes=2
    ).as_numpy_iterator()
    np.testing.assert_array_equal(image, training_image)
    assert image.dtype == np.uint8 and np.all(image == 117)  # 30000 / 257


# --- 9, 18: arguments that would train on nothing or change meaning ------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--synthetic-samples", "0"], "`--synthetic-samples` must be a positive"),
        (["--val-samples", "0"], "`--val-samples` must be a positive int"),
        (["--learning-rate", "0"], "`--learning-rate` must be a positive number"),
        (["--learning-rate", "-1"], "`--learning-rate` must be a positive number"),
        (["--decoder-filters", "0"], "`--decoder-filters` must be a positive int"),
    ],
)
def test_arguments_that_would_train_on_nothing_are_refused(
    argv, message, tmp_path, capsys
):
    output_dir = tmp_path / "run"
    assert main(["train", *ONE_STEP, *argv, "--output-dir", str(output_dir)]) == 2
    assert message in _error_line(capsys)
    assert not output_dir.exists() or not any(output_dir.iterdir())


# --- 10, 11: data that cannot be scored or read -----------------------------


def _evaluate_folder(trained, tmp_path, *extra):
    return [
        "evaluate",
        str(trained),
        "--dataset",
        "folder",
        "--num-classes",
        "7",
        "--image-dir",
        str(tmp_path / "images"),
        "--mask-dir",
        str(tmp_path / "masks"),
        *extra,
    ]


def test_a_split_without_a_scored_pixel_is_an_error(trained, tmp_path, capsys):
    write_folder(tmp_path / "images", tmp_path / "masks", "ab", mask_value=255)
    assert main(_evaluate_folder(trained, tmp_path)) == 2
    assert "No pixel of the 2 images" in _error_line(capsys)


def _truncate_image(tmp_path):
    path = tmp_path / "images" / "b.png"
    path.write_bytes(path.read_bytes()[:60])
    return path


def _colour_mask(tmp_path):
    path = tmp_path / "masks" / "b.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 3, (16, 20, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("damage", [_truncate_image, _colour_mask])
def test_a_damaged_dataset_file_is_one_line_naming_it(
    damage, trained, tmp_path, capsys
):
    write_folder(tmp_path / "images", tmp_path / "masks", "ab")
    path = damage(tmp_path)
    assert main(_evaluate_folder(trained, tmp_path)) == 2
    assert f"'{path}'" in _error_line(capsys)


# --- 12: outputs that cannot be written ------------------------------------------


@pytest.fixture(params=["under_a_file", "read_only"])
def unwritable(request, tmp_path):
    """A directory path that nothing can be written to."""
    if request.param == "under_a_file":
        (tmp_path / "a_file").write_text("")
        yield tmp_path / "a_file" / "out"
        return
    directory = tmp_path / "read_only"
    directory.mkdir()
    if os.geteuid() == 0:
        # Root ignores permissions, not the immutable attribute.
        result = subprocess.run(["chattr", "+i", str(directory)], capture_output=True)
        if result.returncode != 0:
            pytest.skip("running as root without `chattr +i`: nothing is read-only")
        undo = ["chattr", "-i", str(directory)]
    else:
        directory.chmod(0o555)
        undo = ["chmod", "755", str(directory)]
    yield directory
    subprocess.run(undo, check=True)


def test_an_unwritable_output_is_reported_before_any_work(
    unwritable, trained, tmp_path, monkeypatch, capsys
):
    def no_work(*args, **kwargs):
        raise AssertionError("the output should have been checked first")

    monkeypatch.setattr(evaluate, "evaluate", no_work)
    monkeypatch.setattr(common, "load_model", no_work)
    monkeypatch.setattr(train, "build_model", no_work)
    image = tmp_path / "scene.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    for argv in (
        ["evaluate", str(trained), "--output", str(unwritable / "scores.json")],
        ["train", "--output-dir", str(unwritable / "run")],
        ["predict", str(trained), str(image), "--output-dir", str(unwritable)],
        ["export", str(trained), str(unwritable / "saved_model")],
    ):
        assert main(argv) == 2, argv
        assert str(unwritable) in _error_line(capsys)


# --- 13, 14: messages name the flags the user typed ------------------------------


def test_offline_imagenet_weights_is_one_line_naming_the_flag(
    tmp_path, monkeypatch, capsys
):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    write_folder(tmp_path / "images", tmp_path / "masks", "ab")
    argv = ["train", "--dataset", "folder", "--num-classes", "3"]
    argv += ["--image-dir", str(tmp_path / "images"), "--val-split", "none"]
    argv += ["--mask-dir", str(tmp_path / "masks"), "--model", "srcrm_lite"]
    assert main([*argv, "--output-dir", str(tmp_path / "run")]) == 2
    line = _error_line(capsys)
    assert "--backbone-weights none" in line and "download" in line


def test_messages_name_the_flags_not_python_arguments(trained, tmp_path, capsys):
    write_folder(tmp_path / "images", tmp_path / "masks", "ab")
    (tmp_path / "masks" / "b.png").unlink()
    folder = ["--dataset", "folder", "--num-classes", "3", "--val-split", "none"]
    folder += ["--image-dir", str(tmp_path / "images")]
    folder += ["--mask-dir", str(tmp_path / "masks")]
    cases = [
        (["train", *folder], "--skip-missing-masks"),
        (
            ["train", "--model", "hub_resnet_mini", "--backbone-weights", "imagenet"],
            "--backbone-weights none",
        ),
        (["export", str(trained), str(tmp_path)], "--overwrite"),
    ]
    # A directory with the log of a run and no backup (e.g. from the Python API).
    (run_dir := tmp_path / "api_run").mkdir()
    (run_dir / "history.csv").write_text("epoch,loss\n0,0.5\n")
    cases.append((["train", *ONE_STEP, "--output-dir", str(run_dir)], "--overwrite"))
    for argv, flag in cases:
        argv = (
            [*argv, "--output-dir", str(tmp_path / "out")]
            if "train" == argv[0] and "--output-dir" not in argv
            else argv
        )
        assert main(argv) == 2, argv
        line = _error_line(capsys)
        assert flag in line, line
        for python_name in ("overwrite=", "load_weights", "on_missing_mask"):
            assert python_name not in line, line
    # --skip-missing-masks does what it says.
    args = _folder_args(tmp_path, "--skip-missing-masks")
    with pytest.warns(UserWarning, match="Skipped 1 images"):
        assert common.load_dataset(args).cardinality() == 1


# --- 3, 17: predict --------------------------------------------------------------


def test_predict_options_anywhere_and_one_output_per_image(trained, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        image = rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)
        Image.fromarray(image).save(tmp_path / folder / "img.png")
    output_dir = tmp_path / "out"
    # Options before and after the images.
    argv = ["predict", str(trained), "--output-dir", str(output_dir)]
    argv += [str(tmp_path / "a" / "img.png"), str(tmp_path / "b" / "img.png")]
    assert main([*argv, "--alpha", "0.3"]) == 0
    written = sorted(str(p.relative_to(output_dir)) for p in output_dir.rglob("*.png"))
    assert written == [
        f"{folder}/img_{kind}.png"
        for folder in ("a", "b")
        for kind in ("color", "labels", "overlay")
    ]
    assert "Wrote 6 files" in capsys.readouterr().out
    # An image given twice still gets its own outputs.
    names = predict.output_names(["x/img.png", "x/img.png", "y/img.jpg"])
    assert len(set(names)) == 3
