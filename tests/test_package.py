"""The public surface and import cost."""

from __future__ import annotations

import subprocess
import sys

import modelyard


def test_public_names_are_pinned() -> None:
    assert sorted(modelyard.__all__) == sorted(
        [
            "DEFAULT_PROJECT",
            "AlreadyExists",
            "Client",
            "Conflict",
            "CorruptBlob",
            "DataValidationError",
            "InvalidInput",
            "MissingDependency",
            "ModelyardError",
            "NotFound",
            "PermissionDenied",
            "PolicyViolation",
            "Settings",
            "StorageError",
            "__version__",
            "active_run",
            "autolog",
            "connect",
            "get_metric_history",
            "get_run",
            "lineage",
            "load_settings",
            "pipeline",
            "predict",
            "search_runs",
            "start_run",
            "step",
        ]
    )
    for name in modelyard.__all__:
        assert hasattr(modelyard, name)


def test_import_is_light() -> None:
    code = (
        "import sys, modelyard; "
        "heavy = [m for m in ('pandas', 'sqlalchemy', 'sklearn', 'pyarrow', 'numpy', 'boto3', "
        "'alembic', 'matplotlib') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
