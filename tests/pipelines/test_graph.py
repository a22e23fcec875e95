"""Tracing pipelines into DAGs and checking them before anything runs."""

from __future__ import annotations

import pytest

import modelyard as my
from modelyard import Client, InvalidInput
from modelyard.pipelines import Pipeline, Step


@my.step
def make(n: int) -> list:
    return list(range(n))


@my.step
def total(values: list, offset: int = 0) -> int:
    return sum(values) + offset


@my.step
def shout(text: str) -> str:
    return text.upper()


@my.pipeline
def adding(n: int, offset: int = 1):
    values = make(n)
    total(values, offset)
    total(values)


def test_decorators_make_steps_and_pipelines() -> None:
    assert isinstance(make, Step) and isinstance(adding, Pipeline)
    assert make.name == "make" and adding.name == "adding"
    assert make.__doc__ == make.fn.__doc__
    assert my.step(name="other")(make.fn).name == "other"


def test_a_step_called_outside_a_pipeline_is_the_plain_function() -> None:
    assert total([1, 2, 3], offset=4) == 10


def test_tracing_records_nodes_edges_and_params() -> None:
    graph = adding(n=3)
    assert list(graph.nodes) == ["make", "total", "total_2"]
    assert graph.nodes["make"].params == {"n": 3}
    assert graph.nodes["total"].inputs == {"values": "make"}
    assert graph.nodes["total"].params == {"offset": 1}
    assert graph.nodes["total_2"].params == {"offset": 0}  # defaults are params too


def test_missing_required_input_names_step_and_parameter() -> None:
    @my.pipeline
    def broken():
        total()

    with pytest.raises(InvalidInput, match="step 'total' is missing its required input 'values'"):
        broken()


def test_unknown_parameter_names_step_and_parameter() -> None:
    @my.pipeline
    def broken():
        total(make(2), offst=1)

    with pytest.raises(InvalidInput, match="step 'total' has no parameter 'offst'") as info:
        broken()
    assert info.value.field == "offst"


def test_too_many_arguments_name_the_step() -> None:
    @my.pipeline
    def broken():
        make(1, 2)

    with pytest.raises(InvalidInput, match="step 'make': too many positional arguments"):
        broken()


def test_annotated_type_mismatch_between_producer_and_consumer() -> None:
    @my.pipeline
    def broken():
        shout(total(make(2)))

    with pytest.raises(
        InvalidInput,
        match="step 'shout', parameter 'text' expects str but step 'total' returns int",
    ):
        broken()


def test_compatible_and_unresolvable_annotations_pass() -> None:
    @my.step
    def anything(x: object) -> None:
        return None

    @my.step
    def vague(x: NoSuchType) -> int:  # type: ignore[name-defined]  # noqa: F821
        return 1

    @my.pipeline
    def fine():
        anything(total(make(2)))
        vague(make(1))

    assert list(fine().nodes) == ["make", "total", "anything", "make_2", "vague"]


def test_pipeline_parameters_are_checked() -> None:
    with pytest.raises(
        InvalidInput, match="pipeline 'adding' is missing its required parameter 'n'"
    ):
        adding.run()
    with pytest.raises(InvalidInput, match="pipeline 'adding' has no parameter 'm'"):
        adding.run(n=1, m=2)


def test_pipeline_parameters_may_not_shadow_run_options() -> None:
    def uses_cache(cache: bool) -> None:
        make(1)

    with pytest.raises(InvalidInput, match="parameter 'cache' has the name of an option"):
        my.pipeline(uses_cache)


def test_an_empty_pipeline_is_rejected() -> None:
    @my.pipeline
    def nothing():
        return None

    with pytest.raises(InvalidInput, match="calls no steps"):
        nothing()


def test_using_a_placeholder_value_in_the_pipeline_function_is_explained() -> None:
    @my.pipeline
    def branches():
        if make(2):
            total(make(1))

    with pytest.raises(InvalidInput, match="output of step 'make' is a placeholder"):
        branches()


def test_outputs_inside_containers_are_rejected() -> None:
    @my.step
    def join(parts: list) -> list:
        return parts

    @my.pipeline
    def nested():
        join([make(1), make(2)])

    with pytest.raises(InvalidInput, match="step 'join', parameter 'parts': the output of step"):
        nested()


def test_outputs_given_to_a_step_outside_a_pipeline_are_rejected() -> None:
    graph_output = None

    @my.pipeline
    def keep():
        nonlocal graph_output
        graph_output = make(1)

    keep()
    with pytest.raises(InvalidInput, match="outside a pipeline"):
        total(graph_output)


def test_unknown_step_options_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="unknown option cach"):
        my.step(cach=False)(lambda: 1)  # type: ignore[call-overload]
    with pytest.raises(InvalidInput, match="retries must be"):
        my.step(retries=-1)(make.fn)


def test_params_without_canonical_json_fail_before_anything_runs(pipe_client: Client) -> None:
    @my.pipeline
    def odd():
        total(make(2), offset={1, 2})

    with pytest.raises(InvalidInput, match=r"step 'total', param 'offset' is a builtins\.set"):
        odd.run(client=pipe_client)
    assert pipe_client.list_projects() == []  # no run was started
