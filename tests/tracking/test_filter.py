from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateSchema, DropSchema

import modelyard.tracking._filter as filter_module
from modelyard.errors import InvalidInput
from modelyard.store import tables
from modelyard.store.tables import runs
from modelyard.tracking._filter import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_IN_VALUES,
    MAX_LENGTH,
    MAX_ORDER_BY_ITEMS,
    And,
    Comparison,
    Identifier,
    InList,
    IsNull,
    Like,
    Not,
    Or,
    compile_filter,
    compile_order_by,
    parse_filter,
)

M = partial(Identifier, "metrics")
P = partial(Identifier, "params")
T = partial(Identifier, "tags")
A = partial(Identifier, "attributes")


# -- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        (
            "metrics.auc > 0.8 and params.max_depth = '8'",
            And((Comparison(M("auc"), ">", 0.8), Comparison(P("max_depth"), "=", "8"))),
        ),
        (
            "(tags.team = \"vision\" or tags.team = 'nlp') "
            "and attributes.status in ('finished', 'failed')",
            And(
                (
                    Or((Comparison(T("team"), "=", "vision"), Comparison(T("team"), "=", "nlp"))),
                    InList(A("status"), ("finished", "failed")),
                )
            ),
        ),
        (
            "tags.a = 'x' or tags.b = 'y' and tags.c = 'z'",
            Or(
                (
                    Comparison(T("a"), "=", "x"),
                    And((Comparison(T("b"), "=", "y"), Comparison(T("c"), "=", "z"))),
                )
            ),
        ),
        ("params.\"learning rate\" like '0.0%'", Like(P("learning rate"), "0.0%")),
        ("metrics.`val loss` <= 1e-3", Comparison(M("val loss"), "<=", 0.001)),
        ("attributes.name like 'rf-%'", Like(A("name"), "rf-%")),
        ("not metrics.acc < 0.5", Not(Comparison(M("acc"), "<", 0.5))),
        ("NOT not metrics.acc < 0.5", Not(Not(Comparison(M("acc"), "<", 0.5)))),
        ("metrics.loss != 0", Comparison(M("loss"), "!=", 0.0)),
        ("metrics.loss <> 0", Comparison(M("loss"), "!=", 0.0)),
        ("metrics.loss == -2.5E+3", Comparison(M("loss"), "=", -2500.0)),
        ("metrics.loss>-1", Comparison(M("loss"), ">", -1.0)),
        ("metrics.loss >= .5", Comparison(M("loss"), ">=", 0.5)),
        ("metrics.loss < inf", Comparison(M("loss"), "<", math.inf)),
        ("metrics.loss > -INF", Comparison(M("loss"), ">", -math.inf)),
        ("metric.auc > 1", Comparison(M("auc"), ">", 1.0)),
        ("METRICS.auc > 1", Comparison(M("auc"), ">", 1.0)),
        ("metrics . auc > 1", Comparison(M("auc"), ">", 1.0)),
        ("param.x = 'a'", Comparison(P("x"), "=", "a")),
        ("tag.x = 'a'", Comparison(T("x"), "=", "a")),
        ("attr.id = 'a'", Comparison(A("id"), "=", "a")),
        ("attribute.run_id = 'a'", Comparison(A("run_id"), "=", "a")),
        ("metrics.val/loss.avg-1 > 1", Comparison(M("val/loss.avg-1"), ">", 1.0)),
        ('metrics."1st loss" > 1', Comparison(M("1st loss"), ">", 1.0)),
        ("metrics.`it\\`s` > 1", Comparison(M("it`s"), ">", 1.0)),
        ("tags.x = 'it\\'s'", Comparison(T("x"), "=", "it's")),
        ('tags.x = "say \\"hi\\""', Comparison(T("x"), "=", 'say "hi"')),
        ("tags.x = 'back\\\\slash'", Comparison(T("x"), "=", "back\\slash")),
        ("tags.x LIKE '50\\%'", Like(T("x"), "50\\%")),
        ("tags.x not like 'a%'", Like(T("x"), "a%", negated=True)),
        ("attributes.name ILike 'RF%'", Like(A("name"), "RF%", case_insensitive=True)),
        ("metrics.x is null", IsNull(M("x"))),
        ("params.x IS NOT NULL", IsNull(P("x"), negated=True)),
        ("metrics.x in (1, -2, inf)", InList(M("x"), (1.0, -2.0, math.inf))),
        ("tags.x not in ('a', \"b\")", InList(T("x"), ("a", "b"), negated=True)),
        ("attributes.start_time >= 1700000000000", Comparison(A("start_time"), ">=", 1.7e12)),
        ("((metrics.x = 1))", Comparison(M("x"), "=", 1.0)),
    ],
)
def test_parse_accepts(text: str, tree: object) -> None:
    assert parse_filter(text) == tree


