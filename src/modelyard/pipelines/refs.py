"""Loading a pipeline by reference (``MODULE:NAME`` or ``path/to/file.py:NAME``); what a
reference may name and how it is imported: :mod:`modelyard._refs`."""

from __future__ import annotations

from modelyard._refs import load_object, not_a_pipeline
from modelyard.pipelines.pipeline import Pipeline

__all__ = ["load_pipeline"]


def load_pipeline(ref: str) -> Pipeline:
    """The pipeline ``MODULE:NAME`` or ``FILE.py:NAME`` names."""
    found = load_object(ref)
    if not isinstance(found, Pipeline):
        raise not_a_pipeline(ref)
    return found
