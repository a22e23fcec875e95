"""JSON encoding of the frozen result dataclasses (profiles, drift and validation reports).

:func:`encode` turns a dataclass tree into plain JSON values, writing non-finite floats as
the strings "nan", "inf" and "-inf" (strict JSON has no such numbers); :func:`decode`
rebuilds the tree from its type hints and turns malformed data into
:class:`~modelyard.errors.InvalidInput`.
"""

from __future__ import annotations

import dataclasses
import math
import types
from typing import Any, Union, get_args, get_origin, get_type_hints

from modelyard.errors import InvalidInput

__all__ = ["decode", "encode"]


def encode(value: Any) -> Any:
    """Dataclasses to plain JSON values; non-finite floats to strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: encode(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def decode(cls: type[Any], data: Any) -> Any:
    """The inverse of :func:`encode` for dataclass ``cls``; bad data raises InvalidInput."""
    try:
        return _decode_value(cls, data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"stored {cls.__name__} is malformed: {exc!r}") from None


def _decode_value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [option for option in get_args(hint) if option is not type(None)]
        return _decode_value(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        return tuple(_decode_value(get_args(hint)[0], item) for item in value)
    if origin is dict:
        return {str(key): _decode_value(get_args(hint)[1], item) for key, item in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = get_type_hints(hint)
        names = {field.name for field in dataclasses.fields(hint) if field.init}
        unknown = set(value) - names
        if unknown:
            raise KeyError(f"unknown fields {sorted(unknown)} for {hint.__name__}")
        return hint(**{name: _decode_value(hints[name], item) for name, item in value.items()})
    if hint is float:
        return float(value)
    if hint is int:
        if isinstance(value, bool) or int(value) != value:
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    if hint in (str, bool) and not isinstance(value, hint):
        raise TypeError(f"expected {hint.__name__}, got {value!r}")
    return value
