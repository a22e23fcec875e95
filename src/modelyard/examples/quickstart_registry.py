"""The quickstart's registry tour: the best model of the sweep registered, evaluated on
held-out rows, its card filled in, moved to production through a policy that needs one
approval (given by a second account, the service account ``reviewer`` with the approver
role: separation of duties compares user names), then the ``champion`` alias set and the
model loaded by it.

A second quickstart in the same store registers the same bytes, which are the same
version: one already in production is not requested again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.errors import AlreadyExists
from modelyard.governance import Actor
from modelyard.registry.entities import Evaluation, ModelVersion, TransitionRequest
from modelyard.sdk.client import Client

MODEL = "quickstart-gbm"
REVIEWER = "reviewer"
#: The tree type inside a gradient-boosting model, which skops asks the loader to vouch for.
TRUSTED = ["sklearn.tree._tree.Tree"]
POLICY = {
    "production": {
        "approvals": 1,
        "evaluation": True,
        "metrics": {"roc_auc": {"min": 0.95}},
        "card_fields": ["intended_use", "limitations"],
    }
}
CARD = {
    "intended_use": "A demonstration of Modelyard: tumour diagnosis from 30 cell measurements.",
    "limitations": "Trained on 569 tumours of one study; not for clinical use.",
    "license": "BSD-3-Clause (the data: scikit-learn's copy of the Wisconsin dataset)",
}


@dataclass(frozen=True, slots=True)
class RegistryTour:
    """What the tour did: the version, its evaluation, the request as asked and as
    approved (None when the version was in production already), and the champion's
    accuracy on the held-out rows once loaded by its alias."""

    version: ModelVersion
    evaluation: Evaluation
    asked: TransitionRequest | None
    approved: TransitionRequest | None
    loaded_type: str
    loaded_accuracy: float


def run_registry_tour(
    client: Client, project: str, model: Any, run_id: str, x_test: Any, y_test: Any
) -> RegistryTour:
    """Take ``model`` (trained in run ``run_id``) through the registry; ``x_test`` and
    ``y_test`` are rows it never saw."""
    with client.start_run(project, run_id=run_id, capture=False):  # the best run, resumed
        version = client.models.log(
            model,
            MODEL,
            input_example=x_test[:5],
            description="The best gradient-boosting configuration of the quickstart sweep.",
        )
    ref = f"{MODEL}/{version.version}"
    evaluation = client.models.evaluate(
        ref, x_test.assign(diagnosis=y_test), "diagnosis", project=project, trusted=TRUSTED
    )
    client.models.set_card_fields(MODEL, version.version, project=project, **CARD)
    client.models.set_policy(POLICY, project=project)
    asked = approved = None
    if version.status != "production":
        asked = client.models.request(
            ref, to="production", comment="the best of the sweep", project=project
        )
        approved = _reviewer(client, project).approve(asked.id, comment="evaluation checked")
    client.models.set_alias(
        MODEL, "champion", version.version, project=project, reason="approved for production"
    )
    champion = client.models.load(f"{MODEL}@champion", project=project, trusted=TRUSTED)
    accuracy = float((champion.predict(x_test) == y_test.to_numpy()).mean())
    return RegistryTour(
        version=client.models.get_version(ref, project=project),
        evaluation=evaluation,
        asked=asked,
        approved=approved,
        loaded_type=type(champion).__name__,
        loaded_accuracy=accuracy,
    )


def _reviewer(client: Client, project: str) -> Any:
    """The registry acting for the service account ``reviewer``, an approver of
    ``project`` (created by the operator running the quickstart the first time)."""
    users = client.services.governance.users
    operator = Actor.local()
    try:
        account = users.create_service_account(REVIEWER, actor=operator)
    except AlreadyExists:
        account = users.get_user(REVIEWER)
    client.services.governance.roles.grant(project, REVIEWER, "approver", actor=operator)
    return client.services.models.acting_as(Actor.of(account.principal()))
