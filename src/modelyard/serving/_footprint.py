"""What a loaded model takes in memory, measured when it loads.

The process's resident size around a load says little when several load at once (and
the allocator reuses freed memory), and tracemalloc slows every thread while it runs. So
the model object itself is walked: every Python object it reaches (its ``__dict__``,
slots, containers, and the state an extension type gives ``__getstate__``, as
scikit-learn's trees do) counted with ``sys.getsizeof``; each numpy buffer once, whole
(a view holds its base); a protobuf message (an ONNX graph) by its serialized size.

Memory that Python does not see, a LightGBM or XGBoost booster's trees held by the
native library, is estimated from the version's model files: each byte of them took
about 1.3 to 1.6 bytes loaded (measured against the resident growth of loading ten
copies in a fresh process, for boosters of 500 trees: docs/serving.md, "Model memory").
"""

from __future__ import annotations

import contextlib
import sys
import types
from typing import Any

__all__ = ["NATIVE_PER_FILE_BYTE", "footprint"]

#: Types whose memory the native library holds, by module and name, and the bytes each
#: takes loaded for each byte of the version's model files.
NATIVE_PER_FILE_BYTE: dict[str, float] = {
    "lightgbm.basic.Booster": 1.5,
    "xgboost.core.Booster": 1.5,
}

_OPAQUE = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
)
_ATOMS = (str, bytes, bytearray, int, float, complex, bool, type(None))


def footprint(model: object, files_bytes: int) -> int:
    """The bytes ``model`` takes in memory; ``files_bytes``: the size of the files it was
    loaded from (for the memory a native library holds)."""
    numpy = sys.modules.get("numpy")
    protobuf = sys.modules.get("google.protobuf.message")
    array = numpy.ndarray if numpy is not None else ()
    message = protobuf.Message if protobuf is not None else ()
    seen: set[int] = set()
    keep: list[object] = []  # states made for the walk: alive, so their ids stay theirs
    buffers: dict[int, int] = {}
    total = 0
    native = 0.0
    stack: list[object] = [model]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, _OPAQUE):
            continue
        seen.add(id(item))
        if isinstance(item, array):
            total += _array(item, array, buffers, stack)
            continue
        if isinstance(item, message):
            total += item.ByteSize()
            continue
        kind = type(item)
        native = max(native, NATIVE_PER_FILE_BYTE.get(f"{kind.__module__}.{kind.__qualname__}", 0))
        total += sys.getsizeof(item, 0)
        if isinstance(item, _ATOMS):
            continue
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        else:
            found = _inside(item)
            keep.extend(found)
            stack.extend(found)
    return total + sum(buffers.values()) + int(native * files_bytes)


def _array(item: Any, array: Any, buffers: dict[int, int], stack: list[object]) -> int:
    """An array's header (its buffer counted in ``buffers``, once, by address; a view's
    base is what stays in memory); the objects of an object array go on ``stack``."""
    root = item
    while isinstance(root.base, array):
        root = root.base
    address = root.__array_interface__["data"][0]
    buffers[address] = max(buffers.get(address, 0), root.nbytes)
    if item.dtype.hasobject:
        stack.extend(item.ravel().tolist())
    return int(sys.getsizeof(item)) - (item.nbytes if item.flags.owndata else 0)


def _inside(item: object) -> list[object]:
    """What an object holds: its ``__dict__`` and slots, or, for an extension type with
    neither (a scikit-learn tree), the state it pickles."""
    found: list[object] = []
    held = getattr(item, "__dict__", None)
    if isinstance(held, dict):
        found.append(held)
    for cls in type(item).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot in ("__dict__", "__weakref__"):
                continue
            if slot.startswith("__") and not slot.endswith("__"):  # a private name, mangled
                slot = f"_{cls.__name__.lstrip('_')}{slot}"
            if hasattr(item, slot):
                found.append(getattr(item, slot))
    if not found and type(item).__getstate__ is not object.__getstate__:
        with contextlib.suppress(Exception):  # none to give: its own size only
            found.append(item.__getstate__())
    return found
