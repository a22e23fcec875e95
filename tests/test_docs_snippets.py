"""Every snippet of README.md and docs/*.md runs as written.

For each document, its ```python blocks and the ``modelyard ...`` lines of its ```bash
blocks (and ``echo "$PW" | modelyard ...``, with ``PW`` set) run in the order they
appear, as one script in a fresh folder over the test's store: a later snippet may use
what an earlier one made, as a reader following the page would; every command must exit
0. What cannot run here is listed in ``SKIPPED`` with the reason, and README's tour gets
the run ids the quickstart made in place of its placeholders.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelyard.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
PASSWORD = "correct-horse-battery-staple-42"

#: (document, text the snippet or command starts with) -> why it does not run here.
SKIPPED: dict[tuple[str, str], str] = {
    ("README.md", "modelyard server"): "serves until stopped (tests/cli starts servers)",
    ("docs/server.md", "modelyard server"): "serves until stopped (tests/cli starts servers)",
    ("docs/serving.md", "modelyard serve --project shop"): (
        "serves until stopped (tests/serving starts servers)"
    ),
    ("docs/server.md", "import modelyard as my\n\nclient = my.connect("): (
        "needs the server of the block above (tests/remote run the SDK over HTTP)"
    ),
    ("docs/pipelines.md", 'result = training.run(month="2011-03", executor="ray")'): (
        "starts a Ray instance (tests/pipelines/test_ray.py)"
    ),
    (
        "docs/serving.md",
        "modelyard predict churn-api --input dataset:customers@1 --output churn-scores --ray",
    ): ("starts a Ray instance (tests/serving/test_scoring.py)"),
    ("docs/server.md", "modelyard users create admin --admin           # prompts"): (
        "the block above made the same administrator"
    ),
    ("docs/governance.md", "modelyard mfa confirm"): "needs a code from the authenticator",
    ("docs/governance.md", "modelyard tokens revoke 3f2a9c1d4e5b6a70"): "an id of the reader's",
    ("docs/data.md", "modelyard lineage 5b0cae7f"): "a run id of the reader's store",
    ("docs/registry.md", 'my.models.approve("tumour", 2'): (
        "needs a second user, an approver (tests/registry/test_lifecycle.py approves)"
    ),
}


@dataclass(frozen=True, slots=True)
class Snippet:
    document: str
    line: int
    language: str
    text: str


def snippets(document: str) -> list[Snippet]:
    """The python blocks and the ``modelyard`` command lines of bash blocks, in order
    (a command continued with a trailing backslash is one line)."""
    text = (ROOT / document).read_text()
    found: list[Snippet] = []
    for match in FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start(2)) + 1
        if language == "python":
            found.append(Snippet(document, line, "python", body))
        elif language == "bash":
            found.extend(_commands(document, line, body))
    return found


def _commands(document: str, first: int, body: str) -> list[Snippet]:
    commands, pending, start = [], "", first
    for number, raw in enumerate(body.splitlines(), first):
        if not pending:
            start = number
        pending += raw.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.startswith("modelyard ") or pending.startswith('echo "$PW" | modelyard '):
            commands.append(Snippet(document, start, "bash", pending))
        pending = ""
    return commands


def skipped(snippet: Snippet) -> str | None:
    for (document, start), why in SKIPPED.items():
        if snippet.document == document and snippet.text.startswith(start):
            return why
    return None


def script(document: str, placeholders: dict[str, str]) -> str:
    """One Python script that runs the document's snippets in order."""
    parts = [
        textwrap.dedent(
            f"""
            import os as _os
            import subprocess as _subprocess


            def _shell(_where, _command):
                _done = _subprocess.run(
                    ["bash", "-c", _command],
                    input="{PASSWORD}\\n{PASSWORD}\\n",
                    capture_output=True,
                    text=True,
                    start_new_session=True,  # no terminal: a password prompt reads stdin
                    env={{**_os.environ, "PW": "{PASSWORD}"}},
                    timeout=300,
                )
                if _done.returncode != 0:
                    raise SystemExit(
                        f"{{_where}}: `{{_command}}` exited {{_done.returncode}}:\\n"
                        f"{{_done.stdout[-2000:]}}{{_done.stderr[-2000:]}}"
                    )
            """
        )
    ]
    for snippet in snippets(document):
        where = f"{document}:{snippet.line}"
        if skipped(snippet):
            continue
        parts.append(f"# --- {where}")
        if snippet.language == "python":
            parts.append(snippet.text)
            continue
        command = snippet.text
        for placeholder, value in placeholders.items():
            command = command.replace(placeholder, value)
        parts.append(f"_shell({where!r}, {command!r})")
    return "\n".join(parts)


