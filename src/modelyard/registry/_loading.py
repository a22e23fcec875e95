"""Loading a model version's files with its flavor: one way for everyone who loads one
(the SDK's ``my.models.load``, evaluation where the registry is, the inference server's
model pool), so each checks the same things in the same order.

First the flavor may load here (a format that runs code only where the installation's
and the project's setting allow it) and the packages it recorded are installed; only
then are the files fetched (each verified against its digest) and handed to the flavor.
A version that packages its own code (``code_paths``, a ``pytorch`` module's source) has
it copied where it stays (``<code home>/<tree digest>``: the model's modules may import
more of it later) and put first on ``sys.path``; a caller that gives no code home
refuses such a version.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.registry.contract import ModelContract
    from modelyard.registry.entities import ModelVersion

__all__ = ["MODEL_DIR", "downloaded", "load_model"]

#: The folder of a version's tree that its flavor wrote (as the SDK saves it).
MODEL_DIR = "model"


def load_model(
    version: ModelVersion,
    files: Callable[[], AbstractContextManager[Path]],
    *,
    installation: bool,
    project: Callable[[str], bool],
    trusted: Sequence[str],
    code_home: Path | None,
) -> Any:
    """The model object of ``version``. ``files()`` gives the folder holding the version's
    tree, verified (:func:`downloaded`, or a local cache); it is called only once the
    checks passed. ``installation``: the installation's ``registry.allow_code_formats``;
    ``project(name)``: the project's setting of that name (asked only for a flavor whose
    format runs code); ``trusted``: types the caller vouches for; ``code_home``: where a
    version's own code is kept (None: such a version is refused)."""
    from modelyard.registry.flavors import (
        CODE_DIR,
        FLAVORS,
        check_code_format,
        check_packages,
    )

    flavor = FLAVORS.get(version.flavor)
    if flavor.runs_code:
        check_code_format(
            flavor,
            installation=installation,
            project=project(version.project),
            name=version.project,
            doing="loading",
        )
    own_code = flavor.runs_code and version.flavor_config.get("code") == CODE_DIR
    if own_code and code_home is None:
        raise InvalidInput(
            f"model {version.project}/{version.ref} packages its own code, which is not run "
            "in this process: load it with my.models.load in yours",
            field="flavor",
        )
    check_packages(version.packages, f"model {version.project}/{version.ref}")
    with files() as folder:
        model_dir = folder / MODEL_DIR
        if own_code and code_home is not None:
            _code_on_path(version, model_dir / CODE_DIR, code_home)
        return flavor.load(model_dir, version.flavor_config, trusted=list(trusted))


@contextmanager
def downloaded(models: ModelContract, version: ModelVersion) -> Iterator[Path]:
    """The version's files in a temporary folder (each verified as it is written), removed
    afterwards."""
    with tempfile.TemporaryDirectory(prefix="modelyard-model-") as tmp:
        models.download(version, tmp)
        yield Path(tmp)


def _code_on_path(version: ModelVersion, code: Path, home: Path) -> None:
    """Keep a version's code in ``home/<tree digest>`` and put it first on ``sys.path``."""
    if not code.is_dir():
        raise InvalidInput(f"model {version.ref} has no code folder", field="flavor_config")
    kept = home / version.tree_digest
    if not kept.is_dir():
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=home))
        shutil.copytree(code, staging, dirs_exist_ok=True)
        try:
            staging.rename(kept)
        except OSError:  # another process kept it first: the same files
            shutil.rmtree(staging, ignore_errors=True)
    if str(kept) not in sys.path:
        sys.path.insert(0, str(kept))
