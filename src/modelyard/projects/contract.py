"""The contract of the projects service: one typed surface with two implementations,
in this process and through a server (mypy checks both; ``tests/remote/test_contracts.py``
checks that their signatures are the contract's)."""

from __future__ import annotations

from typing import Protocol

from modelyard.projects.entities import Project

__all__ = ["ProjectContract"]


class ProjectContract(Protocol):
    """The project service's surface: :class:`~modelyard.projects.service.ProjectService` in
    this process and :class:`~modelyard.remote.projects.RemoteProjects` through a server
    both implement it."""

    def create(self, name: str, description: str = "") -> Project:
        """Create a project; a signed-in creator becomes its admin."""

    def ensure(self, name: str) -> Project:
        """Get a project, creating it when missing (safe when several processes race), to write in
        it."""

    def get(self, name: str) -> Project:
        """One project by name (NotFound when missing or when the actor has no role in it)."""

    def list_projects(self) -> list[Project]:
        """Every project; for a signed-in principal, the projects they are a member of."""

    def settings(self, name: str) -> dict[str, bool]:
        """The project's settings, each as the project set it (off unless turned on)."""

    def set_setting(self, name: str, key: str, value: bool) -> dict[str, bool]:
        """Turn a project setting on or off (a project admin); on only where the
        installation's setting of the same name is on. Returns the project's settings."""
