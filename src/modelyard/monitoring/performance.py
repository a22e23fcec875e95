"""Live performance of a served version: what its answers were worth once the labels came,
and what they are expected to be worth before.

:class:`PerformanceSummarizer` builds a :class:`LivePerformance` from some logged rows'
outputs and their labels. It holds, mergeably (counts and sums only, so a day is its hours
merged and the result does not depend on how the rows were cut):

* the **realised** metrics over the labelled rows, with the registry's evaluation
  accumulators (``registry._scoring.Classification``: confusion counts, log loss, Brier
  score, calibration, and ROC AUC from ``SCORE_BINS`` equal bins as evaluation computes
  it, with the bound on its error; for regression the data layer's ``Moments`` of the
  target and of the residuals, actual minus predicted), so they mean what the version's
  evaluation means;
* the **estimate** over all rows, labelled or not, where the model logs class
  probabilities (confidence-based, as NannyML's CBPE): each row adds its probabilities
  as fractional counts to an expected confusion matrix (row: the class it may be, column:
  the class it was given), so the expected accuracy is the mean probability of the given
  class (the top class's when the prediction is the most probable class), and expected
  precision, recall and F1 come from that matrix as the realised ones from theirs;
  expected ROC AUC from histograms where a row's score for class ``k`` counts ``p_k`` as a
  row of ``k`` and ``1 - p_k`` as one of another class. The estimate is right when the
  probabilities are calibrated on the live data; it cannot see a concept shift (the same
  inputs now meaning another class), since the model is as confident as before.

What is read from the log (the segment format of ``serving/predlog.py``): ``output``, a
class or a value per row, or a list of class probabilities per row (a model whose
``predict`` answers ``predict_proba``: the prediction is then the most probable class);
or, for a model answering named fields, ``output.<class>`` for every class (its
probability), ``output.probabilities`` (a list), and the prediction in ``output.label``,
``output.prediction``, ``output.predicted``, ``output.class`` or ``output.value`` (the one
output column when there is only one). Probabilities are in the order of the version's
classes (``Reference.classes``; ``0``, ``1``... when it has none).

Labels are JSON values as given; a label and a prediction are the same class when their
text is, after: a whole number is written without a fraction (``1``, ``1.0`` and ``"1"``
are the same class), a number given as text is read as the number, ``true``/``false`` in
any case is ``True``/``False`` (Python's ``str`` of a boolean class). For regression a label
must be a number (or a number as text); any other is counted in ``unscored``, as are rows
without an output.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.data._sketches import Moments
from modelyard.errors import InvalidInput, StorageError
from modelyard.monitoring._parts import PerformanceSummary, Reference
from modelyard.registry._metrics import binned_roc_auc, plain
from modelyard.registry._scoring import (
    CLASSIFICATION,
    REGRESSION,
    Classification,
    Labels,
    Scorer,
    _per_class,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "SCORE_BINS",
    "LivePerformance",
    "PerformanceSummarizer",
    "normalise_label",
]

#: Equal bins of the scores over [0, 1] per class, for ROC AUC: as the comparison of
#: evaluation's bootstrap, fewer than a full evaluation's 1000 so an hour stays a few KB;
#: the realised ROC AUC's error bound is given (``roc_auc_max_error``).
SCORE_BINS = 100
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "log_loss", "brier", "roc_auc")
REGRESSION_METRICS = ("rmse", "mae", "r2", "mean_error")
_PREDICTION_NAMES = ("label", "prediction", "predicted", "class", "value")
_PROBABILITY_NAMES = ("probabilities", "probability", "proba")
_MAGIC = b"MYLP"
_FORMAT = 1


def normalise_label(value: Any) -> str | None:
    """The text a label or a predicted class is compared by (None: no label)."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return text.capitalize()
        try:
            number = float(text)
        except ValueError:
            return text
        return normalise_label(number) if math.isfinite(number) else text
    return json.dumps(value, sort_keys=True, default=str)


