"""A step's cache key and the parts it is made of.

The key is the BLAKE3 digest of canonical JSON of :class:`KeyParts`:

- ``code``: the digest of the source of the step's function and of every project
  function or class it reaches by global name or as an attribute of an imported project
  module, followed transitively (editing a helper changes the key); ``constants``: the
  values of module-level scalars, and of lists, tuples and dicts of them, that those
  functions read;
- ``params``: the step's non-input arguments as canonical JSON (values that have none are
  rejected);
- ``inputs``: the digest of each input artifact;
- ``files``: for each param that is the path of a local file or folder (annotated
  ``pathlib.Path``, or given a path object), the BLAKE3 digest of the file's bytes or
  the folder's tree (as the blob store would store it); left out of the key when there
  are none, so the keys of other steps do not change;
- ``env``: Python's major.minor and the versions of the distributions the visited
  project modules import, or the step's declared fingerprint.

A *project* module is one outside the standard library and site-packages (and outside
Modelyard itself, whose version is part of ``env`` like any other package's).
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import json
import marshal
import os
import sys
import sysconfig
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from blake3 import blake3

from modelyard._util import canonical_json
from modelyard.artifacts.blobs import local_digest
from modelyard.errors import InvalidInput, ModelyardError, NotFound
from modelyard.pipelines.step import Step

__all__ = [
    "KeyParts",
    "canonical_json",
    "check_files",
    "code_parts",
    "environment",
    "file_digests",
    "key_parts",
]

_CONSTANT_TYPES = (str, int, float, bool, bytes, type(None))


@dataclass(frozen=True, slots=True)
class KeyParts:
    """What a cache key is computed from (kept with each step run for ``explain``)."""

    function: str
    code: dict[str, str]
    constants: dict[str, str]
    params: dict[str, Any]
    inputs: dict[str, str]
    env: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)

    def key(self) -> str:
        return blake3(self.to_json().encode()).hexdigest()

    def to_json(self) -> str:
        parts = asdict(self)
        if not self.files:  # the keys of steps without file params stay as they were
            del parts["files"]
        return canonical_json(parts)

    @classmethod
    def from_json(cls, text: str) -> KeyParts:
        return cls(**json.loads(text))


def key_parts(
    step: Step[..., Any],
    node: str,
    params: dict[str, Any],
    inputs: dict[str, str],
    files: Iterable[str] = (),
) -> KeyParts:
    """The parts of the cache key of one call of ``step``; ``files`` names the params
    that are paths of local files or folders (their value is the path as text)."""
    clean: dict[str, Any] = {}
    for name, value in params.items():
        clean[name] = json.loads(canonical_json(value, f"step {node!r}, param {name!r}"))
    code, constants, modules = code_parts(step.fn)
    return KeyParts(
        function=_qualified(step.fn),
        code=code,
        constants=constants,
        params=clean,
        inputs=dict(inputs),
        env=environment(modules, step.options.fingerprint),
        files=file_digests(node, {name: params[name] for name in files}),
    )


def file_digests(node: str, paths: Mapping[str, str]) -> dict[str, str]:
    """The digest of the file or folder at each path, by param name: NotFound (or
    InvalidInput for what a folder may not hold) naming the step, the param and the path."""
    digests: dict[str, str] = {}
    for name, path in paths.items():
        try:
            digests[name] = local_digest(path).digest
        except (NotFound, InvalidInput) as exc:
            raise _about(exc, node, name, path) from None
    return digests


def check_files(node: str, paths: Mapping[str, str]) -> None:
    """NotFound, as :func:`file_digests` raises it, for a path where nothing is (nothing
    is read: the run has not started)."""
    for name, path in paths.items():
        if not os.path.exists(path):
            missing = NotFound(f"no file or folder at {path!r}", field="path")
            raise _about(missing, node, name, path)


def _about(exc: NotFound | InvalidInput, node: str, name: str, path: str) -> ModelyardError:
    where = "" if Path(path).is_absolute() else f" (relative to {str(Path.cwd())!r})"
    return type(exc)(f"step {node!r}, param {name!r}: {exc.message}{where}", field=name)


def code_parts(fn: types.FunctionType) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """Digests of the source of ``fn`` and of the project functions and classes it
    reaches, digests of the constants they read, and the project modules visited."""
    code: dict[str, str] = {}
    constants: dict[str, str] = {}
    modules: set[str] = set()
    queue: list[Any] = [fn]
    seen: set[int] = set()
    while queue:
        obj = queue.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        name = _qualified(obj)
        modules.add(obj.__module__)
        code[name] = blake3(_source(obj)).hexdigest()
        for f in _functions_of(obj):
            names = set(_code_names(f.__code__))
            for global_name in names & f.__globals__.keys():
                value = f.__globals__[global_name]
                if isinstance(value, types.ModuleType):
                    if not _is_project_module(value):
                        continue
                    modules.add(value.__name__)
                    label = _module_label(value.__name__)
                    for attr in names & vars(value).keys():
                        _visit(getattr(value, attr), f"{label}.{attr}", constants, queue)
                else:
                    label = _module_label(f.__module__)
                    _visit(value, f"{label}.{global_name}", constants, queue)
            for cell in f.__closure__ or ():
                try:
                    contents = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                if (found := _reachable(contents)) is not None:
                    queue.append(found)
    return code, constants, modules


def _visit(value: Any, name: str, constants: dict[str, str], queue: list[Any]) -> None:
    """Note a constant's value, or queue a project function or class to visit."""
    text = _constant_text(value)
    if text is not None:
        constants[name] = blake3(text.encode()).hexdigest()
    elif (found := _reachable(value)) is not None:
        queue.append(found)


