"""Step runs of pipelines: the step index (the cache, and the memory ``explain``
compares against) and what it keeps. Pipelines record and find their step runs here, with
the caller's rights."""

from modelyard.steps.entities import KeyParts, OutputRef, StepRecord
from modelyard.steps.service import StepIndex

__all__ = ["KeyParts", "OutputRef", "StepIndex", "StepRecord"]
