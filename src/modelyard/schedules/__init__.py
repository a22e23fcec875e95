"""Schedules: run pipelines on cron expressions and on new dataset versions.

:class:`ScheduleService` keeps the schedules and the claiming rule; the worker
(``modelyard worker``, in :mod:`modelyard.worker`) finds due occurrences, claims them and
runs the pipelines.
"""

from modelyard.schedules.cron import Cron
from modelyard.schedules.entities import Due, Fire, Schedule
from modelyard.schedules.service import ScheduleService

__all__ = ["Cron", "Due", "Fire", "Schedule", "ScheduleService"]