def _number(value: Any) -> float | None:
    """A regression label or output as a float (None: not a finite number)."""
    if isinstance(value, bool | np.bool_) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class _Estimate:
    """The confidence-based estimate's sums over rows with probabilities: the expected
    confusion matrix (true x given, fractional) and expected score histograms."""

    def __init__(self, classes: int, bins: int) -> None:
        self.rows = 0
        self.confusion = np.zeros((classes, classes))
        self.histogram = np.zeros((classes, 2, bins))  # [k, 0]: not k, [k, 1]: k

    def add(self, proba: np.ndarray, given: np.ndarray) -> None:
        k, bins = self.confusion.shape[0], self.histogram.shape[2]
        self.rows += len(proba)
        for j in range(k):
            self.confusion[:, j] += proba[given == j].sum(axis=0)
        index = np.clip((proba * bins).astype(np.int64), 0, bins - 1)
        for c in range(k):
            self.histogram[c, 1] += np.bincount(index[:, c], weights=proba[:, c], minlength=bins)
            self.histogram[c, 0] += np.bincount(
                index[:, c], weights=1 - proba[:, c], minlength=bins
            )

    def merge(self, other: _Estimate) -> None:
        self.rows += other.rows
        self.confusion += other.confusion
        self.histogram += other.histogram

    def metrics(self) -> dict[str, Any]:
        k = self.confusion.shape[0]
        found: dict[str, Any] = {"accuracy": float(np.trace(self.confusion)) / self.rows}
        per_class = _per_class(self.confusion)
        which = [1] if k == 2 else list(range(k))
        for name in ("precision", "recall", "f1"):
            found[name] = float(np.mean(per_class[name][which]))
        aucs = [binned_roc_auc(self.histogram[c, 0], self.histogram[c, 1])[0] for c in which]
        present = [a for a in aucs if not math.isnan(a)]
        found["roc_auc"] = float(np.mean(present)) if present else None
        return found


