"""The ablation script, `benchmarks/ablation.py`, on a tiny configuration."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ablation.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("_ablation_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summarize_pairs_runs_by_seed(script):
    runs = [
        {"variant": "fpn", "seed": 0, "mean_iou": 0.5, "boundary_iou": 0.2},
        {"variant": "fpn", "seed": 1, "mean_iou": 0.6, "boundary_iou": 0.3},
        {"variant": "srm", "seed": 0, "mean_iou": 0.55, "boundary_iou": 0.1},
        {"variant": "srm", "seed": 1, "mean_iou": 0.7, "boundary_iou": 0.3},
    ]
    for run in runs:
        run.update(iou_pole=None, iou_wire=0.1)
    summary = script.summarize(runs, ["fpn", "srm"])
    assert summary["fpn"]["mean_iou"]["mean"] == pytest.approx(0.55)
    assert summary["fpn"]["mean_iou"]["std"] == pytest.approx(
        np.std([0.5, 0.6], ddof=1)
    )
    paired = summary["srm"]["vs_fpn"]
    assert paired["mean_iou"]["values"] == pytest.approx([0.05, 0.1])
    assert paired["mean_iou"]["better"] == 2
    assert paired["boundary_iou"]["better"] == 0  # one worse, one tie
    assert paired["iou_pole"]["mean"] is None  # the class never occurred
    assert paired["iou_wire"]["seeds"] == 2
    runs[3]["seed"] = 2
    with pytest.raises(ValueError, match="different seeds"):
        script.summarize(runs, ["fpn", "srm"])


TINY = [
    "--steps", "2",
    "--batch-size", "2",
    "--image-size", "32",
    "--train-samples", "4",
    "--val-samples", "3",
    "--panel-scenes", "2",
    "--decoder-filters", "8",
    "--run-eagerly",
    "--no-full-size-flops",
]  # fmt: skip


def test_reinitialize_gives_the_state_of_a_fresh_model(script):
    import keras

    args = script.parse_args(TINY)
    model = script.build_model(args, "srm", seed=0)
    optimizer_state = script.compile_model(model, args)
    assert len(optimizer_state) > 1  # built: iterations, moments
    # Stands in for training: every variable, the optimizer's too, moves.
    for variable in model.variables + model.optimizer.variables:
        value = keras.ops.convert_to_numpy(variable)
        variable.assign((value + 1).astype(value.dtype))
    fresh = script.build_model(args, "srm", seed=1)
    # The dropout's seed state is one of the variables that are copied.
    assert any("seed_generator" in v.path for v in fresh.variables)
    script.reinitialize(model, fresh, optimizer_state)
    for target, source in zip(model.variables, fresh.variables, strict=True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(target), keras.ops.convert_to_numpy(source)
        )
    for variable, value in zip(model.optimizer.variables, optimizer_state):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    # Seeds differ, so the copy changed the weights.
    other = script.build_model(args, "srm", seed=0)
    assert not all(
        np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
        for a, b in zip(model.trainable_variables, other.trainable_variables)
    )
    with pytest.raises(ValueError, match="variables"):
        script.reinitialize(model, script.build_model(args, "fpn", 0), [])


def test_variants_of_a_seed_start_from_the_same_function(script):
    import keras

    args = script.parse_args(TINY)
    models = {v: script.build_model(args, v, seed=3) for v in ("fpn", "srm", "crm")}
    weights = {v: m.backbone.get_weights() for v, m in models.items()}
    for variant in ("srm", "crm"):
        for a, b in zip(weights["fpn"], weights[variant], strict=True):
            np.testing.assert_array_equal(a, b)
    # The SRM's offsets start at zero: an untrained +SRM is the FPN. (Not
    # on JAX, where an eager call compiles op by op: a minute on a CPU.)
    if keras.backend.backend() != "jax":
        images = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3))
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(models["fpn"](images, training=False)),
            keras.ops.convert_to_numpy(models["srm"](images, training=False)),
        )
    other = script.build_model(args, "fpn", seed=4).backbone.get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(weights["fpn"], other))


def test_ablation_tiny_run_writes_well_formed_outputs(script, tmp_path, request):
    import keras

    pytest.importorskip("tensorflow", reason="the training data is a tf.data pipeline")
    pytest.importorskip("matplotlib", reason="the figures need matplotlib")
    if keras.backend.backend() == "jax" and not request.config.getoption("--run-slow"):
        pytest.skip(
            "about 2 minutes on JAX on a CPU, which compiles each op of an "
            "eager step (or the whole step under jit); run with --run-slow"
        )
    result = script.main(
        ["--variants", "fpn", "srm", "--seeds", "0", "--output-dir", str(tmp_path)]
        + TINY
    )
    names = {path.name for path in tmp_path.iterdir()}
    assert names == {
        "ablation.md",
        "ablation.json",
        "ablation_metrics.png",
        "ablation_scenes.png",
    }

    # The JSON: settings, costs, runs and the summary.
    data = json.loads((tmp_path / "ablation.json").read_text())
    assert data == json.loads(json.dumps(result))
    assert data["settings"]["variants"] == ["fpn", "srm"]
    assert data["settings"]["seeds"] == [0]
    assert set(data["complexity"]) == {"fpn", "srm"}
    assert data["complexity"]["srm"]["params"] > data["complexity"]["fpn"]["params"]
    assert data["complexity"]["srm"]["gmacs"] > data["complexity"]["fpn"]["gmacs"]
    assert [(run["variant"], run["seed"]) for run in data["runs"]] == [
        ("fpn", 0),
        ("srm", 0),
    ]
    for run in data["runs"]:
        assert 0.0 <= run["mean_iou"] <= 1.0
        assert 0.0 <= run["boundary_iou"] <= 1.0
        assert set(run["per_class_iou"]) == set(script.CLASS_NAMES)
        assert np.isfinite(run["final_train_loss"])
    fpn_run, srm_run = data["runs"]
    assert "offset_magnitude" not in fpn_run
    assert len(srm_run["offset_magnitude"]) == 3
    # The offsets start at zero: after 2 steps they are small but not zero.
    assert all(0.0 < m < 1.0 for m in srm_run["offset_magnitude"])
    assert set(data["summary"]) == {"fpn", "srm"}
    paired = data["summary"]["srm"]["vs_fpn"]
    assert set(paired) == {key for key, _ in script.METRICS}
    assert paired["mean_iou"]["mean"] == pytest.approx(
        srm_run["mean_iou"] - fpn_run["mean_iou"]
    )
    assert data["wall_seconds"] > 0

    # The Markdown: the results table with one row per variant, the paired
    # table and the offset table.
    lines = (tmp_path / "ablation.md").read_text().splitlines()
    rows = [line for line in lines if line.startswith("| ")]
    assert len(rows) == 10
    assert rows[0].startswith("| variant | params | GMACs (32²) | mIoU |")
    assert rows[2].startswith("| FPN | ")
    assert rows[3].startswith("| +SRM | ")
    assert f"{100 * fpn_run['mean_iou']:.1f} ± 0.0" in rows[2]
    for row in rows[:4]:
        assert row.count("|") == rows[0].count("|")
    assert rows[4].startswith("| variant | Δ mIoU |")
    assert rows[6].startswith("| +SRM | ")
    assert rows[6].count("/1)") == len(script.METRICS)
    assert rows[7].startswith("| variant | stride 16 |")
    assert rows[9].startswith("| +SRM | ")

    # The figures: PNGs, small.
    for name in ("ablation_metrics.png", "ablation_scenes.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == PNG_SIGNATURE
        assert 1_000 < len(data) < 300_000

    # The table and the bar chart again, from the JSON alone.
    replot = tmp_path / "replot"
    script.main(
        ["--replot-from", str(tmp_path / "ablation.json"), "--output-dir", str(replot)]
    )
    assert {path.name for path in replot.iterdir()} == {
        "ablation.md",
        "ablation_metrics.png",
    }
    assert (replot / "ablation.md").read_text() == "\n".join(lines) + "\n"
    assert (replot / "ablation_metrics.png").read_bytes()[:8] == PNG_SIGNATURE
