"""The `wattgate` CLI, run in-process against a real SQLite database."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from proxy.cli import cli


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WATTGATE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("WATTGATE_CONFIG", raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args), obj={}, catch_exceptions=False)

    return invoke


def test_teams_and_keys_lifecycle(run) -> None:
    assert run("teams", "create", "search").exit_code == 0
    result = run("keys", "create", "--team", "search", "--format", "json")
    assert result.exit_code == 0
    created = orjson.loads(result.stdout)
    assert set(created) == {"key", "key_id", "team"} and created["team"] == "search"
    assert created["key"].startswith("wg-")

    listed = orjson.loads(run("keys", "list", "--format", "json").stdout)
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert created["key"] not in run("keys", "list").stdout  # never the secret

    assert run("keys", "revoke", created["key_id"]).exit_code == 0
    again = run("keys", "revoke", created["key_id"])
    assert again.exit_code == 1 and "no active key" in again.output

    csv_out = run("teams", "list", "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "team,created_at" and csv_out[1].startswith("search,")


def test_clear_errors(run, tmp_path: Path) -> None:
    result = run("keys", "create", "--team", "ghost")
    assert result.exit_code == 1 and "team 'ghost' does not exist" in result.output
    run("teams", "create", "search")
    duplicate = run("teams", "create", "search")
    assert duplicate.exit_code == 1 and "Traceback" not in duplicate.output
    bad_name = run("teams", "create", "no spaces")
    assert bad_name.exit_code == 1 and "invalid team name" in bad_name.output
    config = tmp_path / "bad.yaml"
    config.write_text("models:\n  - name: gpt-4o\n    base_url: http://x/v1\n    gpu_cnt: 4\n")
    result = run("--config", str(config), "teams", "list")
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == "Error: configuration error: config: unknown key 'models[0].gpu_cnt'"
    )


def test_help_everywhere(run) -> None:
    for args in (
        ["--help"],
        ["serve", "--help"],
        ["keys", "create", "--help"],
        ["teams", "--help"],
        ["db", "upgrade", "--help"],
        ["mock-upstream", "-h"],
    ):
        result = run(*args)
        assert result.exit_code == 0 and "Usage:" in result.output
    assert "WATTGATE_DATABASE_URL" in run("serve", "--help").output


def test_db_upgrade(run) -> None:
    result = run("db", "upgrade")
    assert result.exit_code == 0 and "database at revision" in result.output
