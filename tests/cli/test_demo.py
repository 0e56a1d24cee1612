"""`keras-srcrm demo`: the whole job in one command, and its pictures."""

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from keras_srcrm.cli import main
from tests.cli.runs import TINY_RUN

pytest.importorskip("matplotlib")

# The demo at the size of the other command-line tests' tiny run.
TINY_DEMO = [*TINY_RUN, "--scenes", "2"]


def _png_size(path):
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One tiny demo: its output directory and its printed lines."""
    output_dir = tmp_path_factory.mktemp("demo")
    stdout = io.StringIO()  # not a terminal: one line per epoch
    with contextlib.redirect_stdout(stdout):
        assert main(["demo", *TINY_DEMO, "--output-dir", str(output_dir)]) == 0
    return output_dir, stdout.getvalue().strip().splitlines()


def test_demo_writes_scores_model_overlay_and_pictures(demo):
    output_dir, _ = demo
    scores = json.loads((output_dir / "metrics.json").read_text())
    assert 0.0 <= scores["mean_iou"] <= 1.0
    assert len(scores["per_class_iou"]) == len(scores["class_names"]) == 7
    assert (output_dir / "train" / "model.keras").is_file()
    assert (output_dir / "saved_model").is_dir()
    _png_size(output_dir / "predict" / "synthetic_0_overlay.png")
    width, height = _png_size(output_dir / "panel.png")
    assert width >= 800 and height >= 2 * 200  # four columns, two scenes
    width, height = _png_size(output_dir / "curves.png")
    assert width >= 600 and height >= 200
    _png_size(output_dir / "per_class_iou.png")
    width, height = _png_size(output_dir / "confusion_matrix.png")
    assert width >= 400 and height >= 400
    counts = np.asarray(scores["confusion_matrix"])
    assert counts.shape == (7, 7) and counts.sum() > 0


def test_demo_exports_with_the_export_command(demo, capsys):
    # The demo runs `keras-srcrm export TRAIN_DIR OUTPUT_DIR/saved_model`.
    output_dir, lines = demo
    saved_model = output_dir / "saved_model"
    assert (saved_model / "saved_model.pb").is_file()
    assert any("serving_default" in line for line in lines)
    # An export is the user's: the command refuses to replace it.
    before = (saved_model / "saved_model.pb").read_bytes()
    assert main(["export", str(output_dir / "train"), str(saved_model)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (saved_model / "saved_model.pb").read_bytes() == before


def test_demo_last_line_names_the_pictures(demo):
    output_dir, lines = demo
    assert "val mIoU" in lines[-1]
    assert str(output_dir / "panel.png") in lines[-1]
    assert str(output_dir / "curves.png") in lines[-1]


def test_demo_logs_one_line_per_epoch_when_not_in_a_terminal(demo):
    _, lines = demo
    assert "--verbose 2" in next(line for line in lines if "keras-srcrm train" in line)


def test_demo_refuses_its_own_earlier_run_without_overwrite(demo, capsys):
    output_dir, _ = demo
    before = (output_dir / "panel.png").read_bytes()
    assert main(["demo", *TINY_DEMO, "--output-dir", str(output_dir)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (output_dir / "panel.png").read_bytes() == before


def test_demo_refuses_a_scene_count_below_one(tmp_path, capsys):
    assert main(["demo", "--scenes", "0", "--output-dir", str(tmp_path)]) == 2
    assert "--scenes" in capsys.readouterr().err


def test_panel_and_curves_from_arrays(tmp_path):
    from keras_srcrm.cli import pictures

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 32, 40, 3)).astype("float32")
    masks = rng.integers(0, 3, (3, 32, 40))
    masks[0, 0, :] = 255  # unlabelled pixels are drawn black
    predictions = rng.integers(0, 3, (3, 32, 40))
    offsets = rng.normal(size=(3, 8, 10, 2)).astype("float32")
    names = ["sky", "road", "car"]

    panel = pictures.save(
        pictures.prediction_panel(images, masks, predictions, names, offsets),
        tmp_path / "panel.png",
    )
    width, height = _png_size(panel)
    assert width > height / 3 * 4 * 0.8  # four tiles a row
    without_offsets = pictures.save(
        pictures.prediction_panel(images, masks, predictions, names),
        tmp_path / "panel_3.png",
    )
    assert _png_size(without_offsets)[0] < width

    history = [
        {
            "epoch": 0,
            "loss": 1.2,
            "mean_iou": 0.2,
            "val_loss": 1.0,
            "val_mean_iou": 0.3,
        },
        {
            "epoch": 1,
            "loss": 0.8,
            "mean_iou": 0.4,
            "val_loss": 0.7,
            "val_mean_iou": 0.5,
        },
    ]
    curves = pictures.save(pictures.training_curves(history), tmp_path / "c.png")
    assert _png_size(curves) == (800, 320)
    chart = pictures.per_class_iou_chart(names, [0.5, None, 0.25])
    _png_size(pictures.save(chart, tmp_path / "iou.png"))


def test_srm_offsets_hold_the_segmenter_weights():
    from keras_srcrm.cli import pictures
    from keras_srcrm.models import SRCRMSegmenter
    from keras_srcrm.models import backbone_from_config

    backbone = backbone_from_config("hub_resnet_mini")
    model = SRCRMSegmenter(backbone, 3, decoder_filters=8)
    images = np.full((2, 64, 48, 3), 128.0, "float32")
    offsets = pictures.srm_offsets(model, images)
    assert offsets.shape == (2, 16, 12, 2) and offsets.dtype == np.float32
    np.testing.assert_array_equal(offsets, 0.0)  # the predictors start at zero

    # A constant predicted offset; the neighbour aggregation is a convex
    # combination of neighbours, so it stays that constant.
    last_srm = model.get_layer("decoder").top_down[-1]
    last_srm.offset_predictor.bias.assign(np.array([1.5, -0.5], "float32"))
    offsets = pictures.srm_offsets(model, images)  # the same shape: no retrace
    np.testing.assert_allclose(offsets[..., 0], 1.5, atol=1e-5)
    np.testing.assert_allclose(offsets[..., 1], -0.5, atol=1e-5)

    fpn = SRCRMSegmenter(backbone, 3, decoder_filters=8, use_srm=False)
    assert pictures.srm_offsets(fpn, images) is None


def test_demo_draws_nothing_and_says_so_without_matplotlib(
    tmp_path, monkeypatch, capsys
):
    import sys

    from keras_srcrm.cli import demo

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    assert demo._draw_pictures(None, tmp_path, tmp_path / "train") == {}
    assert "No pictures drawn" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())
