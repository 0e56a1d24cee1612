"""Runs exported SavedModels in a fresh interpreter that imports TensorFlow only.

Usage: `python plain_tf_check.py JOB.json`. The job names the exports, an
`.npz` of uint8 image batches for each, and where to write the signatures'
outputs (`.npz`) and a JSON report. Every signature is called through
`tf.saved_model.load`; `serving_default` is also run the way TF Serving runs
it, in a TF1 `Session` that feeds and fetches the tensor names of its
SignatureDef. The report lists the signatures found, every op of the
graph and its function library, which of them TensorFlow's op registry does
not know, the attributes of `XlaCallModule` ops, and which of `keras` and
`keras_srcrm` modules got imported. The tests make the assertions.

`import tensorflow` alone imports Keras in this environment (TensorFlow
probes for it), so both packages are blocked before it: any import of them
raises `ImportError`, and an export that needed either could not load here.
"""

import json
import sys

BLOCKED = ("keras", "keras_srcrm")
for _name in BLOCKED:
    sys.modules[_name] = None

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402
from tensorflow.python.framework import op_def_registry  # noqa: E402

FLOAT_SIGNATURES = ("serve_float32", "logits")


def run_signatures(loaded, images_path):
    outputs = {}
    with np.load(images_path) as batches:
        for key in batches.files:
            images = batches[key]
            for name, signature in loaded.signatures.items():
                dtype = tf.float32 if name in FLOAT_SIGNATURES else tf.uint8
                results = signature(images=tf.constant(images, dtype))
                for output_name, value in results.items():
                    outputs[f"{name}/{output_name}/{key}"] = value.numpy()
    return outputs


def run_in_session(export_path, images_path):
    """`serving_default` through a Session, as TF Serving's C++ loader runs it."""
    outputs = {}
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
        meta_graph = tf.compat.v1.saved_model.loader.load(sess, ["serve"], export_path)
        signature = meta_graph.signature_def["serving_default"]
        feed = signature.inputs["images"].name
        fetches = {name: info.name for name, info in signature.outputs.items()}
        with np.load(images_path) as batches:
            for key in batches.files:
                results = sess.run(fetches, {feed: batches[key]})
                for name, value in results.items():
                    outputs[f"session/serving_default/{name}/{key}"] = value
    return outputs


def graph_report(export_path):
    saved_model = saved_model_pb2.SavedModel()
    with open(f"{export_path}/saved_model.pb", "rb") as file:
        saved_model.ParseFromString(file.read())
    ops = set()
    xla_call_modules = []
    for meta_graph in saved_model.meta_graphs:
        nodes = list(meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            nodes.extend(function.node_def)
        ops.update(op.name for op in meta_graph.meta_info_def.stripped_op_list.op)
        for node in nodes:
            ops.add(node.op)
            if node.op == "XlaCallModule":
                xla_call_modules.append(
                    {
                        "platforms": [
                            p.decode() for p in node.attr["platforms"].list.s
                        ],
                        "function_list": len(node.attr["function_list"].list.func),
                        "has_token_input_output": node.attr["has_token_input_output"].b,
                    }
                )
    return {
        "ops": sorted(ops),
        "unregistered_ops": sorted(op for op in ops if op_def_registry.get(op) is None),
        "xla_call_modules": xla_call_modules,
    }


def main(job_path):
    with open(job_path) as file:
        job = json.load(file)
    report = {"exports": []}
    for item in job["exports"]:
        loaded = tf.saved_model.load(item["path"])
        outputs = run_signatures(loaded, item["images"])
        outputs.update(run_in_session(item["path"], item["images"]))
        np.savez(item["outputs"], **outputs)
        entry = graph_report(item["path"])
        entry["signatures"] = sorted(loaded.signatures.keys())
        report["exports"].append(entry)
    report["imported"] = sorted(
        name
        for name, module in sys.modules.items()
        if module is not None and name.split(".")[0] in BLOCKED
    )
    with open(job["report"], "w") as file:
        json.dump(report, file)


if __name__ == "__main__":
    main(sys.argv[1])
