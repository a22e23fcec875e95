"""The story's timeline: events in order, placeholders until a part fills them."""

from __future__ import annotations

from modelyard.examples._timeline import PLACEHOLDERS, Timeline


def test_the_timeline_keeps_placeholders_until_a_part_fills_them() -> None:
    timeline = Timeline()
    timeline.add("deployed", "api serves m@champion", 1_000)
    timeline.add("replayed", "July", 2_000)
    timeline.add("replayed", "August", 4_000)
    timeline.wait_for()
    assert timeline.waiting() == list(PLACEHOLDERS)
    timeline.wait_for()  # twice: the same placeholders, not two of each
    assert len(timeline.events) == 3 + len(PLACEHOLDERS)
    timeline.fill("drift", "drift on temp (share 0.4)", 3_000)
    kinds = [e.kind for e in timeline.events]
    assert kinds[:4] == ["deployed", "replayed", "drift", "replayed"]  # where it happened
    assert timeline.waiting() == ["performance", "retrained", "canary", "promoted", "recovered"]
    assert timeline.events[2].when == "1970-01-01 00:00"
    timeline.fill("promoted", "m/2 is the champion", None)
    assert "promoted" not in timeline.waiting()
