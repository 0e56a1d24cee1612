"""What an export returns: where it went and what its signatures are."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """The location and the signatures of an exported model.

    Every field holds plain Python values, so `to_dict()` is JSON-serialisable
    (a command-line tool can print it) and `from_dict` rebuilds the result.

    Attributes:
        path: Absolute path of the export: a SavedModel directory or an
            `.onnx` file.
        format: `"saved_model"` or `"onnx"`.
        backend: The Keras backend that traced the model, e.g.
            `"tensorflow"`.
        signatures: `{signature_name: {"inputs": {...}, "outputs": {...}}}`,
            each tensor described as `{"dtype": "uint8", "shape": [None,
            None, None, 3]}` (`None` for a size known only at run time). An
            ONNX file has one graph, described under the name of the
            signature it was made from.

    Example:

    ```python
    result = keras_srcrm.export.export_saved_model(model, "export/1")
    print(result.summary())
    result.signatures["serving_default"]["outputs"]["classes"]
    # {'dtype': 'int32', 'shape': [None, None, None]}
    ```
    """

    path: str
    format: str
    backend: str
    signatures: dict

    def to_dict(self):
        """Returns the result as a dict of plain, JSON-serialisable values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config):
        """Rebuilds a result from the output of `to_dict()`.

        Args:
            config: A dict as returned by `to_dict()`.

        Returns:
            An `ExportResult`.
        """
        return cls(**config)

    def summary(self):
        """Returns a readable, multi-line description of the signatures."""
        lines = [f"{self.format} at {self.path} (traced on {self.backend})"]
        for name, signature in self.signatures.items():
            lines.append(f"  {name}")
            for kind in ("inputs", "outputs"):
                for tensor_name, tensor in signature[kind].items():
                    shape = ", ".join(
                        "?" if dim is None else str(dim) for dim in tensor["shape"]
                    )
                    lines.append(
                        f"    {kind[:-1]:<6} {tensor_name}: {tensor['dtype']} ({shape})"
                    )
        return "\n".join(lines)

    def __str__(self):
        return self.summary()
