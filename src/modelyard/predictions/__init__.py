"""Deployments' prediction logs and their labels: the service (``service.py``)."""
