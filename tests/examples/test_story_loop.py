"""The story watched (examples/story_loop.py): monitors, alerts, the closed loop and the
health score on a shortened replay, on the replay's clock."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modelyard import Client
from modelyard.config import Settings
from modelyard.examples import quickstart_monitoring as story
from modelyard.examples._bikeshare import load_bikeshare
from modelyard.examples.story_loop import DEPLOYMENT, PERFORMANCE_MONITOR, tell_story

ENDS = ("promoted", "rolled_back", "rejected")


@pytest.mark.slow
def test_the_monitors_catch_the_change_and_the_loop_retrains_canaries_and_decides(
    tmp_path: Path, bikeshare_path: Path
) -> None:
    hours = load_bikeshare()
    # July and August replayed, behaviour changing on 1 August.
    hours = hours[hours["time"] < pd.Timestamp("2011-09-01T00:00:00-04:00")]
    change = story.Change(at="2011-08-01T00:00:00-04:00")
    home = tmp_path / "home"
    told = tell_story(Settings(home=home), "story", change=change, hours=hours)

    watch = told.watch
    fell = [
        a
        for a in watch.opened
        if a.monitor == PERFORMANCE_MONITOR and a.subject_kind == "deployment"
    ]
    assert fell, [a.title for a in watch.opened]
    # Labels given now (2026) for 2011's predictions were joined by the pass on the
    # replay's clock: the alert judged realised accuracy from them.
    assert fell[0].details["labelled"] >= 8 and fell[0].details["judged"] == "realised"
    assert fell[0].details["window_end"] > change.at_ms
    # The loop that alert started decided; a later bad day of the new champion may start
    # another before the replay ends (the canary's split is a random draw per request).
    with Client(home=home) as client:
        runs = client.loops.list_runs(DEPLOYMENT, project="story")
    assert watch.loop is not None and runs[0].id == watch.loop.id
    started = [r for r in runs if r.trigger.get("alert_id") == fell[0].id]
    assert len(started) == 1 and started[0].state in ENDS, [(r.state, r.trigger) for r in runs]
    steps = {s.name: s for s in started[0].steps}
    assert steps["retrain"].status == steps["canary"].status == "done"
    assert steps["compare"].detail["decision"] in ("promote", "rollback")

    kinds = [e.kind for e in told.story.timeline.events]
    for kind in ("trained", "deployed", "watched", "change", "performance", "retrained", "canary"):
        assert kind in kinds, kinds
    assert "promoted" in kinds or "rolled back" in kinds
    assert not told.story.timeline.waiting() or told.story.timeline.waiting() == ["recovered"]
    assert len(told.reports) == 3 and all(p.exists() for p in told.reports)
