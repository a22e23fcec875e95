"""Metadata storage: tables, engine configuration, migrations."""

from modelyard.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
