"""The SavedModel export: reloaded without Keras, inspected, validated."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_srcrm import export
from tests.export import standin
from tests.export.conftest import FIXED_SIZE
from tests.export.conftest import IN_PROCESS

BACKEND = keras.backend.backend()
HERE = Path(__file__).resolve().parent
C = standin.NUM_CLASSES
# What docs/deployment.md promises, as saved_model_cli prints it.
DOCUMENTED = {
    "serving_default": {
        "inputs": {"images": ("DT_UINT8", "(-1, -1, -1, 3)")},
        "outputs": {
            "classes": ("DT_INT32", "(-1, -1, -1)"),
            "probabilities": ("DT_FLOAT", f"(-1, -1, -1, {C})"),
        },
    },
    "serve_float32": {
        "inputs": {"images": ("DT_FLOAT", "(-1, -1, -1, 3)")},
        "outputs": {
            "classes": ("DT_INT32", "(-1, -1, -1)"),
            "probabilities": ("DT_FLOAT", f"(-1, -1, -1, {C})"),
        },
    },
    "logits": {
        "inputs": {"images": ("DT_FLOAT", "(-1, -1, -1, 3)")},
        "outputs": {"logits": ("DT_FLOAT", f"(-1, -1, -1, {C})")},
    },
}


@pytest.fixture(scope="module")
def plain_tf_run(main_export, fixed_size_export, test_images, tmp_path_factory):
    """Runs both exports in a fresh interpreter that imports TensorFlow only.

    Returns:
        `(report, [outputs of the main export, outputs of the fixed-size
        one])`, see `plain_tf_check.py`.
    """
    workdir = tmp_path_factory.mktemp("plain_tf")
    images_path = workdir / "images.npz"
    np.savez(images_path, **{f"size_{i}": x for i, x in enumerate(test_images)})
    exports = [main_export, fixed_size_export]
    job = {
        "exports": [
            {
                "path": result.path,
                "images": str(images_path),
                "outputs": str(workdir / f"outputs_{i}.npz"),
            }
            for i, (_, result) in enumerate(exports)
        ],
        "report": str(workdir / "report.json"),
    }
    job_path = workdir / "job.json"
    job_path.write_text(json.dumps(job))
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    subprocess.run(
        [sys.executable, str(HERE / "plain_tf_check.py"), str(job_path)],
        env=environment,
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    report = json.loads((workdir / "report.json").read_text())
    outputs = [dict(np.load(item["outputs"])) for item in job["exports"]]
    return report, outputs


def test_reloads_in_tensorflow_without_keras(plain_tf_run):
    report, _ = plain_tf_run
    # The checker blocks both imports, so an export needing them fails there.
    assert report["imported"] == []
    for entry in report["exports"]:
        assert entry["signatures"] == ["logits", "serve_float32", "serving_default"]


@pytest.mark.parametrize("size_index", [0, 1])
def test_serving_default_matches_keras(
    plain_tf_run, main_export, test_images, size_index
):
    model, _ = main_export
    images = test_images[size_index]
    logits = standin.keras_logits(model, images)
    outputs = plain_tf_run[1][0]
    key = f"size_{size_index}"
    classes = outputs[f"serving_default/classes/{key}"]
    probabilities = outputs[f"serving_default/probabilities/{key}"]
    assert classes.dtype == np.int32 and classes.shape == images.shape[:3]
    assert probabilities.dtype == np.float32
    np.testing.assert_array_equal(classes, logits.argmax(axis=-1))
    np.testing.assert_allclose(probabilities, standin.softmax(logits), atol=1e-4)


@pytest.mark.parametrize("export_index", [0, 1], ids=["main", "fixed_size"])
def test_session_run_matches_the_loaded_signature(plain_tf_run, export_index):
    # TF Serving runs a SignatureDef's tensors in a Session, not tf.function.
    outputs = plain_tf_run[1][export_index]
    session_keys = [k for k in outputs if k.startswith("session/")]
    assert len(session_keys) == 2 * (2 if export_index == 0 else 1)
    for key in session_keys:
        np.testing.assert_allclose(
            outputs[key], outputs[key.removeprefix("session/")], atol=1e-6
        )


@pytest.mark.parametrize("size_index", [0, 1])
def test_float_signatures_match_keras(
    plain_tf_run, main_export, test_images, size_index
):
    model, _ = main_export
    logits = standin.keras_logits(model, test_images[size_index])
    outputs = plain_tf_run[1][0]
    key = f"size_{size_index}"
    np.testing.assert_allclose(
        outputs[f"logits/logits/{key}"], logits, rtol=1e-4, atol=1e-4
    )
    for name in ("classes", "probabilities"):
        np.testing.assert_array_equal(
            outputs[f"serve_float32/{name}/{key}"],
            outputs[f"serving_default/{name}/{key}"],
        )


@pytest.mark.parametrize("size_index", [0, 1])
def test_fixed_size_model_resizes_images_and_logits_back(
    plain_tf_run, fixed_size_export, test_images, size_index
):
    model, _ = fixed_size_export
    images = test_images[size_index]
    logits = standin.fixed_size_logits(model, images, FIXED_SIZE)
    outputs = plain_tf_run[1][1]
    key = f"size_{size_index}"
    assert f"serving_default/probabilities/{key}" not in outputs
    np.testing.assert_allclose(
        outputs[f"logits/logits/{key}"], logits, rtol=1e-4, atol=1e-4
    )
    np.testing.assert_array_equal(
        outputs[f"serving_default/classes/{key}"], logits.argmax(axis=-1)
    )


def test_graph_holds_only_core_tensorflow_ops(plain_tf_run, main_export):
    report, _ = plain_tf_run
    traced_on = main_export[1].backend
    for entry in report["exports"]:
        assert entry["unregistered_ops"] == []
        assert not {"PyFunc", "PyFuncStateless", "EagerPyFunc"} & set(entry["ops"])
        if traced_on == "tensorflow":
            # The warp, the resizes and the convolutions are all standard
            # kernels: nothing that needs XLA in the server.
            assert "XlaCallModule" not in entry["ops"]
            assert {"GatherV2", "Conv2D", "ArgMax", "Softmax"} <= set(entry["ops"])
        else:
            assert entry["xla_call_modules"]
            for module in entry["xla_call_modules"]:
                # No calls back into TensorFlow functions or host callbacks.
                assert module["function_list"] == 0
                assert not module["has_token_input_output"]
                assert module["platforms"] == ["CPU", "CUDA"]


def _saved_model_cli():
    script = Path(sys.executable).with_name("saved_model_cli")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


def test_saved_model_cli_lists_documented_signatures(main_export):
    _, result = main_export
    shown = subprocess.run(
        _saved_model_cli() + ["show", "--dir", result.path, "--all"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    blocks = re.split(r"\nsignature_def\['", shown)[1:]
    signatures = {block.split("'", 1)[0]: block for block in blocks}
    assert set(signatures) == {"__saved_model_init_op", *DOCUMENTED}
    tensor = re.compile(
        r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\))"
    )
    for name, expected in DOCUMENTED.items():
        found = {"inputs": {}, "outputs": {}}
        for kind, tensor_name, dtype, shape in tensor.findall(signatures[name]):
            found[kind][tensor_name] = (dtype, shape)
        assert found == expected, name
        assert "Method name is: tensorflow/serving/predict" in signatures[name]


def test_result_describes_the_signatures(main_export):
    _, result = main_export
    assert result.format == "saved_model"
    assert result.backend == (BACKEND if IN_PROCESS else "tensorflow")
    assert Path(result.path).is_absolute() and Path(result.path).is_dir()
    images = {"dtype": "float32", "shape": [None, None, None, 3]}
    class_map = {
        "classes": {"dtype": "int32", "shape": [None, None, None]},
        "probabilities": {"dtype": "float32", "shape": [None, None, None, C]},
    }
    assert result.signatures == {
        "serving_default": {
            "inputs": {"images": {"dtype": "uint8", "shape": [None, None, None, 3]}},
            "outputs": class_map,
        },
        "serve_float32": {"inputs": {"images": images}, "outputs": class_map},
        "logits": {
            "inputs": {"images": images},
            "outputs": {"logits": {"dtype": "float32", "shape": [None] * 3 + [C]}},
        },
    }
    as_json = json.loads(json.dumps(result.to_dict()))
    assert export.ExportResult.from_dict(as_json) == result
    assert "serving_default" in result.summary()
    assert "output classes: int32 (?, ?, ?)" in str(result)


def test_fixed_size_result_has_no_probabilities(fixed_size_export):
    _, result = fixed_size_export
    for name in ("serving_default", "serve_float32"):
        assert list(result.signatures[name]["outputs"]) == ["classes"]


def _two_input_model():
    a = keras.Input((None, None, 3))
    b = keras.Input((None, None, 3))
    return keras.Model([a, b], keras.layers.Add()([a, b]))


def _list_output_model():
    x = keras.Input((None, None, 3))
    return keras.Model(x, [keras.layers.Conv2D(2, 1)(x), keras.layers.Conv2D(2, 1)(x)])


def _dict_output_model():
    x = keras.Input((None, None, 3))
    return keras.Model(x, {"main": keras.layers.Conv2D(2, 1)(x)})


def _grayscale_model():
    x = keras.Input((None, None, 1))
    return keras.Model(x, keras.layers.Conv2D(2, 1)(x))


def _softmax_model():
    model = standin.segmenter_standin()
    model.output_activation = "softmax"
    return model


@pytest.mark.parametrize(
    "make_model, kwargs, message",
    [
        (lambda: "model.keras", {}, "`model` must be a `keras.Model`"),
        (_two_input_model, {}, "single image input"),
        (_grayscale_model, {}, r"\(batch, height, width, 3\)"),
        (_list_output_model, {}, "Received: a list of 2 outputs"),
        (_dict_output_model, {}, r"key 'segmentation'.*\['main'\]"),
        (_softmax_model, {}, "output_activation='softmax'"),
        (standin.segmenter_standin, {"image_size": (0, 32)}, "image_size=\\(0, 32\\)"),
        (standin.segmenter_standin, {"image_size": 32}, "image_size=32"),
        (standin.segmenter_standin, {"include_probabilities": 1}, "must be a bool"),
        (standin.segmenter_standin, {"jax_platforms": ("gpu",)}, "jax_platforms"),
        (standin.segmenter_standin, {"jax_min_image_size": 0}, "size=0"),
        (standin.segmenter_standin, {"overwrite": "yes"}, "overwrite='yes'"),
        (
            lambda: standin.segmenter_standin(input_size=(32, 40)),
            {"image_size": (32, 48)},
            r"fixed input size.*\(32, 40\)",
        ),
        (
            lambda: standin.segmenter_standin(input_size=(32, None)),
            {},
            r"only one of its input height and width",
        ),
    ],
)
def test_rejects_invalid_arguments(make_model, kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        export.export_saved_model(make_model(), tmp_path / "1", **kwargs)
    assert not (tmp_path / "1").exists()


@pytest.mark.skipif(
    BACKEND != "torch",
    reason=f"the {BACKEND} backend exports in-process; only PyTorch is refused",
)
def test_torch_backend_points_to_the_tensorflow_path(tmp_path):
    model = standin.segmenter_standin()
    with pytest.raises(NotImplementedError) as error:
        export.export_saved_model(model, tmp_path / "1")
    message = str(error.value)
    assert "active Keras backend is 'torch'" in message
    assert "export_with_tensorflow_backend(model, path, format='saved_model')" in (
        message
    )
    assert "KERAS_BACKEND=tensorflow" in message and "deployment.md" in message
    assert not (tmp_path / "1").exists()


@pytest.mark.skipif(
    BACKEND != "jax",
    reason="only jax2tf traces with symbolic image sizes, which need a bound",
)
def test_jax_needs_a_lower_bound_on_the_image_size(tmp_path):
    model = standin.segmenter_standin()
    with pytest.raises(Exception, match="inconclusive") as error:
        export.export_saved_model(model, tmp_path / "1", jax_min_image_size=1)
    assert "larger `jax_min_image_size`" in "".join(error.value.__notes__)
    assert not (tmp_path / "1").exists()


@pytest.mark.skipif(
    BACKEND != "jax",
    reason="only the JAX export has a minimum image size (TensorFlow graphs "
    "take any size their ops accept)",
)
def test_jax_export_refuses_images_below_the_minimum(main_export):
    import tensorflow as tf

    serve = tf.saved_model.load(main_export[1].path).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError):
        serve(images=tf.zeros((1, 16, 40, 3), tf.uint8))
