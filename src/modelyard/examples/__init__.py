"""Runnable examples that ship with Modelyard (the quickstart lives here)."""
