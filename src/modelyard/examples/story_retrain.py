"""The story's retraining pipeline, which its closed loop runs
(``modelyard.examples.story_retrain:retrain``, see ``examples/story_loop.py``): the next
version of ``bikeshare-busy`` learnt from the newest labelled hours of the prediction log.

One step, never cached (each turn of the loop has newer labels): the hours
``bikeshare-api`` answered in the ``days`` before its newest labelled one, with their
labels, registered as a version of ``bikeshare-hours`` and trained on with
``quickstart_monitoring.train_version`` inside the step's run, so the model version
belongs to the pipeline run (the loop's ``register`` step finds it so).
"""

from __future__ import annotations

from modelyard.pipelines import pipeline, step


@step(cache=False)
def train_on_newest_hours(days: float) -> int:
    """The version number of the model trained on the newest ``days`` of labelled hours."""
    import pandas as pd

    import modelyard as my
    from modelyard.errors import InvalidInput
    from modelyard.examples.quickstart_monitoring import labelled_hours, train_version

    run = my.active_run()
    if run is None:
        raise InvalidInput("the retraining step runs inside a pipeline run", field="run")
    hours = labelled_hours(run.client, run.project)
    if hours.empty:
        raise InvalidInput("the deployment has no labelled hours to learn from", field="days")
    newest = hours["time"].max()
    recent = hours[hours["time"] > newest - pd.Timedelta(days=days)].reset_index(drop=True)
    first = recent["time"].min()
    trained = train_version(
        run.client,
        run.project,
        recent,
        what=f"the labelled hours of {first:%d %B} to {newest:%d %B %Y}",
    )
    return trained.version.version


@pipeline
def retrain(days: float = 7.0) -> None:
    """Train the next version of the story's model on the newest ``days`` of labels."""
    train_on_newest_hours(days)
