"""Projects: the namespace of runs, datasets, schedules and models, and who owns them.

:class:`ProjectService` creates, reads and lists projects; a signed-in creator becomes the
project's admin. ``Client.projects`` is the service in this process, or
:class:`~modelyard.remote.projects.RemoteProjects` in remote mode.
"""

from modelyard.projects.entities import Project
from modelyard.projects.service import ProjectService, get_or_create

__all__ = ["Project", "ProjectService", "get_or_create"]
