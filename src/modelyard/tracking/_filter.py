"""The run search language: a filter expression and ORDER BY items, compiled to SQL.

A filter reads like ``metrics.auc > 0.8 and params.max_depth = '8'``::

    expr       := or_expr
    or_expr    := and_expr ('or' and_expr)*
    and_expr   := not_expr ('and' not_expr)*
    not_expr   := 'not' not_expr | atom
    atom       := '(' expr ')' | comparison
    comparison := identifier op value
                | identifier ['not'] 'in' '(' value (',' value)* ')'
                | identifier ['not'] ('like' | 'ilike') string
                | identifier 'is' ['not'] 'null'
    identifier := entity '.' name       (entity: metrics, params, tags, attributes
                                         or a singular form, or attr)
    op         := = | == | != | <> | < | <= | > | >=

Keywords are case-insensitive. A name is a bare word ``[A-Za-z_][A-Za-z0-9_./-]*`` or
is quoted with ``"..."`` or backticks. Strings are quoted with ``'...'`` or ``"..."``;
a backslash escapes a quote or a backslash. Numbers may be negative or scientific, and
metrics also accept ``nan``, ``inf`` and ``-inf``.

Semantics:

* ``metrics.X`` is the latest value of metric X and compares numbers; ``params.X`` and
  ``tags.X`` compare strings (``<`` and ``>`` order them as text, so ``'16' < '8'``);
  ``attributes.X`` is one of :data:`ATTRIBUTE_NAMES`.
* A comparison, ``in``, ``not in``, ``like`` and ``not like`` match only runs that *have*
  the value: a run without metric X never matches ``metrics.X != 1``. ``X is null``
  means "the run has no X" (for attributes: the column is NULL, e.g. ``end_time`` of a
  running run).
* A NaN metric (stored as NULL) matches ``= nan`` and ``in (..., nan)``; ``!= nan``
  means "has X and it is not NaN"; every other comparison skips NaN, ``!=`` included.
* Every comparison is true or false, never SQL NULL, so ``not`` is plain negation:
  ``not metrics.acc < 0.5`` matches runs whose acc is >= 0.5, is NaN, or is missing.
* ``like`` is SQL LIKE with ``\\`` as the escape character (``\\%``, ``\\_``, ``\\\\``)
  and the database's case rules: case-sensitive on PostgreSQL, ASCII case-insensitive on
  SQLite. ``ilike`` is case-insensitive on both.

Every name and value reaches the database as a bound parameter.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeAlias

from sqlalchemy import ColumnElement, Float, Table, and_, literal, not_, or_, select

from modelyard.errors import InvalidInput
from modelyard.store.tables import latest_metrics, params, runs, tags

__all__ = [
    "ATTRIBUTE_NAMES",
    "MAX_COMPARISONS",
    "MAX_DEPTH",
    "MAX_IN_VALUES",
    "MAX_LENGTH",
    "MAX_ORDER_BY_ITEMS",
    "And",
    "Comparison",
    "Identifier",
    "InList",
    "IsNull",
    "KeyedOrder",
    "Like",
    "Node",
    "Not",
    "Or",
    "compile_filter",
    "compile_order_by",
    "keyed_order",
    "parse_filter",
]

MAX_LENGTH = 10_000
MAX_DEPTH = 32
MAX_COMPARISONS = 200
MAX_IN_VALUES = 1000
MAX_ORDER_BY_ITEMS = 20

Entity: TypeAlias = Literal["metrics", "params", "tags", "attributes"]
Value: TypeAlias = float | str

_ENTITIES: dict[str, Entity] = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
}


class _Attribute(NamedTuple):
    expr: ColumnElement[Any]
    numeric: bool
    nullable: bool


def _column(name: str, *, numeric: bool = False) -> _Attribute:
    col = runs.c[name]
    return _Attribute(col, numeric, bool(col.nullable))


# The attributes a filter or ordering may name, mapped onto ``runs`` columns.
# Times are epoch milliseconds; ``duration`` is in seconds and NULL while running.
_ATTRIBUTES: dict[str, _Attribute] = {
    "id": _column("id"),
    "run_id": _column("id"),
    "name": _column("name"),
    "status": _column("status"),
    "user": _column("user_name"),
    "host": _column("host"),
    "parent_id": _column("parent_id"),
    "start_time": _column("start_time", numeric=True),
    "end_time": _column("end_time", numeric=True),
    "duration": _Attribute((runs.c.end_time - runs.c.start_time) / 1000.0, True, True),
    "cost": _column("cost", numeric=True),
    "wall_time_s": _column("wall_time_s", numeric=True),
    "cpu_time_s": _column("cpu_time_s", numeric=True),
    "gpu_time_s": _column("gpu_time_s", numeric=True),
    "peak_rss_bytes": _column("peak_rss_bytes", numeric=True),
}

#: The names ``attributes.X`` accepts.
ATTRIBUTE_NAMES: tuple[str, ...] = tuple(sorted(_ATTRIBUTES))

_KEY_VALUE_TABLES: dict[str, Table] = {
    "metrics": latest_metrics,
    "params": params,
    "tags": tags,
}

_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_OP_ALIASES = {"==": "=", "<>": "!="}
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_SPECIAL_NUMBERS = {"nan", "inf", "infinity"}
_LIKE_PATTERN = re.compile(r"(?:[^\\]|\\[%_\\])*", re.DOTALL)


# -- the syntax tree -------------------------------------------------------------------


@dataclass(frozen=True)
class Identifier:
    """``entity.name``; the entity is normalised to its plural form."""

    entity: Entity
    name: str

    def __str__(self) -> str:
        if _BARE_NAME.fullmatch(self.name):
            return f"{self.entity}.{self.name}"
        quoted = self.name.replace("\\", "\\\\").replace("`", "\\`")
        return f"{self.entity}.`{quoted}`"


@dataclass(frozen=True)
class Comparison:
    """``identifier op value``; ``op`` is one of ``= != < <= > >=``."""

    ident: Identifier
    op: str
    value: Value


@dataclass(frozen=True)
class InList:
    """``identifier [not] in (values)``."""

    ident: Identifier
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    """``identifier [not] like|ilike pattern``."""

    ident: Identifier
    pattern: str
    negated: bool = False
    case_insensitive: bool = False


@dataclass(frozen=True)
class IsNull:
    """``identifier is [not] null``: whether the run lacks (or has) the value."""

    ident: Identifier
    negated: bool = False


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node: TypeAlias = Or | And | Not | Comparison | InList | Like | IsNull


# -- tokens ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # number, word, string, name (backticks), op, "(", ")", ",", ".", eof
    text: str
    column: int  # 1-based
    value: Value = ""


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
    | (?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?
                 | [-+](?:inf(?:inity)?|nan)(?![A-Za-z0-9_]))
    | (?P<word>[A-Za-z_][A-Za-z0-9_./-]*)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<name>`(?:[^`\\]|\\.)*`)
    | (?P<op>==|!=|<>|<=|>=|=|<|>)
    | (?P<punct>[(),.])
    """,
    re.VERBOSE | re.IGNORECASE | re.DOTALL,
)
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)


