"""The PyTorch flavors.

``torch_export``: a :class:`torch.export.ExportedProgram`, saved with ``torch.export.save``
(a serialized graph and its weights). It is a code-running format all the same: a crafted
archive runs code in ``torch.export.load`` (torch 2.14 unpickles sample inputs that its
safe unpickler refuses with ``weights_only=False``, unpickles weights and constants marked
as pickled and "opaque" objects with ``pickle.loads``, and parses symbolic shapes with
``sympy.sympify``, which evaluates Python), so it is allowed only where code formats are.

``pytorch``: an ``nn.Module``, saved as its weights in safetensors (tensors only) plus the
code that builds it: the source of the module that defines its class (its top-level
package, or the one file) is packaged with the version under ``code/``, unless an
installed distribution provides it (then that distribution is among the version's
packages), and the arguments of its ``__init__`` are recorded as the values of the
module's attributes of the same names (scikit-learn's ``get_params`` convention: keep each
argument as ``self.<name>``, or give it a default). Loading imports that code and runs
it, so this flavor is a code-running format: allowed only where the settings
``registry.allow_code_formats`` of the installation and of the project are on.
"""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput, MissingDependency
from modelyard.registry.flavors import CODE_DIR, distribution_of

__all__ = ["TorchExportFlavor", "TorchModuleFlavor"]

_PROGRAM = "model.pt2"
_WEIGHTS = "model.safetensors"


def _torch() -> Any:
    try:
        import torch
    except ModuleNotFoundError:
        raise MissingDependency.for_extra("torch", "torch") from None
    return torch


def _safetensors() -> Any:
    try:
        import safetensors.torch
    except ModuleNotFoundError:
        raise MissingDependency.for_extra("safetensors", "torch") from None
    return safetensors.torch


def _tensors(torch: Any, data: Any, dtype: Any) -> tuple[Any, ...]:
    """The model's positional inputs: tensors as they are, anything else as an array."""
    import numpy as np

    items = data if isinstance(data, tuple) else (data,)
    out = []
    for item in items:
        if isinstance(item, torch.Tensor):
            out.append(item)
            continue
        array = np.asarray(item)
        tensor = torch.as_tensor(array)
        out.append(tensor.to(dtype) if tensor.is_floating_point() and dtype is not None else tensor)
    return tuple(out)


def _numpy(torch: Any, result: Any) -> Any:
    if isinstance(result, torch.Tensor):
        return result.detach().cpu().numpy()
    if isinstance(result, tuple | list):
        return type(result)(_numpy(torch, r) for r in result)
    return result


class TorchExportFlavor:
    """``torch.export`` programs."""

    name = "torch_export"
    runs_code = True  # torch.export.load unpickles and evaluates parts of the archive
    priority = 20

    def handles(self, model: object) -> bool:
        torch = sys.modules.get("torch")  # not imported: not a torch model
        return torch is not None and isinstance(model, torch.export.ExportedProgram)

    def packages(self, model: object) -> list[str]:
        return ["torch"]

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        _torch().export.save(model, folder / _PROGRAM)
        return {"file": _PROGRAM}

    def load(self, folder: Path, config: dict[str, Any], *, trusted: Sequence[str]) -> Any:
        return _torch().export.load(folder / str(config.get("file", _PROGRAM)))

    def predict(self, model: Any, data: Any) -> Any:
        torch = _torch()
        floats = [t.dtype for t in model.state_dict.values() if t.is_floating_point()]
        with torch.no_grad():
            result = model.module()(*_tensors(torch, data, floats[0] if floats else None))
        return _numpy(torch, result)


def _init_args(model: Any) -> dict[str, Any]:
    """The module's ``__init__`` arguments, from its attributes of the same names."""
    kind = type(model)
    found = {}
    for param in inspect.signature(kind.__init__).parameters.values():
        if param.name == "self" or param.kind is param.VAR_KEYWORD:
            continue
        if param.kind is param.VAR_POSITIONAL:
            raise InvalidInput(
                f"{kind.__qualname__}.__init__ takes *{param.name}, which the pytorch flavor "
                "cannot record: log torch.export.export(module, example_inputs) instead (the "
                "torch_export flavor)",
                field="model",
            )
        if param.name in vars(model):
            value = vars(model)[param.name]
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                raise InvalidInput(
                    f"{kind.__qualname__}.{param.name} = {value!r} is not a plain value (JSON): "
                    "the pytorch flavor builds the module again from its arguments",
                    field="model",
                ) from None
            found[param.name] = value
        elif param.default is param.empty:
            raise InvalidInput(
                f"{kind.__qualname__}.__init__ takes {param.name!r}, which the module does not "
                f"keep: store it as self.{param.name} (the pytorch flavor builds the module "
                "again from the attributes named like its arguments) or give it a default",
                field="model",
            )
    return found


class TorchModuleFlavor:
    """``torch.nn.Module``: safetensors weights and the code that builds the module."""

    name = "pytorch"
    runs_code = True
    priority = 15

    def handles(self, model: object) -> bool:
        torch = sys.modules.get("torch")  # not imported: not a torch model
        return torch is not None and isinstance(model, torch.nn.Module)

    def _module(self, model: object) -> tuple[str, str]:
        """The class's module and its top-level module."""
        module = type(model).__module__
        if module == "__main__":
            raise InvalidInput(
                f"{type(model).__qualname__} is defined in the program that runs (__main__): "
                "the pytorch flavor packages the module that defines the class, so move it "
                "into a module of its own (a .py file) and import it",
                field="model",
            )
        return module, module.partition(".")[0]

    def packages(self, model: object) -> list[str]:
        provider = distribution_of(self._module(model)[1])
        return ["torch", "safetensors", *([provider] if provider else [])]

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        module, top = self._module(model)
        kind = type(model)
        init = _init_args(model)
        _safetensors().save_model(model, str(folder / _WEIGHTS))
        config: dict[str, Any] = {
            "file": _WEIGHTS,
            "module": module,
            "class": kind.__qualname__,
            "init": init,
        }
        if distribution_of(top) is None:
            source = Path(inspect.getfile(sys.modules[top]))
            code = folder / CODE_DIR
            code.mkdir(exist_ok=True)
            if source.name == "__init__.py":
                shutil.copytree(
                    source.parent,
                    code / top,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
            else:
                shutil.copy2(source, code / source.name)
            config["code"] = CODE_DIR
        return config

    def load(self, folder: Path, config: dict[str, Any], *, trusted: Sequence[str]) -> Any:
        """The module, built by its code (which the caller has put on ``sys.path``)."""
        module = importlib.import_module(str(config["module"]))
        kind: Any = module
        for part in str(config["class"]).split("."):
            kind = getattr(kind, part)
        model = kind(**config.get("init", {}))
        _safetensors().load_model(model, str(folder / str(config.get("file", _WEIGHTS))))
        return model.eval()

    def predict(self, model: Any, data: Any) -> Any:
        torch = _torch()
        floats = [p.dtype for p in model.parameters() if p.is_floating_point()]
        with torch.no_grad():
            result = model(*_tensors(torch, data, floats[0] if floats else None))
        return _numpy(torch, result)
