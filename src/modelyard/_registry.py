"""Named extension points: artifact backends, executors, materializers.

A :class:`Registry` maps names to entries (a factory, or an object such as an executor or
a materializer). The built-ins are registered with :meth:`Registry.register` like any
other; a third party registers its own the same way, or declares it as an entry point of
the registry's group in its package metadata, e.g. in ``pyproject.toml``::

    [project.entry-points."modelyard.executors"]
    dask = "modelyard_dask:EXECUTOR"

An entry point names what :meth:`Registry.register` would be given and is imported only
when its name is first asked for (or when every entry is needed, :meth:`Registry.load_all`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint, EntryPoints

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind by name; ``group`` is the entry-point group third parties
    declare theirs in. ``adopt(name, loaded)`` checks what an entry point loads (it may
    be anything) and returns the entry to register; ``field`` names the setting or
    argument an unknown name is reported on."""

    def __init__(
        self,
        kind: str,
        group: str,
        *,
        field: str,
        adopt: Callable[[str, Any], T],
    ) -> None:
        self.kind = kind
        self.group = group
        self.field = field
        self._adopt = adopt
        self._entries: dict[str, T] = {}
        self._all_loaded = False

    def register(self, name: str, entry: T) -> None:
        """Make ``entry`` known as ``name``. Another entry of that name: InvalidInput
        (registering the same entry again is allowed)."""
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"a {self.kind} needs a name; got {name!r}", field=self.field)
        known = self._entries.get(name)
        if known is not None and known is not entry:
            raise InvalidInput(f"another {self.kind} is named {name!r}", field=self.field)
        self._entries[name] = entry

    def get(self, name: str) -> T:
        """The entry named ``name``: registered, else loaded from an entry point of that
        name. Unknown: InvalidInput listing the names there are."""
        found = self._entries.get(name)
        if found is not None:
            return found
        for point in self._entry_points():
            if point.name == name:
                return self._load(point)
        raise InvalidInput(
            f"no {self.kind} named {name!r} is registered in this process or installed "
            f"(entry points {self.group!r}); the {self.kind} must be one of "
            f"{', '.join(self.names())}",
            field=self.field,
        )

    def names(self) -> list[str]:
        """The names there are: registered ones in the order of registration, then those
        of entry points not loaded yet."""
        names = list(self._entries)
        for point in self._entry_points():
            if point.name not in names:
                names.append(point.name)
        return names

    def __contains__(self, name: object) -> bool:
        return name in self._entries or any(p.name == name for p in self._entry_points())

    def load_all(self) -> None:
        """Load every entry point of the group not loaded yet (once per process: entry
        points installed later are found by :meth:`get`)."""
        if self._all_loaded:
            return
        for point in self._entry_points():
            if point.name not in self._entries:
                self._load(point)
        self._all_loaded = True

    def _entry_points(self) -> EntryPoints:
        import importlib.metadata  # costs milliseconds: only when an entry point is needed

        return importlib.metadata.entry_points(group=self.group)

    def _load(self, point: EntryPoint) -> T:
        try:
            entry = self._adopt(point.name, point.load())
        except Exception as exc:
            exc.add_note(
                f"while loading the {self.kind} {point.name!r} from the entry point "
                f"{point.value!r} (group {self.group!r})"
            )
            raise
        self.register(point.name, entry)
        return entry
