"""The papertide command end to end, against real SQLite files."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from papertide.cli import cli
from papertide.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]

RECORDS = [
    {"id": "2503.00001v1", "title": "Segment Anything in 3D CT volumes from a few clicks",
     "authors": ["Ada Lovelace", "Alan Turing"], "categories": ["cs.CV", "eess.IV"],
     "abstract": "We segment volumetric medical images interactively. Code: https://github.com/lab/sam3d.",
     "first_seen": "2025-03-03"},
    {"id": "2503.00002", "title": "Clinical language models for discharge summaries",
     "authors": ["Grace Hopper"], "categories": ["cs.CL"], "abstract": "Large language models in the clinic.",
     "first_seen": "2025-03-04"},
    {"id": "2503.00003", "title": "A <b>bold</b> & $\\alpha$-stable title", "authors": ["X Y"],
     "categories": ["q-bio.QM"], "abstract": "Retrieval for medicine.", "first_seen": "2025-04-01"},
]


def _write_jsonl(path: Path, rows: list, *, gz: bool = False) -> Path:
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def run(tmp_path: Path):
    db = tmp_path / "cli.db"
    runner = CliRunner()

    def invoke(*args: str, env: dict | None = None):
        return runner.invoke(cli, ["--db", str(db), *args], env=env, catch_exceptions=False)
    return invoke


@pytest.fixture
def papers_file(tmp_path: Path) -> Path:
    return _write_jsonl(tmp_path / "papers.jsonl.gz", RECORDS, gz=True)


def test_import_reports_counts_and_reimport_changes_nothing(run, papers_file: Path) -> None:
    first = run("import", str(papers_file), "--json")
    assert first.exit_code == 0
    assert json.loads(first.stdout.splitlines()[-1])["new"] == 3
    again = run("import", str(papers_file), "--json")
    report = json.loads(again.stdout.splitlines()[-1])
    assert (report["new"], report["updated"]) == (0, 0)


def test_import_skips_malformed_records_with_reasons(run, tmp_path: Path) -> None:
    bad = _write_jsonl(tmp_path / "bad.jsonl", [
        RECORDS[0], "{broken json", {"id": "2503.00009", "title": ""},
        {"id": "2503.00010", "title": "Dated", "first_seen": "2025-02-30"},
        {"id": "2503.00011", "title": "Huge", "abstract": "x" * 1_000_000},
        {"id": "2503.00012", "title": ["not", "text"]}, {"id": "not an id", "title": "T"},
        {"id": "2503.00013", "title": "Control\x07 chars\x00 are stripped"},
    ])
    result = run("import", str(bad))
    assert result.exit_code == 0
    assert "new 2" in result.stdout and "skipped 6" in result.stdout
    for reason in ("not valid JSON", "missing title", "invalid published date", "abstract too long",
                   "title is list", "not an arXiv id"):
        assert reason in result.stdout
    shown = json.loads(run("show", "2503.00013", "--json").stdout)
    assert shown["title"] == "Control chars are stripped"


def test_search_json_contract(run, papers_file: Path) -> None:
    run("import", str(papers_file))
    result = run("search", "3D CT segmentation clicks", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) >= {"query", "took_ms", "results"}
    top = data["results"][0]
    assert top["id"] == "2503.00001"
    assert set(top) >= {"id", "title", "authors", "published", "score", "url"}
    assert top["authors"] == ["Ada Lovelace", "Alan Turing"]
    assert top["url"] == "https://arxiv.org/abs/2503.00001"


def test_search_filters_from_options_and_query(run, papers_file: Path) -> None:
    run("import", str(papers_file))
    ids = lambda *a: [r["id"] for r in json.loads(run("search", *a, "--json").stdout)["results"]]  # noqa: E731
    assert ids("models", "--category", "cs.CL") == ["2503.00002"]
    assert ids("retrieval cat:q-bio") == ["2503.00003"]
    assert ids("author:lovelace") == ["2503.00001"]
    assert ids("language OR retrieval", "--since", "2025-04") == ["2503.00003"]
    assert ids("medical -volumetric") == []


@pytest.mark.parametrize("query", ['"unbalanced', "*", "NEAR(a b", "'; DROP TABLE papers; --",
                                   "😀🔬", "a" * 2000, "author:", 'cat:""', "-", "since:99999", "AND OR NOT"])
def test_any_query_is_valid(run, papers_file: Path, query: str) -> None:
    run("import", str(papers_file))
    result = run("search", query, "--json")
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout)["results"], list)


def test_show_accepts_versions_and_reports_missing_papers(run, papers_file: Path) -> None:
    run("import", str(papers_file))
    shown = run("show", "arXiv:2503.00001v3")
    assert shown.exit_code == 0 and "Segment Anything" in shown.stdout
    assert "https://github.com/lab/sam3d" in shown.stdout
    missing = run("show", "2599.99999")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "papertide: error: no paper '2599.99999' in the store"


def test_show_prints_upvotes_stars_and_comments(run, papers_file: Path, tmp_path: Path) -> None:
    from papertide.model import Signal
    from papertide.store import open_store

    run("import", str(papers_file))
    store = open_store(str(tmp_path / "cli.db"))
    store.add_paper_signals([("2503.00001", Signal("upvotes", 42, "2026-08-20T10:00:00+00:00", "hf-daily")),
                             ("2503.00001", Signal("github_stars", 1234, "2026-08-21T10:00:00+00:00", "github")),
                             ("2503.00001", Signal("comments", 3, "2026-08-20T10:00:00+00:00", "hf-daily"))])
    store.close()
    text = run("show", "2503.00001").stdout
    signals = next(line for line in text.splitlines() if line.startswith("signals: "))
    assert "upvotes 42 (as of 2026-08-20)" in signals and "github stars 1234 (as of 2026-08-21)" in signals
    assert "comments 3" in signals
    shown = json.loads(run("show", "2503.00001", "--json").stdout)
    assert shown["signals"]["upvotes"] == {"value": 42.0, "at": "2026-08-20T10:00:00+00:00"}
    assert shown["signals"]["github_stars"]["value"] == 1234.0


def test_unreachable_source_is_one_line_and_store_unchanged(run, papers_file: Path) -> None:
    run("import", str(papers_file))
    env = {"PAPERTIDE_HF_URL": f"http://127.0.0.1:{_closed_port()}", "PAPERTIDE_HTTP_RETRIES": "0"}
    result = run("sync", "hf-daily", "--date", "2025-06-02", env=env)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "cannot reach 127.0.0.1" in result.stderr
    assert "Traceback" not in result.output
    assert json.loads(run("stats", "--json").stdout)["papers"] == 3


def test_bad_option_values_are_clear(run) -> None:
    result = run("search", "x", "--since", "yesterday")
    assert result.exit_code == 2 and "is not a date" in result.output
    result = CliRunner().invoke(cli, ["--db", "/proc/forbidden/x.db", "stats"])
    assert result.exit_code == 1 and result.stderr.startswith("papertide: error: no folder /proc/forbidden")


def test_db_option_overrides_environment(tmp_path: Path, papers_file: Path) -> None:
    runner = CliRunner()
    env_db, opt_db = tmp_path / "env.db", tmp_path / "opt.db"
    runner.invoke(cli, ["--db", str(opt_db), "import", str(papers_file)], env={"PAPERTIDE_DB": str(env_db)})
    assert opt_db.exists() and not env_db.exists()
    runner.invoke(cli, ["import", str(papers_file)], env={"PAPERTIDE_DB": str(env_db)})
    assert env_db.exists()


def test_every_command_has_help_and_every_setting_is_documented() -> None:
    for name, command in cli.commands.items():
        assert command.help, f"command {name} has no help"
    documented = (ROOT / "docs" / "settings.md").read_text()
    for setting in SETTINGS:
        assert f"`{setting.name}`" in documented and setting.env in documented, setting.name


def test_main_command_offline_fails_over_to_sample_data(tmp_path: Path) -> None:
    """The README's main command, with every source unreachable."""
    shared = tmp_path / "shared"
    (shared / "arxiv").mkdir(parents=True)
    (shared / "hf").mkdir()
    _write_jsonl(shared / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz", RECORDS, gz=True)
    _write_jsonl(shared / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz", [], gz=True)
    dead = f"http://127.0.0.1:{_closed_port()}"
    env = {**os.environ, "PAPERTIDE_DB": str(tmp_path / "main.db"), "PAPERTIDE_SHARED_DATA": str(shared),
           "PAPERTIDE_ARXIV_OAI_URL": dead, "PAPERTIDE_HF_URL": dead, "PAPERTIDE_HTTP_RETRIES": "0",
           "PYTHON": sys.executable, "PAPERTIDE_NO_SERVE": "1"}
    proc = subprocess.run([str(ROOT / "scripts" / "run")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "papertide: error: arxiv-oai: cannot reach 127.0.0.1" in proc.stderr
    assert "importing the sample data" in proc.stderr
    assert "papers: 3" in proc.stdout and "Segment Anything" in proc.stdout


def test_a_store_written_by_a_newer_papertide_is_refused_in_one_line(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "newer.db"
    assert CliRunner().invoke(cli, ["--db", str(db), "stats"]).exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_migrations (version) VALUES (9999)")
    result = CliRunner().invoke(cli, ["--db", str(db), "stats"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip()] and "newer papertide (schema 9999" in result.stderr


def test_new_with_an_absurd_number_of_days_is_a_clear_usage_error(run) -> None:
    result = run("new", "--days", "800000")
    assert result.exit_code == 2 and "800000 is not in the range 0<=x<=36500" in result.output
    assert "Traceback" not in result.output


def test_a_store_in_a_folder_that_does_not_exist_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "dir"
    result = CliRunner().invoke(cli, ["--db", str(missing / "x.db"), "stats"])
    assert result.exit_code == 1 and f"no folder {missing}" in result.stderr
    assert not (tmp_path / "typo").exists()  # nothing left behind


def test_the_default_stores_folder_is_made_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    from papertide.store import open_store

    store = open_store(str(Path("~/.papertide/papertide.db").expanduser()))
    store.close()
    assert (tmp_path / ".papertide" / "papertide.db").is_file()


def test_a_source_whose_name_does_not_resolve_fails_at_once_in_one_line(run, papers_file: Path) -> None:
    run("import", str(papers_file))
    # .invalid never resolves (RFC 2606): the offline case, retried before until the retries ran out.
    env = {"PAPERTIDE_HF_URL": "http://papertide-test.invalid", "PAPERTIDE_HTTP_RETRIES": "5"}
    started = time.monotonic()
    result = run("sync", "hf-daily", "--date", "2025-06-02", env=env)
    assert time.monotonic() - started < 10  # five retries would sleep 1 + 2 + 4 + 8 + 16 s
    assert result.exit_code == 1 and "retrying" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "papertide: error: cannot reach papertide-test.invalid: its name does not resolve (offline?)"]