def run_script(document: str, folder: Path, placeholders: dict[str, str] | None = None) -> None:
    folder.mkdir(exist_ok=True)
    path = folder / f"{Path(document).stem.lower()}_snippets.py"
    path.write_text(script(document, placeholders or {}))
    done = subprocess.run(
        [sys.executable, path.name],
        cwd=folder,
        env=_with_venv_path(),
        capture_output=True,
        text=True,
        timeout=480,
    )
    if done.returncode != 0:
        lines = path.read_text().splitlines()
        failed = [int(n) for n in re.findall(rf'File ".*{path.name}", line (\d+)', done.stderr)]
        where = next(
            (
                line.removeprefix("# --- ")
                for line in reversed(lines[: failed[-1]] if failed else [])
                if line.startswith("# --- ")
            ),
            "",
        )
        what = f"the snippet at {where}" if where else "a command"  # its line is in stderr
        pytest.fail(f"{document}: {what} failed:\n{done.stderr[-4000:]}")


def _with_venv_path() -> dict[str, str]:
    """This environment, with the ``modelyard`` of this interpreter first on PATH."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture
def docs_env(settings_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MODELYARD_TRACKING_SYSTEM_METRICS_INTERVAL_S", "0")
    return settings_env


def test_every_snippet_is_found_and_every_skip_is_used() -> None:
    found = [s for document in DOCUMENTS for s in snippets(document)]
    assert sum(s.language == "python" for s in found) >= 15
    used = {
        (s.document, start)
        for s in found
        for (document, start) in SKIPPED
        if s.document == document and s.text.startswith(start)
    }
    assert used == set(SKIPPED)


@pytest.mark.slow
@pytest.mark.parametrize(
    "document", [d for d in DOCUMENTS if d != "README.md" and snippets(d)], ids=str
)
def test_the_snippets_of_a_document_run(document: str, docs_env: Settings, tmp_path: Path) -> None:
    run_script(document, tmp_path / "work")


@pytest.mark.slow
def test_the_readme_runs_after_the_quickstart(docs_env: Settings, tmp_path: Path) -> None:
    """The README in the environment ``./scripts/quickstart`` makes: the quickstart
    first (the tour, then the monitoring story), then every snippet, the tour with the
    ids the quickstart printed and the story's alerts and loops."""
    work = tmp_path / "work"
    work.mkdir()
    started = subprocess.run(
        ["modelyard", "quickstart"],
        cwd=work,
        env=_with_venv_path(),
        capture_output=True,
        text=True,
        timeout=600,  # a stuck quickstart fails, not the whole run: it takes 2-3 minutes
    )
    assert started.returncode == 0, started.stderr
    for told in ("The story of bikeshare-busy@champion", "promoted", "recovered", "Reports:"):
        assert told in started.stdout, started.stdout
    ids = dict(re.findall(r"modelyard (runs show|pipelines explain) (\w+)", started.stdout))
    compared = re.search(r"modelyard runs compare (\w+) (\w+)", started.stdout)
    assert compared is not None and len(ids) == 2, started.stdout
    placeholders = {
        "<run id or a prefix of 6+ hex digits>": ids["runs show"],
        "<id> <id>": f"{compared[1]} {compared[2]}",
        "<id>": ids["runs show"],
        "<pipeline run id>": ids["pipelines explain"],
    }
    run_script("README.md", work, placeholders)


def test_the_quickstart_installs_what_the_readme_uses() -> None:
    """``./scripts/quickstart`` makes the environment the README's sections run in."""
    extras = re.search(r'ensure_venv "([^"]+)"', (ROOT / "scripts" / "quickstart").read_text())
    assert extras is not None
    readme = (ROOT / "README.md").read_text()
    needs = {"plot"}  # the quickstart's own figures
    if "modelyard server" in readme:
        needs.add("server")
    if re.search(r"^(from|import) sklearn", readme, re.MULTILINE):
        needs.add("sklearn")
    assert needs <= set(extras[1].split(","))
