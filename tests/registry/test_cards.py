"""Model cards: generated from what the registry knows (the run's params and metrics, the
training data with digests and profile, the latest evaluation, lineage, owners) plus the
fields people fill in; rendered as Markdown and as a self-contained HTML page with every
text escaped; refusals name their field. Both SDK modes."""

from __future__ import annotations

import re

import pytest
from lifecycle_support import frame, users_of
from sklearn.linear_model import LogisticRegression

from modelyard import limits
from modelyard.config import Settings
from modelyard.data import expect
from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.governance import SYSTEM, Governance
from modelyard.registry.cards import render_markdown
from modelyard.sdk.client import Client
from modelyard.store import open_store

HOSTILE = '<script>alert("x")</script> | <img src="http://evil.example/a.png">'


def _logged(client: Client) -> None:
    x, y = frame()
    client.datasets.register(
        "train", x.assign(y=y), project="lab", expectations=[expect.not_null("age")]
    )
    with client.start_run(project="lab") as run:
        train = client.datasets.load("train", project="lab")
        run.log_param("C", "0.5")
        run.log_metric("accuracy", 0.9)
        model = LogisticRegression(C=0.5).fit(train[["age", "spend"]], train["y"])
        client.models.log(model, "churn", input_example=train[["age", "spend"]][:3])


def test_a_card_is_what_the_registry_knows_and_the_fields_filled_in(client: Client) -> None:
    _logged(client)
    card = client.models.card("churn/1", project="lab")
    assert (card.name, card.version, card.status) == ("churn", 1, "registered")
    assert card.flavor == "sklearn"
    assert card.params == {"C": "0.5"} and card.metrics == {"accuracy": 0.9}
    assert card.owners and card.run_id is not None and card.evaluation is None
    [data] = card.datasets
    stored = client.datasets.get("train", project="lab")
    assert (data["name"], data["version"], data["digest"], data["rows"]) == (
        "train",
        1,
        stored.digest,
        80,
    )
    assert [c["name"] for c in data["profile"]] == ["age", "spend", "y"]
    assert card.fields == {} and card.updated_by is None

    filled = client.models.set_card_fields(
        "churn",
        1,
        project="lab",
        intended_use="Rank customers by churn risk",
        license="Apache-2.0",
        data_owner="crm team",
    )
    assert filled.fields == {
        "intended_use": "Rank customers by churn risk",
        "license": "Apache-2.0",
        "data_owner": "crm team",
    }
    assert filled.updated_by is not None and filled.updated_at is not None
    cleared = client.models.set_card_fields("churn", project="lab", license="")
    assert "license" not in cleared.fields and cleared.fields["intended_use"]

    markdown = render_markdown(cleared)
    for text in (
        "# Model card: lab/churn version 1",
        "## Intended use",
        "Rank customers",
        "## License",
        "_Not filled in._",
        "## Data owner",
        "| C | 0.5 |",
        f"blake3:{stored.digest}",
        "### Profile of train version 1",
    ):
        assert text in markdown, text


def test_markdown_and_html_escape_every_text_and_reach_nothing_outside(client: Client) -> None:
    _logged(client)
    card = client.models.set_card_fields(
        "churn/1", project="lab", limitations=HOSTILE, intended_use="a\nb"
    )
    page = client.models.card_html(card)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert not re.search(r"<[^>]*\b(src|href|action)\s*=", page) and "url(" not in page
    assert "http://" not in page.replace("http://evil.example/a.png", "")
    markdown = client.models.card_markdown(card)
    assert "<script" not in markdown and "&lt;script&gt;" in markdown
    assert "\\|" in markdown  # a pipe stays inside its table cell or paragraph
    assert "a<br>b" in markdown


def test_card_refusals_name_their_field_and_write_nothing(client: Client) -> None:
    _logged(client)
    bad = [
        ({"Intended Use": "x"}, "fields"),
        ({"intended_use": 3}, "intended_use"),
        ({"license": "x" * (limits.DESCRIPTION + 1)}, "license"),
    ]
    for fields, field in bad:
        with pytest.raises(InvalidInput) as exc:
            client.models.service.set_card_fields("churn", fields, project="lab", version=1)
        assert exc.value.field == field
    with pytest.raises(InvalidInput) as empty:
        client.models.service.set_card_fields("churn", {}, project="lab", version=1)
    assert empty.value.field == "fields"
    with pytest.raises(NotFound) as missing:
        client.models.card("churn/7", project="lab")
    assert missing.value.field == "version"
    assert client.models.card("churn/1", project="lab").fields == {}


@pytest.mark.local_only("reads the audit log of the store")
def test_filling_a_card_needs_contributor_and_is_audited(
    client: Client, settings: Settings
) -> None:
    _logged(client)
    with users_of(client, settings, settings.store_url) as users:
        viewer = users("vera", "viewer")
        writer = users("walt", "contributor")
        assert viewer.get_card("churn", project="lab", version=1).version == 1
        with pytest.raises(PermissionDenied):
            viewer.set_card_fields("churn", {"license": "MIT"}, project="lab", version=1)
        writer.set_card_fields("churn", {"license": "MIT"}, project="lab", version=1)
    store = open_store(settings.store_url)
    try:
        events = Governance(store).audit.list_events(actor=SYSTEM, limit=1000)
    finally:
        store.dispose()
    assert [(e.actor, e.summary) for e in events if e.action == "model.card_updated"] == [
        ("walt", "lab/churn/1: license")
    ]
