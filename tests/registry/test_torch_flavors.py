"""The PyTorch flavors: an exported program (``torch.export.save``), and an ``nn.Module``
as safetensors weights plus the source of its module, which loading imports. Both are
code-running formats (``torch.export.load`` unpickles and evaluates parts of an archive),
allowed only where the installation and the project allow them. torch is not installed in
CI (a CUDA build is several GB): these tests skip there."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from modelyard.config import Settings
from modelyard.errors import InvalidInput
from modelyard.registry.flavors import FLAVORS, predict
from modelyard.sdk.client import Client

torch = pytest.importorskip(
    "torch", reason="torch is not installed (pip install 'modelyard[torch]'); CI leaves it out"
)
pytest.importorskip("safetensors", reason="safetensors comes with modelyard[torch]")

MODULE = "zoo_torch_nets"
SETTING = "registry.allow_code_formats"


@pytest.fixture
def embedded_settings(embedded_settings: Settings) -> Settings:
    """The installation (and its server) allows code formats: the project decides."""
    registry = embedded_settings.registry.model_copy(update={"allow_code_formats": True})
    return embedded_settings.model_copy(update={"registry": registry})


@pytest.fixture
def nets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """A module of the test's own folder defining small networks."""
    source = tmp_path / "src"
    source.mkdir()
    (source / f"{MODULE}.py").write_text(
        textwrap.dedent(
            """
            import torch


            class Mlp(torch.nn.Module):
                def __init__(self, inputs, hidden=4):
                    super().__init__()
                    self.inputs, self.hidden = inputs, hidden
                    self.layers = torch.nn.Sequential(
                        torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
                    )

                def forward(self, x):
                    return self.layers(x)


            class Forgetful(torch.nn.Module):
                def __init__(self, size):
                    super().__init__()
                    self.linear = torch.nn.Linear(size, 1)
            """
        )
    )
    monkeypatch.syspath_prepend(str(source))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    yield importlib.import_module(MODULE)
    sys.modules.pop(MODULE, None)


def _x() -> np.ndarray:
    return np.random.default_rng(0).random((6, 3)).astype(np.float32)


def test_an_exported_program_round_trips_where_its_project_allows_it(
    client: Client, nets: object
) -> None:
    torch.manual_seed(0)
    module = nets.Mlp(3).eval()  # type: ignore[attr-defined]
    x = _x()
    program = torch.export.export(module, (torch.from_numpy(x),))
    client.projects.create("vision")
    with client.start_run("vision"), pytest.raises(InvalidInput, match="project 'vision'"):
        client.models.log(program, "mlp-export", input_example=x)
    client.projects.set_setting("vision", SETTING, True)
    with client.start_run("vision"):
        mv = client.models.log(program, "mlp-export", input_example=x)
    assert mv.flavor == "torch_export" and FLAVORS.get("torch_export").runs_code
    assert mv.signature is not None and mv.signature.inputs.tensor is not None
    assert mv.signature.outputs is not None and mv.signature.outputs.tensor is not None
    loaded = client.models.load("mlp-export", project="vision")
    assert isinstance(loaded, torch.export.ExportedProgram)
    expected = module(torch.from_numpy(x)).detach().numpy()
    assert np.allclose(predict(FLAVORS.get("torch_export"), loaded, x), expected)


@pytest.mark.local_only("the server round trip is the exported program's")
def test_a_module_round_trips_with_its_code_where_code_formats_are_allowed(
    code_client: Client, nets: object, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    module = nets.Mlp(3, hidden=5).eval()  # type: ignore[attr-defined]
    x = _x()
    code_client.projects.create("vision")
    with code_client.start_run("vision"), pytest.raises(InvalidInput, match="project 'vision'"):
        code_client.models.log(module, "mlp")  # the project does not allow code formats
    code_client.projects.set_setting("vision", SETTING, True)
    with code_client.start_run("vision"):
        mv = code_client.models.log(module, "mlp", input_example=x)
    assert mv.flavor == "pytorch"
    assert mv.flavor_config["init"] == {"inputs": 3, "hidden": 5}
    assert {"torch", "safetensors"} <= set(mv.packages)
    stored = {e.path for e in code_client.blobs.read_tree(mv.tree_digest)}
    assert {"model/model.safetensors", f"model/code/{MODULE}.py"} <= stored
    assert not any(p.endswith((".pkl", ".pt", ".pth")) for p in stored)

    # Forget the module: loading imports the packaged copy.
    sys.modules.pop(MODULE, None)
    sys.path.remove(str(tmp_path / "src"))
    loaded = code_client.models.load("mlp", project="vision")
    assert type(loaded).__module__ == MODULE and not loaded.training
    assert str(code_client.settings.home / "model-code") in sys.modules[MODULE].__file__
    expected = module(torch.from_numpy(x)).detach().numpy()
    assert np.allclose(predict(FLAVORS.get("pytorch"), loaded, x), expected)
    code_client.projects.set_setting("vision", SETTING, False)
    with pytest.raises(InvalidInput, match="project 'vision' does not allow"):
        code_client.models.load("mlp", project="vision")


@pytest.mark.local_only("refused before anything is sent")
def test_a_module_that_cannot_be_built_again_is_refused(code_client: Client, nets: object) -> None:
    code_client.projects.create("vision")
    code_client.projects.set_setting("vision", SETTING, True)
    cases = [
        (nets.Forgetful(3), "store it as self.size"),  # type: ignore[attr-defined]
        (torch.nn.Sequential(torch.nn.Linear(2, 1)), "torch.export"),
    ]
    for module, hint in cases:
        with code_client.start_run("vision"), pytest.raises(InvalidInput, match=hint) as exc:
            code_client.models.log(module, "bad")
        assert exc.value.field == "model"
    assert code_client.models.list_models("vision") == []