def _unquote(text: str) -> str:
    """Drop the quotes; ``\\`` before a quote or a backslash yields that character and
    any other backslash is kept (so LIKE escapes such as ``\\%`` pass through)."""
    return _ESCAPE_RE.sub(
        lambda m: m[1] if m[1] in "'\"`\\" else m[0],
        text[1:-1],
    )


def _tokenize(text: str, error: Callable[[str], InvalidInput]) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            what = "unterminated quote" if text[pos] in "'\"`" else "unexpected character"
            raise error(f"{what} {text[pos]!r} at column {pos + 1}")
        kind = m.lastgroup or ""
        tok_text = m.group()
        if kind == "number":
            tokens.append(_Token(kind, tok_text, pos + 1, float(tok_text)))
        elif kind in {"string", "name"}:
            tokens.append(_Token(kind, tok_text, pos + 1, _unquote(tok_text)))
        elif kind == "punct":
            tokens.append(_Token(tok_text, tok_text, pos + 1))
        elif kind != "ws":
            tokens.append(_Token(kind, tok_text, pos + 1))
        pos = m.end()
    tokens.append(_Token("eof", "", len(text) + 1))
    return tokens


# -- the parser ------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the token list, with the limits checked as it goes."""

    def __init__(self, text: str, field: str, context: str = "") -> None:
        self.field = field
        self.context = context
        if len(text) > MAX_LENGTH:
            raise self.error(f"longer than {MAX_LENGTH} characters ({len(text)})")
        self.tokens = _tokenize(text, self.error)
        self.pos = 0
        self.depth = 0
        self.comparisons = 0

    # token helpers

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def next(self) -> _Token:
        tok = self.tokens[self.pos]
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def error(self, message: str) -> InvalidInput:
        return InvalidInput(f"{self.field}: {self.context}{message}", field=self.field)

    def unexpected(self, tok: _Token, expected: str) -> InvalidInput:
        if tok.kind == "eof":
            return self.error(
                f"unexpected end of input at column {tok.column}; expected {expected}"
            )
        return self.error(
            f"unexpected token {tok.text!r} at column {tok.column}; expected {expected}"
        )

    def keyword(self, *words: str) -> str | None:
        """Consume the next token if it is one of ``words`` (case-insensitive)."""
        tok = self.peek()
        if tok.kind == "word" and tok.text.lower() in words:
            self.pos += 1
            return tok.text.lower()
        return None

    def expect(self, kind: str, expected: str) -> _Token:
        tok = self.next()
        if tok.kind != kind:
            raise self.unexpected(tok, expected)
        return tok

    def expect_keyword(self, word: str, expected: str) -> None:
        if not self.keyword(word):
            raise self.unexpected(self.peek(), expected)

    def end(self, expected: str) -> None:
        tok = self.peek()
        if tok.kind != "eof":
            raise self.unexpected(tok, expected)

    @contextmanager
    def nested(self, tok: _Token) -> Iterator[None]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels at column {tok.column}")
        yield
        self.depth -= 1

    # grammar

    def expr(self) -> Node:
        operands = [self.and_expr()]
        while self.keyword("or"):
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.keyword("and"):
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Node:
        tok = self.peek()
        if self.keyword("not"):
            with self.nested(tok):
                return Not(self.not_expr())
        if tok.kind == "(":
            self.pos += 1
            with self.nested(tok):
                node = self.expr()
            self.expect(")", "')', 'and' or 'or'")
            return node
        return self.comparison()

    def comparison(self) -> Node:
        start = self.peek()
        ident = self.identifier()
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.error(
                f"more than {MAX_COMPARISONS} comparisons (the next starts at column "
                f"{start.column})"
            )
        tok = self.peek()
        if tok.kind == "op":
            self.pos += 1
            op = _OP_ALIASES.get(tok.text, tok.text)
            return Comparison(ident, op, self.value(ident, op))
        if self.keyword("is"):
            negated = self.keyword("not") is not None
            self.expect_keyword("null", "'null' or 'not null'")
            return IsNull(ident, negated)
        negated = self.keyword("not") is not None
        if self.keyword("in"):
            return InList(ident, self.value_list(ident), negated)
        like_tok = self.peek()
        like = self.keyword("like", "ilike")
        if like:
            return Like(ident, self.pattern(ident, like, like_tok.column), negated, like == "ilike")
        expected = "'in' or 'like'" if negated else "an operator, 'in', 'like' or 'is'"
        raise self.unexpected(self.peek(), expected)

    def identifier(self) -> Identifier:
        tok = self.next()
        if tok.kind != "word":
            raise self.unexpected(tok, "an identifier such as metrics.auc")
        prefix, dot, name = tok.text.partition(".")
        entity = _ENTITIES.get(prefix.lower())
        if entity is None:
            if not dot:
                raise self.unexpected(tok, "an identifier such as metrics.auc")
            raise self.error(
                f"unknown entity {prefix!r} at column {tok.column}; "
                "expected metrics, params, tags or attributes (e.g. metrics.auc)"
            )
        if not dot:
            self.expect(".", f"'.' and a name after {prefix!r}")
        if name:
            if not _BARE_NAME.fullmatch(name):
                column = tok.column + len(prefix) + 1
                raise self.error(
                    f"invalid name {name!r} at column {column}; quote it: {prefix}.`{name}`"
                )
        else:
            name_tok = self.next()
            if name_tok.kind == "word":
                name = name_tok.text
            elif name_tok.kind == "name" or (
                name_tok.kind == "string" and name_tok.text.startswith('"')
            ):
                name = str(name_tok.value)
            else:
                raise self.unexpected(name_tok, f"a name after '{prefix}.'")
            if not name:
                raise self.error(f"empty name at column {name_tok.column}")
        if entity == "attributes" and name not in _ATTRIBUTES:
            raise self.error(
                f"unknown attribute {name!r} at column {tok.column}; "
                f"allowed: {', '.join(ATTRIBUTE_NAMES)}"
            )
        return Identifier(entity, name)

    def value(self, ident: Identifier, op: str) -> Value:
        tok = self.next()
        if tok.kind == "string":
            if _is_numeric(ident):
                raise self.error(
                    f"{ident} compares numbers; got the string {tok.text} at column {tok.column}"
                )
            return tok.value
        if tok.kind == "number" or (tok.kind == "word" and tok.text.lower() in _SPECIAL_NUMBERS):
            number = float(tok.text)
            if not _is_numeric(ident):
                example = f"{ident} {op} '{tok.text}'" if op != "in" else f"'{tok.text}'"
                raise self.error(
                    f"{ident} compares strings; got the number {tok.text} at column "
                    f"{tok.column}; quote it: {example}"
                )
            if ident.entity != "metrics" and not math.isfinite(number):
                raise self.error(
                    f"{tok.text!r} at column {tok.column}: nan and inf are only allowed for metrics"
                )
            if math.isnan(number) and op not in {"=", "!=", "in"}:
                raise self.error(
                    f"nan at column {tok.column} can only be compared with =, != or in"
                )
            return number
        raise self.unexpected(tok, "a number or a quoted string")

    def value_list(self, ident: Identifier) -> tuple[Value, ...]:
        self.expect("(", "'(' after 'in'")
        values = [self.value(ident, "in")]
        while self.peek().kind == ",":
            tok = self.next()
            if len(values) == MAX_IN_VALUES:
                raise self.error(
                    f"more than {MAX_IN_VALUES} values in a list at column {tok.column}"
                )
            values.append(self.value(ident, "in"))
        self.expect(")", "',' or ')'")
        return tuple(values)

    def pattern(self, ident: Identifier, like: str, column: int) -> str:
        if _is_numeric(ident):
            raise self.error(f"{like!r} at column {column} needs strings; {ident} holds numbers")
        tok = self.expect("string", f"a quoted pattern after {like!r}")
        pattern = str(tok.value)
        if not _LIKE_PATTERN.fullmatch(pattern):
            raise self.error(
                f"bad escape in the pattern at column {tok.column}; in patterns a "
                "backslash may only precede %, _ or another backslash"
            )
        return pattern