class LivePerformance:
    """One window's (or some rows') live performance of one version: see the module's
    docstring. ``rows`` every row seen, ``labelled`` those scored against a label,
    ``unscored`` labelled rows that could not be (no output, or a label that is not a
    number for regression)."""

    def __init__(self, task: str, classes: Sequence[str], proba: bool, bins: int = SCORE_BINS):
        self.task = task
        self.classes = tuple(classes)
        self.bins = bins
        self.rows = 0
        self.unscored = 0
        self.realised: Classification | None = None
        self.estimated: _Estimate | None = None
        if task == CLASSIFICATION:
            scorer = Scorer(  # the logged outputs are the model's answers already
                predict=np.asarray,
                predict_proba=np.asarray if proba else None,
                classes=list(self.classes),
            )
            self.realised = Classification(Labels(), scorer, "label", bins)
            if proba:
                self.estimated = _Estimate(len(self.classes), bins)
        self.target = Moments()
        self.residual = Moments()
        self.absolute = 0.0

    @property
    def labelled(self) -> int:
        return self.realised.n if self.realised is not None else self.target.n

    @property
    def has_probabilities(self) -> bool:
        return self.estimated is not None

    def metrics(self) -> dict[str, Any]:
        """The realised metrics over the labelled rows ({} when none is)."""
        if self.labelled == 0:
            return {}
        if self.realised is not None:
            return dict(self.realised.report()["metrics"])
        n, residual = self.target.n, self.residual
        squares = residual.m2 + n * residual.mean**2
        return {
            "rmse": math.sqrt(squares / n),
            "mae": self.absolute / n,
            "r2": plain(1 - squares / self.target.m2) if self.target.m2 > 0 else None,
            "mean_error": residual.mean,
        }

    def estimate(self) -> dict[str, Any] | None:
        """The confidence-based estimate over all rows (None: no probabilities logged)."""
        if self.estimated is None or self.estimated.rows == 0:
            return None
        return self.estimated.metrics()

    def merge(self, other: PerformanceSummary) -> LivePerformance:
        if not isinstance(other, LivePerformance):
            raise InvalidInput(f"cannot merge a {type(other).__name__}", field="performance")
        mine = (self.task, self.classes, self.bins, self.has_probabilities)
        if (other.task, other.classes, other.bins, other.has_probabilities) != mine:
            raise InvalidInput(
                "cannot merge the performance of different tasks, classes or outputs",
                field="performance",
            )
        self.rows += other.rows
        self.unscored += other.unscored
        if self.realised is not None and other.realised is not None:
            self.realised.merge(other.realised)
        if self.estimated is not None and other.estimated is not None:
            self.estimated.merge(other.estimated)
        self.target.merge(other.target)
        self.residual.merge(other.residual)
        self.absolute += other.absolute
        return self

    # -- adding rows ---------------------------------------------------------------------

    def add_classes(self, given: np.ndarray, proba: np.ndarray | None, truth: np.ndarray) -> None:
        """Rows of a classifier: the class each was given and its label, both as codes of
        ``realised.labels`` (-1: not logged, not labelled), and their probabilities (rows
        x classes, NaN where a row has none; None: none logged)."""
        assert self.realised is not None
        self.rows += len(given)
        scorable = given >= 0
        if proba is not None:
            valid = np.isfinite(proba).all(axis=1)
            codes = self.realised.class_codes
            position = np.full(len(self.realised.labels.values) + 1, -1, dtype=np.int64)
            position[codes] = np.arange(len(codes))
            index = position[given]  # given -1 reads the extra slot: -1
            missing = index < 0
            if missing.any():
                index[missing] = np.nan_to_num(proba[missing]).argmax(axis=1)
            kept = _rows(valid)
            given = np.where(valid, codes[index], given)
            if self.estimated is not None:
                self.estimated.add(proba[kept], index[kept])
            scorable = valid
        labelled = truth >= 0
        scored = labelled & scorable
        count = int(scored.sum())
        self.unscored += int(labelled.sum()) - count
        if count:
            rows = _rows(scored)
            self.realised.add_codes(
                truth[rows], given[rows], proba[rows] if proba is not None else None
            )

    def add_values(self, predicted: np.ndarray, labelled: np.ndarray, truth: np.ndarray) -> None:
        """Rows of a regressor: its predictions (NaN: none), which rows are labelled, and
        the labels (NaN: not labelled, or not a number)."""
        self.rows += len(predicted)
        ok = labelled & np.isfinite(truth) & np.isfinite(predicted)
        self.unscored += int(labelled.sum() - ok.sum())
        if not ok.any():
            return
        residual = truth[ok] - predicted[ok]
        self.target.update(truth[ok])
        self.residual.update(residual)
        self.absolute += float(np.abs(residual).sum())

    # -- encoding ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """``MYLP``, the format's version (one byte), then zlib of: a 4-byte header
        length, the JSON header, and the arrays it lists, little-endian, in its order."""
        header: dict[str, Any] = {
            "task": self.task,
            "classes": list(self.classes),
            "bins": self.bins,
            "rows": self.rows,
            "unscored": self.unscored,
            "proba": self.estimated is not None,
            "target": _moments(self.target),
            "residual": _moments(self.residual),
            "absolute": self.absolute,
        }
        arrays: list[np.ndarray] = []
        if self.realised is not None:
            r = self.realised
            header["labels"] = r.labels.values
            header["n"], header["log_loss"], header["brier"] = r.n, r.log_loss, r.brier
            header["realised_proba"] = r.proba
            arrays += [
                r.confusion,
                r.calibration,
                r.histogram.counts,
                r.histogram.low,
                r.histogram.high,
            ]
        if self.estimated is not None:
            header["estimated_rows"] = self.estimated.rows
            arrays += [self.estimated.confusion, self.estimated.histogram]
        header["arrays"] = [[a.dtype.str, list(a.shape)] for a in arrays]
        head = json.dumps(header, separators=(",", ":")).encode()
        body = b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)
        return _MAGIC + bytes([_FORMAT]) + zlib.compress(struct.pack("<I", len(head)) + head + body)

    @classmethod
    def load(cls, data: bytes) -> LivePerformance:
        if data[:4] != _MAGIC or len(data) < 5:
            raise StorageError("not a live performance summary")
        if data[4] != _FORMAT:
            raise StorageError(f"a live performance summary of format {data[4]}; this reads 1")
        try:
            raw = zlib.decompress(data[5:])
            (size,) = struct.unpack_from("<I", raw)
            header = json.loads(raw[4 : 4 + size])
            arrays, offset = [], 4 + size
            for dtype, shape in header["arrays"]:
                count = int(np.prod(shape)) * np.dtype(dtype).itemsize
                chunk = raw[offset : offset + count]
                arrays.append(np.frombuffer(chunk, dtype=dtype).reshape(shape).copy())
                offset += count
            return cls._from(header, arrays)
        except (zlib.error, struct.error, ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"a live performance summary is damaged: {exc}") from None

    @classmethod
    def _from(cls, header: dict[str, Any], arrays: list[np.ndarray]) -> LivePerformance:
        found = cls(header["task"], header["classes"], header["proba"], header["bins"])
        found.rows, found.unscored = header["rows"], header["unscored"]
        found.target, found.residual = _read(header["target"]), _read(header["residual"])
        found.absolute = header["absolute"]
        if found.realised is not None:
            r = found.realised
            for label in header["labels"]:
                r.labels.code(label)
            r.n, r.log_loss, r.brier = header["n"], header["log_loss"], header["brier"]
            r.proba = header["realised_proba"]
            r.confusion, r.calibration = arrays[0], arrays[1]
            r.histogram.counts, r.histogram.low, r.histogram.high = arrays[2:5]
            arrays = arrays[5:]
        if found.estimated is not None:
            found.estimated.rows = header["estimated_rows"]
            found.estimated.confusion, found.estimated.histogram = arrays
        return found


def _rows(keep: np.ndarray) -> slice | np.ndarray:
    """An index of the rows ``keep`` marks: all of them as a slice (a view, not a copy)."""
    return slice(None) if keep.all() else np.flatnonzero(keep)


def _moments(m: Moments) -> list[float]:
    return [m.n, m.mean, m.m2, m.min, m.max]


def _read(values: list[float]) -> Moments:
    m = Moments()
    m.n, m.mean, m.m2, m.min, m.max = int(values[0]), *values[1:]
    return m


class PerformanceSummarizer:
    """Builds :class:`LivePerformance` from logged outputs and labels (the pass's
    :class:`~modelyard.monitoring._parts.PerformanceSummarizer`)."""

    def __init__(self, score_bins: int = SCORE_BINS) -> None:
        self.score_bins = score_bins

    def summarize(
        self, outputs: pa.Table, labels: Sequence[Any], reference: Reference
    ) -> LivePerformance:

        n = outputs.num_rows
        if len(labels) != n:
            raise InvalidInput(f"{len(labels)} labels for {n} rows", field="labels")
        given, proba, classes = _read_outputs(outputs, reference)
        task = _task(reference, given, proba)
        if task == REGRESSION:
            found = LivePerformance(REGRESSION, (), False, self.score_bins)
            predicted = _floats(given) if given is not None else np.full(n, np.nan)
            labelled = np.fromiter((v is not None for v in labels), dtype=bool, count=n)
            found.add_values(predicted, labelled, _floats(_arrow(labels)))
            return found
        found = LivePerformance(CLASSIFICATION, classes, proba is not None, self.score_bins)
        assert found.realised is not None
        known = found.realised.labels
        given_codes = _codes(given, known) if given is not None else np.full(n, -1)
        found.add_classes(given_codes, proba, _codes(_arrow(labels), known))
        return found

    def load(self, data: bytes) -> LivePerformance:
        return LivePerformance.load(data)


def _arrow(values: Sequence[Any]) -> pa.Array | list[Any]:
    """``values`` as one Arrow array when they are of one type, else as they are."""
    import pyarrow as pa

    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return list(values)


def _codes(values: pa.Array | pa.ChunkedArray | list[Any], labels: Labels) -> np.ndarray:
    """Each value's code in ``labels`` after :func:`normalise_label` (-1: None), each
    distinct value normalised once."""
    import pyarrow as pa

    if not isinstance(values, list):
        array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        try:
            encoded = array.dictionary_encode()
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            values = array.to_pylist()
        else:
            keys = [normalise_label(v) for v in encoded.dictionary.to_pylist()]
            lookup = np.array([-1 if k is None else labels.code(k) for k in keys] + [-1])
            return lookup[encoded.indices.fill_null(len(keys)).to_numpy(zero_copy_only=False)]
    seen: dict[Any, int] = {}
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        try:
            out[i] = seen[(type(value), value)]
        except KeyError:
            key = normalise_label(value)
            out[i] = seen[(type(value), value)] = -1 if key is None else labels.code(key)
        except TypeError:  # a list or a mapping: not hashable
            key = normalise_label(value)
            out[i] = -1 if key is None else labels.code(key)
    return out


def _floats(values: pa.Array | pa.ChunkedArray | list[Any]) -> np.ndarray:
    """Numbers as floats (NaN: None, or not a number)."""
    import pyarrow as pa

    if not isinstance(values, list):
        if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
            return np.asarray(
                values.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
            )
        values = values.to_pylist()
    return np.array([np.nan if (x := _number(v)) is None else x for v in values], dtype=float)


def _task(reference: Reference, given: pa.ChunkedArray | None, proba: np.ndarray | None) -> str:
    """The reference's task; without one, classification where there are classes or
    probabilities or the outputs are not fractional numbers."""
    import pyarrow as pa

    if reference.task in (CLASSIFICATION, REGRESSION):
        return reference.task
    if proba is not None or reference.classes or given is None:
        return CLASSIFICATION
    if not pa.types.is_floating(given.type):
        return CLASSIFICATION
    numbers = np.asarray(given.to_numpy(zero_copy_only=False), dtype=float)
    fractional = np.isfinite(numbers) & (numbers != np.round(numbers))
    return REGRESSION if fractional.any() else CLASSIFICATION


def _read_outputs(
    outputs: pa.Table, reference: Reference
) -> tuple[pa.ChunkedArray | None, np.ndarray | None, tuple[str, ...]]:
    """The logged prediction column (None: not logged), the probabilities (rows x
    classes; None: none logged) and the classes, normalised."""
    names = outputs.column_names
    named = {n[len("output.") :]: n for n in names if n.startswith("output.")}
    given_column: str | None = None
    proba: np.ndarray | None = None
    raw_classes = list(reference.classes)
    if "output" in names:
        column = outputs.column("output")
        if _is_list(column.type):
            proba = _matrix(column)
        else:
            given_column = "output"
    else:
        listed = next((named[n] for n in _PROBABILITY_NAMES if n in named), None)
        if listed is not None and _is_list(outputs.schema.field(listed).type):
            proba = _matrix(outputs.column(listed))
        elif raw_classes and all(c in named for c in raw_classes):
            proba = np.column_stack([_floats(outputs.column(named[c])) for c in raw_classes])
        given_column = next((named[n] for n in _PREDICTION_NAMES if n in named), None)
        if given_column is None and proba is None and len(named) == 1:
            given_column = next(iter(named.values()))
    if proba is not None and len(proba) == 0 and raw_classes:  # no rows: no width either
        proba = np.zeros((0, len(raw_classes)))
    if proba is not None and not raw_classes:
        raw_classes = [str(i) for i in range(proba.shape[1])]
    if proba is not None and proba.shape[1] != len(raw_classes):
        raise InvalidInput(
            f"the logged probabilities have {proba.shape[1]} columns; the version has "
            f"{len(raw_classes)} classes",
            field="outputs",
        )
    given = outputs.column(given_column) if given_column is not None else None
    classes = tuple(normalise_label(c) or "" for c in raw_classes)
    return given, proba, classes


def _is_list(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    )


def _matrix(column: pa.ChunkedArray) -> np.ndarray:
    """A list column of probabilities as rows x classes (a row that is null, holds a null
    or has another length than the longest holds no probabilities: NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = column.combine_chunks()
    lengths = pc.list_value_length(array).fill_null(-1).to_numpy(zero_copy_only=False)
    width = int(lengths.max(initial=0))
    flat = np.asarray(pc.list_flatten(array).cast(pa.float64()).to_numpy(zero_copy_only=False))
    if (lengths == width).all():
        return flat.reshape(len(lengths), width)
    matrix = np.full((len(lengths), width), np.nan)
    whole = lengths == width
    matrix[whole] = flat[np.repeat(whole[lengths >= 0], lengths[lengths >= 0])].reshape(-1, width)
    return matrix