def test_parse_nan() -> None:
    node = parse_filter("metrics.auc = NaN")
    assert isinstance(node, Comparison) and node.op == "=" and math.isnan(float(node.value))
    node = parse_filter("metrics.auc in (1, nan)")
    assert isinstance(node, InList) and math.isnan(float(node.values[1]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics.auc > 0.8 )", "filter: unexpected token ')' at column 19;"),
        ("params.max_depth = 8", "quote it: params.max_depth = '8'"),
        ("params.max_depth = 8", "got the number 8 at column 20"),
        ("params.x in ('a', 8)", "quote it: '8'"),
        ("tags.x = nan", "got the number nan at column 10"),
        ("attributes.name = 1", "attributes.name compares strings"),
        ("attributes.colour = 'x'", "filter: unknown attribute 'colour' at column 1; allowed: "),
        ("attributes.colour = 'x'", "cost, cpu_time_s, duration, end_time,"),
        (
            "metrics.auc = 'high'",
            "metrics.auc compares numbers; got the string 'high' at column 15",
        ),
        ("attributes.start_time > '1'", "attributes.start_time compares numbers"),
        ("metrics.auc like 'a%'", "'like' at column 13 needs strings; metrics.auc holds numbers"),
        ("attributes.cost ilike 'a%'", "'ilike' at column 17 needs strings"),
        ("auc > 1", "unexpected token 'auc' at column 1; expected an identifier"),
        ("metricz.auc > 1", "unknown entity 'metricz' at column 1"),
        ("metrics > 1", "unexpected token '>' at column 9; expected '.' and a name"),
        ("metrics.1x > 1", "invalid name '1x' at column 9; quote it: metrics.`1x`"),
        ("metrics.`` > 1", "empty name at column 9"),
        ("metrics.'auc' > 1", "unexpected token \"'auc'\" at column 9; expected a name"),
        ("(metrics.x > 1", "unexpected end of input at column 15; expected ')'"),
        ("metrics.x > 1 and", "unexpected end of input at column 18; expected an identifier"),
        ("metrics.x > 1 and or metrics.y > 1", "unexpected token 'or' at column 19"),
        ("metrics.x >", "unexpected end of input at column 12; expected a number or a quoted"),
        ("metrics.x 1", "unexpected token '1' at column 11; expected an operator"),
        ("metrics.x is 1", "unexpected token '1' at column 14; expected 'null'"),
        ("metrics.x not = 1", "unexpected token '=' at column 15; expected 'in' or 'like'"),
        ("metrics.x in 1", "expected '(' after 'in'"),
        ("metrics.x in ()", "unexpected token ')' at column 15; expected a number"),
        ("metrics.x in (1 2)", "unexpected token '2' at column 17; expected ',' or ')'"),
        ("tags.x = 'abc", 'unterminated quote "\'" at column 10'),
        ("tags.x = `abc` ", "unexpected token '`abc`' at column 10; expected a number or"),
        ("tags.x = 'a' & tags.y = 'b'", "unexpected character '&' at column 14"),
        ("tags.x = 'a' tags.y = 'b'", "unexpected token 'tags.y' at column 14"),
        ("metrics.x < nan", "nan at column 13 can only be compared with =, != or in"),
        ("attributes.cost > inf", "'inf' at column 19: nan and inf are only allowed for metrics"),
        ("attributes.cost = 1e999", "nan and inf are only allowed for metrics"),
        ("tags.x like 'a\\b'", "bad escape in the pattern at column 13"),
        ("tags.x like 'a\\\\'", "bad escape in the pattern"),
        ("tags.x like 5", "expected a quoted pattern after 'like'"),
        ("attributes.name; DROP TABLE runs", "unexpected character ';' at column 16"),
        ("params.x = '1'' OR 1=1 --'", "unexpected token \"' OR 1=1 --'\" at column 15"),
        ("", "filter: empty filter"),
        ("  ", "filter: empty filter"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter(text)
    assert message in info.value.message
    assert info.value.field == "filter"


def test_identifier_renders_quoted_names() -> None:
    assert str(M("auc")) == "metrics.auc"
    assert str(P("learning rate")) == "params.`learning rate`"
    assert str(M("a`b")) == "metrics.`a\\`b`"


def test_blank_filter_compiles_to_none() -> None:
    assert compile_filter(None) is None
    assert compile_filter("") is None
    assert compile_filter(" \n\t") is None


# -- limits ----------------------------------------------------------------------------


def test_length_limit() -> None:
    ok = "metrics.x > 1".ljust(MAX_LENGTH)
    assert parse_filter(ok) == Comparison(M("x"), ">", 1.0)
    with pytest.raises(InvalidInput, match=f"longer than {MAX_LENGTH} characters"):
        parse_filter(ok + " ")


def test_depth_limit() -> None:
    leaf = "metrics.x > 1"
    parse_filter("(" * MAX_DEPTH + leaf + ")" * MAX_DEPTH)
    parse_filter("not " * MAX_DEPTH + leaf)
    with pytest.raises(InvalidInput, match=f"nested deeper than {MAX_DEPTH} levels at column 33"):
        parse_filter("(" * (MAX_DEPTH + 1) + leaf + ")" * (MAX_DEPTH + 1))
    with pytest.raises(InvalidInput, match="nested deeper"):
        parse_filter("not " * (MAX_DEPTH + 1) + leaf)


@pytest.mark.parametrize("opening", ["(", "not ", "not ("])
def test_deep_nesting_is_invalid_input_not_recursion_error(opening: str) -> None:
    text = opening * (MAX_LENGTH // len(opening))
    with pytest.raises(InvalidInput, match="nested deeper"):
        parse_filter(text[:MAX_LENGTH])


def test_comparison_limit() -> None:
    many = " or ".join(f"metrics.m{i} > {i}" for i in range(MAX_COMPARISONS))
    node = parse_filter(many)
    assert isinstance(node, Or) and len(node.operands) == MAX_COMPARISONS
    assert compile_filter(many) is not None
    with pytest.raises(InvalidInput, match=f"more than {MAX_COMPARISONS} comparisons"):
        parse_filter(many + " or metrics.x > 1")


def test_in_list_limit() -> None:
    values = ", ".join(str(i) for i in range(MAX_IN_VALUES))
    node = parse_filter(f"metrics.x in ({values})")
    assert isinstance(node, InList) and len(node.values) == MAX_IN_VALUES
    with pytest.raises(InvalidInput, match=f"more than {MAX_IN_VALUES} values"):
        parse_filter(f"metrics.x in ({values}, 1)")


def test_order_by_limits() -> None:
    assert len(compile_order_by(["metrics.auc"] * MAX_ORDER_BY_ITEMS)) == MAX_ORDER_BY_ITEMS
    with pytest.raises(InvalidInput, match=f"more than {MAX_ORDER_BY_ITEMS} items") as info:
        compile_order_by(["metrics.auc"] * (MAX_ORDER_BY_ITEMS + 1))
    assert info.value.field == "order_by"
    with pytest.raises(InvalidInput, match="longer than"):
        compile_order_by(["metrics.auc".ljust(MAX_LENGTH + 1)])


# -- order by parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "metrics.auc sideways",
            "order_by: in 'metrics.auc sideways': unexpected token 'sideways' at column 13",
        ),
        ("metrics.auc desc desc", "unexpected token 'desc' at column 18"),
        ("", "unexpected end of input at column 1; expected an identifier"),
        ("attributes.colour", "unknown attribute 'colour' at column 1; allowed:"),
        ("params.x = '1'", "unexpected token '=' at column 10"),
        ("auc", "unexpected token 'auc' at column 1"),
        ("attributes.name; DROP TABLE runs", "unexpected character ';' at column 16"),
    ],
)
def test_order_by_rejects(item: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        compile_order_by([item])
    assert message in info.value.message
    assert info.value.field == "order_by"


def test_order_by_wants_a_sequence_of_items() -> None:
    with pytest.raises(TypeError):
        compile_order_by("metrics.auc")
    assert compile_order_by(None) == []
    assert compile_order_by([]) == []


# -- no user text in SQL ---------------------------------------------------------------

HOSTILE_NAME = "x'; DROP TABLE runs; --"
HOSTILE_VALUE = "1' OR '1'='1"
HOSTILE_ESCAPED = HOSTILE_VALUE.replace("'", "\\'")
HOSTILE_FILTERS = [
    f'params."{HOSTILE_NAME}" = "{HOSTILE_VALUE}"',
    f"tags.`{HOSTILE_NAME}` like '%{HOSTILE_ESCAPED}%'",
    f"tags.`{HOSTILE_NAME}` not in ('{HOSTILE_ESCAPED}', 'zz_other')",
    f'attributes.name = "{HOSTILE_VALUE}" or attributes.status != "zz_status"',
    f"metrics.`{HOSTILE_NAME}` is null and metrics.`{HOSTILE_NAME}` in (1, nan)",
]


@pytest.mark.parametrize("text", HOSTILE_FILTERS)
@pytest.mark.parametrize("dialect", [None, sqlite.dialect(), postgresql.dialect()])
def test_compiled_sql_holds_only_bind_markers(text: str, dialect: object) -> None:
    stmt = (
        select(runs.c.id)
        .where(compile_filter(text))
        .order_by(*compile_order_by([f"params.`{HOSTILE_NAME}` desc", "tags.zz_sort"]))
    )
    compiled = stmt.compile(dialect=dialect)  # type: ignore[arg-type]
    sql = str(compiled)
    for fragment in (HOSTILE_NAME, HOSTILE_VALUE, "DROP", "OR '1'", "zz_"):
        assert fragment not in sql
    bound = {str(v) for v in compiled.params.values()}
    assert HOSTILE_NAME in bound
    assert "zz_sort" in bound


def test_module_never_inlines_literals() -> None:
    source = Path(filter_module.__file__).read_text()
    assert "literal_binds" not in source


# -- execution on SQLite and PostgreSQL ------------------------------------------------

RUNS = [
    # id, name, status, start_time, end_time, user, parent_id, cost
    ("r1", "rf-1", "finished", 1000, 5000, "alice", None, 1.5),
    ("r2", "rf-2", "finished", 2000, 12000, "bob", "r1", None),
    ("r3", "xgb-1", "failed", 3000, 3500, "alice", None, 0.25),
    ("r4", "xgb 2", "running", 4000, None, "carol", None, None),
    ("r5", "cnn", "finished", 5000, 6000, "bob", "r1", 3.0),
    ("r6", "RF-upper", "killed", 6000, 9000, "dave", None, 0.5),
]
LATEST_METRICS = {
    "r1": {"auc": 0.9, "acc": 0.7, "val loss": 0.001, "loss": 0.0},
    "r2": {"auc": 0.85, "acc": 0.4, "val loss": 0.01, "loss": 0.3},
    "r3": {"auc": None, "acc": 0.5, "loss": 0.2},  # None: a NaN metric
    "r4": {"auc": 0.6, "loss": math.inf},
    "r5": {"auc": 0.95, "acc": None, "val loss": 1e-4, "loss": -math.inf},
    "r6": {},
}
PARAMS = {
    "r1": {"max_depth": "8", "learning rate": "0.01", "model": "rf"},
    "r2": {"max_depth": "16", "learning rate": "0.05", "model": "rf"},
    "r3": {"max_depth": "8", "learning rate": "0.1", "model": "xgb"},
    "r4": {"learning rate": "0.001", "model": "xgb"},
    "r5": {"model": "cnn", "note": "it's 50% done"},
    "r6": {"model": "rf"},
}
TAGS = {
    "r1": {"team": "vision"},
    "r2": {"team": "nlp"},
    "r3": {"team": "vision", "owner name": "o'brien"},
    "r5": {"team": "audio"},
    "r6": {"team": "Vision"},
}


def _seed(engine: Engine) -> None:
    tables.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(tables.projects).values(id="p1", name="demo", created_at=0))
        conn.execute(
            insert(runs),
            [
                {
                    "id": run_id,
                    "project_id": "p1",
                    "parent_id": parent,
                    "name": name,
                    "status": status,
                    "start_time": start,
                    "end_time": end,
                    "heartbeat_at": start,
                    "user_name": user,
                    "host": "h1",
                    "entry_point": "train.py",
                    "cost": cost,
                }
                for run_id, name, status, start, end, user, parent, cost in RUNS
            ],
        )
        conn.execute(
            insert(tables.latest_metrics),
            [
                {"run_id": r, "key": k, "value": v, "step": 1, "timestamp": 0}
                for r, values in LATEST_METRICS.items()
                for k, v in values.items()
            ],
        )
        for table, rows in ((tables.params, PARAMS), (tables.tags, TAGS)):
            conn.execute(
                insert(table),
                [
                    {"run_id": r, "key": k, "value": v}
                    for r, kv in rows.items()
                    for k, v in kv.items()
                ],
            )


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A seeded database; PostgreSQL (when MODELYARD_TEST_POSTGRES_URL is set) gets a
    schema of its own that is dropped afterwards."""
    if request.param == "sqlite":
        base = create_engine(f"sqlite:///{tmp_path_factory.mktemp('filter')}/runs.db")
        _seed(base)
        yield base
        base.dispose()
        return
    url = os.environ.get("MODELYARD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("MODELYARD_TEST_POSTGRES_URL is not set")
    base = create_engine(url)
    schema = f"modelyard_filter_{uuid.uuid4().hex[:12]}"
    with base.begin() as conn:
        conn.execute(CreateSchema(schema))
    try:
        scoped = base.execution_options(schema_translate_map={None: schema})
        _seed(scoped)
        yield scoped
    finally:
        with base.begin() as conn:
            conn.execute(DropSchema(schema, cascade=True))
        base.dispose()


def run_ids(engine: Engine, text: str | None, order_by: Sequence[str] = ()) -> list[str]:
    stmt = select(runs.c.id)
    condition = compile_filter(text)
    if condition is not None:
        stmt = stmt.where(condition)
    stmt = stmt.order_by(*compile_order_by(order_by), runs.c.id)
    with engine.connect() as conn:
        return list(conn.scalars(stmt))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "r1 r2 r3 r4 r5 r6"),
        ("metrics.auc > 0.8", "r1 r2 r5"),
        ("metric.auc > 0.8", "r1 r2 r5"),
        ("metrics.auc > 0.8 and params.max_depth = '8'", "r1"),
        ("METRICS.auc > 0.8 AND Params.max_depth == '16'", "r2"),
        (
            "(tags.team = \"vision\" or tags.team = 'nlp') "
            "and attributes.status in ('finished', 'failed')",
            "r1 r2 r3",
        ),
        ("params.\"learning rate\" like '0.0%'", "r1 r2 r4"),
        ("metrics.`val loss` <= 1e-3", "r1 r5"),
        ("attributes.name like 'xgb%'", "r3 r4"),
        ("attributes.name like 'xgb_2'", "r4"),
        (r"attributes.name like 'xgb\_2'", ""),
        (r"params.note like '%50\%%'", "r5"),
        ("params.model not like 'r%'", "r3 r4 r5"),
        # NaN (NULL) and missing metrics never satisfy a comparison...
        ("metrics.acc < 0.5", "r2"),
        ("metrics.loss != 0", "r2 r3 r4 r5"),
        ("metrics.auc >= -inf", "r1 r2 r4 r5"),
        # ... so `not` matches them.
        ("not metrics.acc < 0.5", "r1 r3 r4 r5 r6"),
        ("not metrics.auc >= -inf", "r3 r6"),
        ("metrics.auc = nan", "r3"),
        ("metrics.auc != nan", "r1 r2 r4 r5"),
        ("metrics.auc is null", "r6"),
        ("metrics.auc is not null", "r1 r2 r3 r4 r5"),
        ("metrics.loss = inf", "r4"),
        ("metrics.loss = -inf", "r5"),
        ("metrics.loss > 1e308", "r4"),
        ("metrics.acc in (0.7, nan)", "r1 r5"),
        ("metrics.acc in (nan)", "r5"),
        ("metrics.acc not in (0.7, 0.4)", "r3"),
        ("metrics.acc not in (0.7, nan)", "r2 r3"),
        ("not metrics.acc in (0.7, 0.4)", "r3 r4 r5 r6"),
        # params and tags are strings: '16' < '8'.
        ("params.max_depth != '8'", "r2"),
        ("params.max_depth < '8'", "r2"),
        ("params.max_depth is null", "r4 r5 r6"),
        ("not params.max_depth = '8'", "r2 r4 r5 r6"),
        ("tags.`owner name` = 'o\\'brien'", "r3"),
        ("tags.team <> 'vision'", "r2 r5 r6"),
        ("tags.team ilike 'VISION'", "r1 r3 r6"),
        ("tags.team in ('nlp', 'audio')", "r2 r5"),
        ("tags.team not in ('nlp', 'audio')", "r1 r3 r6"),
        # attributes
        ("attributes.duration > 2", "r1 r2 r6"),
        ("not attributes.duration > 2", "r3 r4 r5"),
        ("attributes.duration is null", "r4"),
        ("attributes.end_time is not null", "r1 r2 r3 r5 r6"),
        ("attributes.parent_id = 'r1'", "r2 r5"),
        ("attributes.parent_id != 'r1'", ""),
        ("not attributes.parent_id = 'r1'", "r1 r3 r4 r6"),
        ("attributes.start_time >= 3000 and attributes.start_time < 5000", "r3 r4"),
        ("attributes.start_time > 2999.5", "r3 r4 r5 r6"),
        ("attributes.start_time in (1000, 6000)", "r1 r6"),
        ("attributes.cost > 1", "r1 r5"),
        ("attributes.cost is null", "r2 r4"),
        ("attributes.user = 'alice'", "r1 r3"),
        ("attr.id in ('r1', 'r6') or attributes.run_id = 'r2'", "r1 r2 r6"),
        ('attributes.status = "running" or metrics.auc > 0.9', "r4 r5"),
        ("not (metrics.auc > 0.8 or tags.team = 'vision')", "r4 r6"),
        ("not not metrics.auc > 0.8", "r1 r2 r5"),
        # hostile input is data
        ("params.model = '1\\' OR 1=1 --'", ""),
        (f'params."{HOSTILE_NAME}" = "{HOSTILE_VALUE}"', ""),
        (f"tags.`{HOSTILE_NAME}` is null", "r1 r2 r3 r4 r5 r6"),
    ],
)
def test_filter_selects_runs(engine: Engine, text: str | None, expected: str) -> None:
    assert run_ids(engine, text) == expected.split()


def test_hostile_input_leaves_tables_alone(engine: Engine) -> None:
    for text in HOSTILE_FILTERS:
        run_ids(engine, text, [f"params.`{HOSTILE_NAME}` desc"])
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(runs)) == len(RUNS)


def test_like_case_follows_the_database(engine: Engine) -> None:
    """LIKE is ASCII case-insensitive on SQLite, case-sensitive on PostgreSQL."""
    sensitive = engine.dialect.name == "postgresql"
    assert run_ids(engine, "attributes.name like 'rf-%'") == (
        ["r1", "r2"] if sensitive else ["r1", "r2", "r6"]
    )
    assert run_ids(engine, "attributes.name ilike 'rf-%'") == ["r1", "r2", "r6"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ([], "r1 r2 r3 r4 r5 r6"),
        # NaN (r3) and missing (r6) metrics sort last in both directions.
        (["metrics.auc DESC"], "r5 r1 r2 r4 r3 r6"),
        (["metrics.auc"], "r4 r2 r1 r5 r3 r6"),
        (["metrics.auc asc"], "r4 r2 r1 r5 r3 r6"),
        (["metrics.loss"], "r5 r1 r3 r2 r4 r6"),
        (["metrics.loss desc"], "r4 r2 r3 r1 r5 r6"),
        (["metrics.`val loss` desc"], "r2 r1 r5 r3 r4 r6"),
        (["params.max_depth ASC"], "r2 r1 r3 r4 r5 r6"),
        (["params.model", "metrics.auc desc"], "r5 r1 r2 r6 r4 r3"),
        (["attributes.duration desc"], "r2 r1 r6 r5 r3 r4"),
        (["attributes.duration"], "r3 r5 r6 r1 r2 r4"),
        (["attributes.start_time desc"], "r6 r5 r4 r3 r2 r1"),
        (["attributes.cost desc"], "r5 r1 r6 r3 r2 r4"),
        (["attributes.parent_id", "attr.user desc"], "r2 r5 r6 r4 r1 r3"),
    ],
)
def test_order_by_sorts_runs(engine: Engine, order_by: list[str], expected: str) -> None:
    assert run_ids(engine, None, order_by) == expected.split()


def test_filter_and_order_together(engine: Engine) -> None:
    assert run_ids(
        engine, "metrics.auc is not null and attributes.status = 'finished'", ["metrics.auc desc"]
    ) == ["r5", "r1", "r2"]
