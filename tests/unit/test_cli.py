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
    result = run("keys", "list", "--team", "ghost")
    assert result.exit_code == 1 and result.output == "Error: team 'ghost' does not exist\n"
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


def test_config_works_after_the_command_name(run, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("teams: [search, 'no spaces']\n")
    for args in (["--config", str(config), "teams", "list"],
                 ["teams", "list", "--config", str(config)],
                 ["serve", "--config", str(config)],
                 ["db", "upgrade", "--config", str(config)]):
        result = run(*args)
        assert result.exit_code == 1, args
        assert result.output.startswith(
            "Error: configuration error: config: 'teams[1]': invalid team name 'no spaces'")
    assert "--config" in run("keys", "list", "--help").output


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WATTGATE_GRID_ZONE": "Atlantis"}, "WATTGATE_GRID_ZONE: unknown grid zone 'Atlantis'"),
        ({"WATTGATE_LOG_LEVEL": "loud"}, "WATTGATE_LOG_LEVEL: expected one of debug, info"),
        ({"WATTGATE_DATABASE_URL": "oracle://db/x"},
         "WATTGATE_DATABASE_URL: unsupported database URL scheme 'oracle'"),
        ({"WATTGATE_DATABASE_URL": "wattgate.db"}, "WATTGATE_DATABASE_URL: not a database URL"),
        ({"WATTGATE_UPSTREAM_BASE_URL": "api.openai.com/v1"},
         "WATTGATE_UPSTREAM_BASE_URL: 'api.openai.com/v1' is not an http:// or https:// URL"),
    ],
)
def test_serve_names_the_bad_setting(
    run, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    result = run("serve")
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: configuration error: {message}")


def test_unknown_variables_are_warned(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTGATE_DB_URL", "postgresql+asyncpg://db/wattgate")
    result = run("teams", "list", "--format", "json")
    assert result.exit_code == 0 and result.stdout == "[]\n"
    assert ("warning: environment variable WATTGATE_DB_URL is not a Wattgate setting and is "
            "ignored (did you mean WATTGATE_DATABASE_URL?)") in result.stderr


READ_ONLY = [
    ["teams", "list"],
    ["keys", "list"],
    ["report", "--month", "2026-10"],
    ["report", "--month", "2026-10", "--format", "json"],
    ["report", "--month", "2026-10", "--esg"],
    ["whatif", "--month", "2026-10", "--format", "csv"],
    ["teams", "budget", "search"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_commands_never_create_a_database(run, tmp_path: Path, args: list[str]) -> None:
    result = run(*args)
    assert not (tmp_path / "cli.db").exists()
    if args[:2] == ["teams", "budget"]:
        assert result.exit_code == 1 and "team 'search' does not exist" in result.output
        return
    assert result.exit_code == 0, result.output
    what = {"teams": "teams", "keys": "keys"}.get(args[0], "calls in 2026-10")
    where = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'} (no such file yet)"
    assert result.stderr.splitlines() == [f"no {what} in {where}"]
    if "json" in args or "--esg" in args:
        orjson.loads(result.stdout)  # the usual shape, empty


def test_read_only_commands_on_an_empty_database(run, tmp_path: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    result = run("report", "--month", "2026-10", "--format", "json")
    assert result.exit_code == 0 and orjson.loads(result.stdout)["total"]["requests"] == 0
    assert result.stderr == f"no calls in 2026-10 in sqlite+aiosqlite:///{tmp_path / 'cli.db'}\n"
    run("teams", "create", "search")
    listed = run("teams", "list", "--format", "csv")
    assert listed.stderr == "" and listed.stdout.startswith("team,created_at\nsearch,")


def test_read_only_commands_refuse_another_schema_revision(run, tmp_path: Path) -> None:
    from proxy.store.migrate import head, upgrade

    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", "0001")
    result = run("teams", "list")
    assert result.exit_code == 1
    assert result.output == (f"Error: WATTGATE_DATABASE_URL: the database is at schema revision "
                             f"0001, this wattgate reads {head()} (run: wattgate db upgrade)\n")


def test_esg_export_defaults_to_json(run) -> None:
    assert run("db", "upgrade").exit_code == 0
    doc = orjson.loads(run("report", "--esg", "--year", "2026").stdout)
    assert "Scope 3" in orjson.dumps(doc).decode()
    assert run("report", "--esg", "--format", "csv").stdout.count("\n") > 1
    table = run("report", "--esg", "--format", "table")
    assert table.exit_code == 2 and "--format json or --format csv" in table.output


def test_database_problems_are_one_line(run, monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    monkeypatch.setenv("WATTGATE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/no/dir/w.db")
    for args in (["db", "upgrade"], ["teams", "create", "search"]):
        result = run(*args)
        assert result.exit_code == 1
        assert result.output == (f"Error: WATTGATE_DATABASE_URL: the folder of SQLite file "
                                 f"{tmp_path}/no/dir/w.db does not exist (create it first)\n")


@pytest.mark.postgres
def test_read_only_commands_leave_an_unmigrated_postgres_alone(
    run, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    from proxy.store.db import display_url
    from proxy.store.migrate import current

    monkeypatch.setenv("WATTGATE_DATABASE_URL", pg_url)
    result = run("report", "--month", "2026-10", "--format", "csv")
    assert result.exit_code == 0 and result.stdout.startswith("requests,")
    assert result.stderr == f"no calls in 2026-10 in {display_url(pg_url)} (no tables yet)\n"
    assert current(pg_url) is None  # still never migrated
    unknown = pg_url.rpartition("/")[0] + "/wattgate_no_such_database"
    monkeypatch.setenv("WATTGATE_DATABASE_URL", unknown)
    result = run("teams", "list")
    assert result.exit_code == 1 and result.output.startswith(
        "Error: WATTGATE_DATABASE_URL: cannot use PostgreSQL database 'wattgate_no_such_database'")
