"""The scikit-learn flavor: estimators saved with skops, which stores no pickle and loads
only the types it trusts (plus those the caller names).

skops names the files of its archive after object ids and stamps them with the time, so
the same estimator would give new bytes each time; the archive is rewritten with ids
numbered in order of appearance and a fixed time, so the same model is the same bytes
(and, registered again under its name, the same version).
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput, MissingDependency

__all__ = ["SklearnFlavor"]

_FILE = "model.skops"
_REF = re.compile(r'("__id__": )(\d+)|"(\d+)\.npy"')
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _skops() -> Any:
    try:
        import skops.io
    except ModuleNotFoundError:
        raise MissingDependency.for_extra("skops", "sklearn") from None
    return skops.io


def canonical_archive(data: bytes) -> bytes:
    """A skops archive with object ids renumbered 1, 2, ... in order of appearance, its
    members sorted and stamped with one fixed time."""
    source = zipfile.ZipFile(io.BytesIO(data))
    ids: dict[str, str] = {}

    def renamed(old: str) -> str:
        return ids.setdefault(old, str(len(ids) + 1))

    def replace(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return match.group(1) + renamed(match.group(2))
        return f'"{renamed(match.group(3))}.npy"'

    schema = _REF.sub(replace, source.read("schema.json").decode())
    members: dict[str, bytes] = {}
    for name in source.namelist():
        stem, _, ext = name.partition(".")
        if name == "schema.json":
            members[name] = schema.encode()
        elif ext == "npy" and stem.isdigit():
            members[f"{renamed(stem)}.npy"] = source.read(name)
        else:
            members[name] = source.read(name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, members[name])
    return out.getvalue()


class SklearnFlavor:
    """scikit-learn estimators (and pipelines of them), saved with skops."""

    name = "sklearn"
    runs_code = False
    priority = 10

    def handles(self, model: object) -> bool:
        base = sys.modules.get("sklearn.base")  # not imported: not a scikit-learn model
        return base is not None and isinstance(model, base.BaseEstimator)

    def packages(self, model: object) -> list[str]:
        return ["scikit-learn", "skops"]

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        (folder / _FILE).write_bytes(canonical_archive(_skops().dumps(model)))
        kind = type(model)
        return {"file": _FILE, "class": f"{kind.__module__}.{kind.__qualname__}"}

    def load(self, folder: Path, config: dict[str, Any], *, trusted: Sequence[str]) -> Any:
        sio = _skops()
        from skops.io.exceptions import UntrustedTypesFoundException

        path = folder / str(config.get("file", _FILE))
        try:  # one parse of the file; a second only to name what it refused
            return sio.load(path, trusted=list(trusted))
        except UntrustedTypesFoundException:
            untrusted = sio.get_untrusted_types(file=path)
        refused = [t for t in untrusted if t not in trusted]
        raise InvalidInput(
            f"the model file holds types skops does not trust: {', '.join(refused)}; if "
            f"you trust where this model came from, load it with trusted={refused!r}",
            field="trusted",
        )
