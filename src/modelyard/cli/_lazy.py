"""A command group whose commands are imported when one of them runs.

``modelyard --help`` lists every command from a table of names, places and one-line
helps, and imports none of their modules (nor pandas, SQLAlchemy, FastAPI ... that they
import); ``modelyard runs list`` imports ``modelyard.cli.runs`` alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from gettext import gettext
from typing import Any, ClassVar, NamedTuple

import typer
from typer.core import TyperGroup
from typer.main import get_group

try:  # typer 0.24+ carries its own copy of click
    from typer._click import Command, Context, HelpFormatter
    from typer._click.utils import make_default_short_help
except ImportError:  # pragma: no cover - older typer builds on click itself
    from click import Command, Context, HelpFormatter  # type: ignore[assignment]
    from click.utils import make_default_short_help  # type: ignore[no-redef]


class Lazy(NamedTuple):
    """Where a command is (``"module:attribute"``: a :class:`typer.Typer` group or a
    command function) and the first sentence of its help, shown in its group's list."""

    target: str
    summary: str


class LazyCommands(MutableMapping[str, Command]):
    """A group's commands by name, each imported and built on first use; iterating gives
    the names alone (in the order declared), so listing them imports nothing."""

    def __init__(
        self,
        built: Mapping[str, Command],
        lazy: Mapping[str, Lazy],
        build: Callable[[str], Command],
    ) -> None:
        self._built = dict(built)
        self._lazy = dict(lazy)
        self._build = build

    def summary(self, name: str) -> str | None:
        """The declared one-line help of a command not built yet (None once it is)."""
        lazy = self._lazy.get(name)
        return lazy.summary if lazy is not None and name not in self._built else None

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in self._lazy:
                raise KeyError(name)
            self._built[name] = self._build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        built = self._built.pop(name, None)
        if self._lazy.pop(name, None) is None and built is None:
            raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        yield from self._lazy
        yield from (name for name in self._built if name not in self._lazy)

    def __len__(self) -> int:
        return len(self._lazy.keys() | self._built.keys())


class LazyGroup(TyperGroup):
    """A Typer group (``typer.Typer(cls=...)``) whose subclass declares its commands in
    ``lazy``; each is built as ``add_typer`` or ``command`` would have built it, when it
    is first looked up (to run it, or to show its own help)."""

    lazy: ClassVar[Mapping[str, Lazy]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._commands = LazyCommands(self.commands, self.lazy, self._load)
        self.commands = self._commands

    def _load(self, name: str) -> Command:
        module, attribute = self.lazy[name].target.split(":")
        found = getattr(importlib.import_module(module), attribute)
        holder = typer.Typer(
            rich_markup_mode=self.rich_markup_mode, suggest_commands=self.suggest_commands
        )
        if isinstance(found, typer.Typer):
            holder.add_typer(found, name=name)
        else:
            holder.command(name)(found)
        return get_group(holder).commands[name]

    def list_commands(self, ctx: Context) -> list[str]:
        """The names alone, in the order declared (TyperGroup's would build each command)."""
        return list(self._commands)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The list of commands, as :class:`TyperGroup` writes it, with the declared help
        of each command not built yet."""
        shown: list[tuple[str, str | Command]] = []
        for name in self.list_commands(ctx):
            summary = self._commands.summary(name)
            if summary is not None:
                shown.append((name, summary))
                continue
            command = self._commands.get(name)
            if command is not None and not command.hidden:
                shown.append((name, command))
        if not shown:
            return
        limit = formatter.width - 6 - max(len(name) for name, _help in shown)
        rows = [
            (
                name,
                make_default_short_help(help, limit)
                if isinstance(help, str)
                else help.get_short_help_str(limit),
            )
            for name, help in shown
        ]
        with formatter.section(gettext("Commands")):
            formatter.write_dl(rows)
