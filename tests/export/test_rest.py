"""The REST example of docs/deployment.md, run against the exported signatures.

There is no TF Serving binary here, so the request body the docs build is
decoded the way TF Serving's REST API documents it (row `instances` or
columnar `inputs`, JSON numbers mapped to the signature's dtype), fed to the
SavedModel's signature, and the outputs encoded as its responses.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests.export import standin
from tests.export.conftest import FIXED_SIZE

DOCS = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
MARKER = "<!-- rest-request-example"


def docs_request_snippet():
    """The Python block that follows the REST marker in the deployment guide."""
    text = DOCS.read_text()
    after = text[text.index(MARKER) :]
    match = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    return match.group(1)


def to_tensor(value, dtype):
    """A JSON value as a tensor of `dtype`, refusing what TF Serving refuses."""
    try:
        array = np.asarray(value)
    except ValueError as error:
        raise ValueError("instances must all have the same shape") from error
    if np.issubdtype(dtype, np.integer):
        if array.dtype.kind not in "iu":
            raise ValueError(f"{dtype} takes JSON integers, got {array.dtype}")
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise ValueError(f"value out of range for {dtype}")
    elif array.dtype.kind not in "iuf":
        raise ValueError(f"{dtype} takes JSON numbers, got {array.dtype}")
    return array.astype(dtype)


def decode_predict_request(body, input_dtypes):
    """Decodes a `:predict` body into `(signature_name, inputs, format)`.

    Args:
        body: The JSON body, parsed.
        input_dtypes: `{input_name: numpy dtype}` of the signatures.
    """
    if ("instances" in body) == ("inputs" in body):
        raise ValueError("a request has exactly one of 'instances' and 'inputs'")
    names = list(input_dtypes)
    if "instances" in body:
        instances = body["instances"]
        if all(isinstance(instance, dict) for instance in instances):
            columns = {n: [instance[n] for instance in instances] for n in names}
        elif len(names) == 1:
            columns = {names[0]: instances}
        else:
            raise ValueError("several inputs need one object per instance")
        request_format = "row"
    else:
        inputs = body["inputs"]
        columns = inputs if isinstance(inputs, dict) else {names[0]: inputs}
        request_format = "columnar"
    tensors = {n: to_tensor(columns[n], input_dtypes[n]) for n in names}
    return body.get("signature_name", "serving_default"), tensors, request_format


def encode_predict_response(outputs, request_format):
    """Encodes a signature's outputs as TF Serving's `:predict` response."""
    outputs = {name: np.asarray(value) for name, value in outputs.items()}
    if request_format == "row":
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values())).tolist()}
        batch = len(next(iter(outputs.values())))
        return {
            "predictions": [
                {name: value[i].tolist() for name, value in outputs.items()}
                for i in range(batch)
            ]
        }
    if len(outputs) == 1:
        return {"outputs": next(iter(outputs.values())).tolist()}
    return {"outputs": {name: value.tolist() for name, value in outputs.items()}}


def serve_over_json(export_path, body):
    """Sends `body` through JSON to the export, as TF Serving would."""
    import tensorflow as tf

    body = json.loads(json.dumps(body))
    signatures = tf.saved_model.load(export_path).signatures
    # Every signature here takes the same single input name.
    _, specs = signatures["serving_default"].structured_input_signature
    dtypes = {name: spec.dtype.as_numpy_dtype for name, spec in specs.items()}
    name, inputs, request_format = decode_predict_request(body, dtypes)
    outputs = signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
    response = encode_predict_response(
        {k: v.numpy() for k, v in outputs.items()}, request_format
    )
    return json.loads(json.dumps(response))


@pytest.fixture
def docs_bodies(tmp_path, monkeypatch, test_images):
    """Runs the docs' snippet on two images; returns its namespace."""
    monkeypatch.chdir(tmp_path)
    images = test_images[0]
    namespace = {"image_1": images[0], "image_2": images[1]}
    exec(docs_request_snippet(), namespace)
    written = json.loads((tmp_path / "request.json").read_text())
    assert written == namespace["row_body"]
    return namespace


@pytest.mark.parametrize("body_name", ["row_body", "columnar_body"])
def test_docs_request_with_probabilities(
    docs_bodies, main_export, test_images, body_name
):
    model, result = main_export
    logits = standin.keras_logits(model, test_images[0])
    response = serve_over_json(result.path, docs_bodies[body_name])
    if body_name == "row_body":
        predictions = response["predictions"]
        assert [sorted(p) for p in predictions] == [["classes", "probabilities"]] * 2
        classes = np.array([p["classes"] for p in predictions])
        probabilities = np.array([p["probabilities"] for p in predictions])
    else:
        classes = np.array(response["outputs"]["classes"])
        probabilities = np.array(response["outputs"]["probabilities"])
    np.testing.assert_array_equal(classes, logits.argmax(axis=-1))
    np.testing.assert_allclose(probabilities, standin.softmax(logits), atol=1e-4)


@pytest.mark.parametrize("body_name", ["row_body", "columnar_body"])
def test_docs_request_class_map_only(
    docs_bodies, fixed_size_export, test_images, body_name
):
    model, result = fixed_size_export
    expected = standin.fixed_size_logits(model, test_images[0], FIXED_SIZE)
    response = serve_over_json(result.path, docs_bodies[body_name])
    key = "predictions" if body_name == "row_body" else "outputs"
    # One output: TF Serving leaves its name out.
    np.testing.assert_array_equal(np.array(response[key]), expected.argmax(axis=-1))


def test_docs_curl_posts_the_body_to_predict():
    text = DOCS.read_text()
    assert re.search(
        r"curl -X POST [^\n]*-d @request\.json \\\n\s+"
        r"http://localhost:8501/v1/models/srcrm:predict",
        text,
    )
    assert "-e MODEL_NAME=srcrm" in text