def _is_numeric(ident: Identifier) -> bool:
    if ident.entity == "attributes":
        return _ATTRIBUTES[ident.name].numeric
    return ident.entity == "metrics"


# -- compilation -----------------------------------------------------------------------


def parse_filter(text: str) -> Node:
    """Parse and check a filter; raise :class:`InvalidInput` (``field="filter"``)."""
    parser = _Parser(text, "filter")
    if parser.peek().kind == "eof":
        raise parser.error("empty filter")
    node = parser.expr()
    parser.end("'and', 'or' or the end of the filter")
    return node


def compile_filter(text: str | None) -> ColumnElement[bool] | None:
    """The filter as a boolean over ``runs`` (``IN`` subqueries), or None when blank."""
    if text is None or not text.strip():
        return None
    return _compile(parse_filter(text))


def compile_order_by(items: Sequence[str] | None) -> list[ColumnElement[Any]]:
    """ORDER BY clauses for a ``select`` over ``runs``: each item is ``identifier
    [ASC|DESC]`` (ASC by default); NULLs (missing values, NaN metrics) sort last."""
    if isinstance(items, str):
        raise TypeError("compile_order_by takes a sequence of items, not a string")
    items = items or []
    if len(items) > MAX_ORDER_BY_ITEMS:
        raise InvalidInput(
            f"order_by: more than {MAX_ORDER_BY_ITEMS} items ({len(items)})", field="order_by"
        )
    return [_order_item(item) for item in items]