def _constant_text(value: Any) -> str | None:
    """A constant's value as text: scalars by ``repr``, lists, tuples and dicts of them by
    type and canonical JSON; None for anything else."""
    if isinstance(value, _CONSTANT_TYPES):
        return repr(value)
    if isinstance(value, list | tuple | dict):
        try:
            return f"{type(value).__name__}:{canonical_json(value)}"
        except InvalidInput:
            return None
    return None


def _reachable(value: Any) -> Any:
    """The project function or class ``value`` is (a step's function for a step), if any."""
    if isinstance(value, Step):
        value = value.fn
    if isinstance(value, functools.partial):
        value = value.func
    if inspect.isfunction(value):
        value = inspect.unwrap(value)
        return value if _is_project_file(value.__code__.co_filename) else None
    if isinstance(value, type):
        module = sys.modules.get(value.__module__)
        return value if module is not None and _is_project_module(module) else None
    return None


def _functions_of(obj: Any) -> Iterator[types.FunctionType]:
    if inspect.isfunction(obj):
        yield obj
        return
    for member in vars(obj).values():
        if isinstance(member, staticmethod | classmethod):
            member = member.__func__
        elif isinstance(member, property):
            member = member.fget
        if inspect.isfunction(member):
            yield member


def _code_names(code: types.CodeType) -> Iterator[str]:
    """Global and attribute names used by ``code`` and the code nested in it."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


def _source(obj: Any) -> bytes:
    """The source text of a function or class; the marshalled byte code of a function
    whose source cannot be found (defined in a REPL or by ``exec``)."""
    try:
        return inspect.getsource(obj).encode()
    except (OSError, TypeError):
        if inspect.isfunction(obj):
            return marshal.dumps(obj.__code__)
        raise InvalidInput(
            f"cannot read the source of {_qualified(obj)}, which a step uses; define it in a "
            "module file",
            field="step",
        ) from None


def _qualified(obj: Any) -> str:
    return f"{_module_label(obj.__module__)}.{obj.__qualname__}"


def _module_label(name: str) -> str:
    """A module's name, with ``__main__`` named after its file (or ``-m`` module) so a
    script run directly and the same file run by ``modelyard pipelines run`` share keys."""
    if name != "__main__":
        return name
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return str(spec.name)
    path = getattr(main, "__file__", None)
    return Path(path).stem if path else name


def environment(modules: set[str], declared: str | None = None) -> dict[str, Any]:
    """Python's major.minor plus ``declared``, or the versions of the distributions that
    the project ``modules`` import (a package imported under several names counts once)."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    if declared is not None:
        return {"python": python, "declared": declared}
    packages: dict[str, str] = {}
    for module_name in sorted(modules):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for value in list(vars(module).values()):
            top = _top_package(value)
            if top is None:
                continue
            # An editable install may not list its top-level names; try the name itself.
            for dist in _distributions().get(top, (top,)):
                version = _version(dist)
                if version is not None:
                    packages[dist] = version
    return {"python": python, "packages": dict(sorted(packages.items()))}


def _top_package(value: Any) -> str | None:
    """The top-level package ``value`` comes from, when it is a third-party one."""
    if isinstance(value, types.ModuleType):
        name = value.__name__
        if _is_project_module(value):
            return None
    elif isinstance(value, type) or inspect.isfunction(value) or inspect.isbuiltin(value):
        name = getattr(value, "__module__", None) or ""
    else:
        return None
    top = name.partition(".")[0]
    if not top or top in sys.stdlib_module_names or top in {"builtins", "__main__"}:
        return None
    return top


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


@functools.cache
def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _is_project_module(module: types.ModuleType) -> bool:
    if module.__name__ == "__main__":
        return True
    top = module.__name__.partition(".")[0]
    if top == "modelyard" or top in sys.stdlib_module_names:
        return False
    path = getattr(module, "__file__", None)
    return path is not None and _is_project_file(path)


@functools.lru_cache(maxsize=4096)
def _is_project_file(path: str) -> bool:
    """Whether a source file belongs to the user's project (not the standard library,
    site-packages or Modelyard)."""
    if path.startswith("<"):  # "<stdin>", "<string>": code typed or exec'd by the user
        return True
    resolved = Path(path).resolve()
    if {"site-packages", "dist-packages"} & set(resolved.parts):
        return False
    return not any(resolved.is_relative_to(root) for root in _library_roots())


@functools.cache
def _library_roots() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.add(str(Path(__file__).resolve().parents[1]))  # the modelyard package
    return tuple(Path(r).resolve() for r in roots)
