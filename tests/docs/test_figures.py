"""`docs/figures.py` draws the architecture figure from a model's stages."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[2]


def _figures_module():
    spec = importlib.util.spec_from_file_location("figures", ROOT / "docs/figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_architecture_figure_names_every_stage_and_module(tmp_path):
    from keras_srcrm.cli.pictures import save

    figures = _figures_module()
    stages = [(4, 64), (8, 128), (16, 256), (32, 512)]
    figure = figures.architecture_figure(stages, filters=96, num_classes=19)
    texts = [text.get_text() for text in figure.axes[0].texts]
    for expected in (
        "stage C2\n1/4, 64 ch",
        "stage C5\n1/32, 512 ch",
        "P5\n1/32, 96 ch",
    ):
        assert expected in texts
    assert sum(text.startswith("SRM") for text in texts) == 3
    assert sum(text.startswith("CRM") for text in texts) == 1
    path = save(figure, tmp_path / "architecture.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_stage_shapes_of_a_built_segmenter():
    from keras_srcrm.models import SRCRMSegmenter

    figures = _figures_module()
    model = SRCRMSegmenter.from_preset("hub_resnet_mini", 3, load_weights=False)
    shapes = figures.stage_shapes(model)
    assert [stride for stride, _ in shapes] == [4, 8, 16, 32]
    assert all(channels > 0 for _, channels in shapes)