def _order_item(text: str) -> ColumnElement[Any]:
    ident, descending = _parse_order_item(text)
    key = _sort_key(ident)
    return (key.desc() if descending else key.asc()).nulls_last()


def _parse_order_item(text: str) -> tuple[Identifier, bool]:
    parser = _Parser(text, "order_by", context=f"in {text!r}: ")
    ident = parser.identifier()
    direction = parser.keyword("asc", "desc")
    parser.end("ASC, DESC or the end of the item")
    return ident, direction == "desc"


class KeyedOrder(NamedTuple):
    """An ORDER BY item on a metric, param or tag: the table holding its values (one row
    per run and key), the key, and the direction."""

    table: Table
    key: str
    descending: bool


def keyed_order(items: Sequence[str] | None) -> KeyedOrder | None:
    """The first ORDER BY item when it sorts by a metric, param or tag (None otherwise),
    for a search that reads the runs having a value in that value's index order, then the
    runs without one (see :meth:`TrackingService.search_runs`). Call it after
    :func:`compile_order_by` has checked the items."""
    if not items:
        return None
    ident, descending = _parse_order_item(items[0])
    if ident.entity == "attributes":
        return None
    return KeyedOrder(_KEY_VALUE_TABLES[ident.entity], ident.name, descending)


def _sort_key(ident: Identifier) -> ColumnElement[Any]:
    if ident.entity == "attributes":
        return _ATTRIBUTES[ident.name].expr
    table = _KEY_VALUE_TABLES[ident.entity]
    return (
        select(table.c.value)
        .where(table.c.run_id == runs.c.id, table.c.key == ident.name)
        .scalar_subquery()
    )


