"""Lineage: "was derived from" edges between runs, dataset versions and artifacts
(:mod:`~modelyard.lineage.edges`), the service that writes and reads them with the
caller's rights (:mod:`~modelyard.lineage.service`) and walks of several hops
(:mod:`~modelyard.lineage.graph`)."""
