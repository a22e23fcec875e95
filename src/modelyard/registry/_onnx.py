"""The ONNX flavor: an ``onnx.ModelProto`` saved as its protobuf bytes, which hold a graph
of operators and weights and no code; loaded as a ``ModelProto`` (external data files are
never read), predicted with onnxruntime on the CPU."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput, MissingDependency
from modelyard.registry.flavors import distribution_of

__all__ = ["OnnxFlavor"]

_FILE = "model.onnx"
#: onnxruntime's names of tensor element types, as NumPy dtypes.
_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def _onnx() -> Any:
    try:
        import onnx
    except ModuleNotFoundError:
        raise MissingDependency.for_extra("onnx", "onnx") from None
    return onnx


def _runtime() -> Any:
    try:
        import onnxruntime
    except ModuleNotFoundError:
        raise MissingDependency.for_extra("onnxruntime", "onnx") from None
    return onnxruntime


class OnnxFlavor:
    """ONNX graphs (``onnx.ModelProto``)."""

    name = "onnx"
    runs_code = False
    priority = 20

    def handles(self, model: object) -> bool:
        onnx = sys.modules.get("onnx")  # not imported: not an ONNX model
        return onnx is not None and isinstance(model, onnx.ModelProto)

    def packages(self, model: object) -> list[str]:
        return ["onnx", (distribution_of("onnxruntime") or "onnxruntime")]

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        (folder / _FILE).write_bytes(model.SerializeToString(deterministic=True))  # type: ignore[attr-defined]
        return {"file": _FILE}

    def load(self, folder: Path, config: dict[str, Any], *, trusted: Sequence[str]) -> Any:
        data = (folder / str(config.get("file", _FILE))).read_bytes()
        return _onnx().load_model_from_string(data)

    def predict(self, model: Any, data: Any) -> Any:
        """The graph's first output on ``data``: an array (or table) for a graph of one
        input, else a mapping of input names to arrays."""
        import numpy as np

        session = _runtime().InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        inputs = session.get_inputs()
        given = data if isinstance(data, dict) else None
        if given is None:
            if len(inputs) != 1:
                names = ", ".join(i.name for i in inputs)
                raise InvalidInput(
                    f"the ONNX graph takes {len(inputs)} inputs ({names}): give a mapping of "
                    "their names to arrays",
                    field="data",
                )
            given = {inputs[0].name: data}
        feed = {}
        for spec in inputs:
            if spec.name not in given:
                raise InvalidInput(f"the ONNX graph's input {spec.name!r} is missing", field="data")
            array = np.asarray(given[spec.name])
            dtype = _DTYPES.get(spec.type)
            feed[spec.name] = array.astype(dtype) if dtype is not None else array
        return session.run(None, feed)[0]