def _compile(node: Node) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(_compile(n) for n in node.operands))
    if isinstance(node, Or):
        return or_(*(_compile(n) for n in node.operands))
    if isinstance(node, Not):
        return not_(_compile(node.operand))
    ident = node.ident
    if ident.entity == "attributes":
        attr = _ATTRIBUTES[ident.name]
        if isinstance(node, IsNull):
            return attr.expr.is_not(None) if node.negated else attr.expr.is_(None)
        condition = _condition(attr.expr, node, attr.numeric)
        # Keep the result two-valued, so that ``not`` negates a NULL column to true.
        return and_(attr.expr.is_not(None), condition) if attr.nullable else condition
    # An uncorrelated ``runs.id IN (SELECT run_id ...)`` is evaluated once (an index range
    # scan on latest_metrics (key, value)), not once per run like a correlated EXISTS:
    # about 10x faster over 100,000 runs on SQLite.
    table = _KEY_VALUE_TABLES[ident.entity]
    ids = select(table.c.run_id).where(table.c.key == ident.name)
    if isinstance(node, IsNull):
        present = runs.c.id.in_(ids)
        return present if node.negated else ~present
    return runs.c.id.in_(ids.where(_condition(table.c.value, node, ident.entity == "metrics")))


def _condition(
    col: ColumnElement[Any], node: Comparison | InList | Like, numeric: bool
) -> ColumnElement[bool]:
    """The test on one value column; a NaN metric is NULL and fails all but ``= nan``."""
    if isinstance(node, Like):
        match = col.ilike if node.case_insensitive else col.like
        negated = col.not_ilike if node.case_insensitive else col.not_like
        return (negated if node.negated else match)(node.pattern, escape="\\")
    if isinstance(node, Comparison):
        if isinstance(node.value, float) and math.isnan(node.value):
            return col.is_not(None) if node.op == "!=" else col.is_(None)
        return _OPS[node.op](col, _bind(node.value, numeric))
    values = [_bind(v, numeric) for v in node.values if not _is_nan(v)]
    if len(values) == len(node.values):
        return col.not_in(values) if node.negated else col.in_(values)
    if node.negated:
        return and_(col.is_not(None), *([col.not_in(values)] if values else []))
    return or_(col.is_(None), *([col.in_(values)] if values else []))


def _bind(value: Value, numeric: bool) -> Any:
    """Numbers bind as floats so that integer columns never round ``start_time > 1.5``."""
    return literal(value, Float()) if numeric else value


def _is_nan(value: Value) -> bool:
    return isinstance(value, float) and math.isnan(value)
