"""`deskpilot ai answer` (and the calibrate/eval commands' input checks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from deskpilot.db.engine import Database
from deskpilot.triage.models import AiDecision
from tests.ai.test_cli import cli_env, run  # noqa: F401 - the fixture is used by name
from tests.factories import Personas

pytestmark = pytest.mark.usefixtures("cli_env", "acme_help")


def test_answer_writes_one_line_per_query_in_order(
    db: Database, personas: Personas, tmp_path: Path
) -> None:
    queries = ["How do I reset my password?", "Where are my invoices?", "Please talk to a human"]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"query": q}) + "\n" for q in queries) + "\n")
    out = tmp_path / "out.jsonl"

    result = run(
        "ai", "answer", "--workspace", "acme", "--input", str(source), "--output", str(out)
    )

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["query"] for line in lines] == queries
    for line in lines:
        assert set(line) >= {"decision", "answer", "confidence", "citations", "reasons"}
    assert lines[0]["citations"][0]["external_id"] == "pw"
    assert lines[1]["citations"][0]["external_id"] == "invoices"
    assert lines[2]["decision"] == "escalate"
    with db.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(AiDecision)) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"text": "no query"}\n', "expected"), ("not json\n", "not JSON")],
)
def test_answer_rejects_bad_input_lines(
    personas: Personas, tmp_path: Path, content: str, message: str
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(content)
    result = run(
        "ai",
        "answer",
        "--workspace",
        "acme",
        "--input",
        str(source),
        "--output",
        str(tmp_path / "o"),
    )
    assert result.exit_code == 1
    assert message in result.output


def test_answer_needs_an_existing_workspace(personas: Personas, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"query": "hi"}\n')
    result = run(
        "ai",
        "answer",
        "--workspace",
        "nope",
        "--input",
        str(source),
        "--output",
        str(tmp_path / "o"),
    )
    assert result.exit_code == 1
