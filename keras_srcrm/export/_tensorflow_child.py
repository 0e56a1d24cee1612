"""The child process of `export_with_tensorflow_backend`.

Run as `python -m keras_srcrm.export._tensorflow_child REQUEST.json` with
`KERAS_BACKEND=tensorflow`: loads the `.keras` model named in the request,
exports it, and writes the `ExportResult` as JSON where the request says.
"""

import importlib
import json
import sys
from pathlib import Path

import keras


def main(request_path):
    request = json.loads(Path(request_path).read_text())
    for module in request["imports"]:
        importlib.import_module(module)
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "The export subprocess must run with KERAS_BACKEND=tensorflow. "
            f"Received: {keras.backend.backend()!r}"
        )
    from keras_srcrm.export.onnx import export_onnx
    from keras_srcrm.export.saved_model import export_saved_model

    export = export_saved_model if request["format"] == "saved_model" else export_onnx
    model = keras.models.load_model(request["model"], compile=False)
    result = export(
        model, request["path"], overwrite=request["overwrite"], **request["kwargs"]
    )
    Path(request["result"]).write_text(json.dumps(result.to_dict()))


if __name__ == "__main__":
    main(sys.argv[1])
