"""Routing by a plan: canary weights drawn per request, A/B sticky by a hashed header,
shadow copies at their share, unhealthy routes sent to the champion."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from serving_support import deployment, route

from modelyard.errors import InvalidInput
from modelyard.serving._routing import BUCKETS, RoutingTable, bucket_of


def _always(_: str | None) -> bool:
    return True


def test_ab_keys_always_meet_the_same_route_and_split_by_the_weights() -> None:
    plan = deployment(
        "ab", [route("m", 1, 70), route("m", 2, 20), route("m", 3, 10)], sticky_key="X-User"
    )
    table = RoutingTable.of(plan)
    seen: dict[str, set[str | None]] = {}
    for i in range(1000):
        key = f"customer-{i}".encode()
        for _ in range(3):
            picked = table.pick({b"x-user": key}, _always)
            seen.setdefault(key.decode(), set()).add(picked.version_id)
    assert all(len(v) == 1 for v in seen.values())
    split = Counter(next(iter(v)) for v in seen.values())
    assert abs(split["m-v1"] - 700) < 50
    assert abs(split["m-v2"] - 200) < 40
    assert abs(split["m-v3"] - 100) < 30
    # the same key meets the same route in another process too: the hash is not Python's
    assert bucket_of("customer-1") == bucket_of("customer-1") < BUCKETS


def test_ab_without_the_header_names_it() -> None:
    table = RoutingTable.of(
        deployment("ab", [route("m", 1, 50), route("m", 2, 50)], sticky_key="X-User")
    )
    with pytest.raises(InvalidInput) as caught:
        table.pick({}, _always)
    assert caught.value.field == "X-User"


def test_canary_draws_each_request_by_the_weights() -> None:
    table = RoutingTable.of(deployment("c", [route("m", 1, 90), route("m", 2, 10)]))
    draw = random.Random(7).random
    split = Counter(table.pick({}, _always, draw).version_id for _ in range(10_000))
    assert abs(split["m-v2"] - 1000) < 150 and split["m-v1"] + split["m-v2"] == 10_000


def test_a_weight_of_zero_gets_nothing_and_an_unhealthy_route_goes_to_the_champion() -> None:
    table = RoutingTable.of(deployment("c", [route("m", 1, 100), route("m", 2, 0)]))
    assert {table.pick({}, _always).version_id for _ in range(2000)} == {"m-v1"}
    table = RoutingTable.of(deployment("c", [route("m", 1, 0), route("m", 2, 100)]))
    assert table.pick({}, _always).version_id == "m-v2"
    assert table.pick({}, lambda v: v != "m-v2").version_id == "m-v1"


def test_shadows_are_copied_at_their_share() -> None:
    table = RoutingTable.of(
        deployment("s", [route("m", 1)], shadows=[route("m", 2, 100), route("m", 3, 25)])
    )
    draw = random.Random(3).random
    copies = Counter(r.version_id for _ in range(4000) for r in table.copies(draw))
    assert copies["m-v2"] == 4000 and abs(copies["m-v3"] - 1000) < 120
