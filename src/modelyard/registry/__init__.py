"""The model registry: registered models, immutable versions, flavors, signatures and
aliases with their history (the service: :mod:`modelyard.registry.service`; the SDK's
``modelyard.models`` and ``Client.models`` are its faces)."""

from modelyard.registry.entities import AliasMove, ModelVersion, RegisteredModel
from modelyard.registry.signature import (
    ColumnSpec,
    Schema,
    Signature,
    SignatureDiff,
    TensorSpec,
    compare_signatures,
    infer_signature,
)

__all__ = [
    "AliasMove",
    "ColumnSpec",
    "ModelVersion",
    "RegisteredModel",
    "Schema",
    "Signature",
    "SignatureDiff",
    "TensorSpec",
    "compare_signatures",
    "infer_signature",
]
