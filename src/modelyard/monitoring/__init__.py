"""Monitoring: monitors on deployments and their per-window summaries, alerts, health
scores, costs and budgets, and the closed loop (retrain, canary, promote or roll back).

The value objects are in ``entities.py``, the services' contracts in ``contract.py``, the
parts a monitoring pass is built from in ``_parts.py``; ``docs/monitoring.md`` is the
guide."""
