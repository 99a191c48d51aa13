"""`wattgate serve` stops with one line naming the setting when the database or the port
cannot be used, before anything starts (no migration runs, no file is created)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.processes import ServeProcess, clean_env, wattgate
from tests.servers import free_port


def serve_error(tmp_path: Path, *args: str, **env: str) -> str:
    """The one line `wattgate serve` ends with; it must fail without creating the database."""
    env.setdefault("WATTGATE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'wattgate.db'}")
    done = wattgate("serve", *args, env=clean_env(**env), cwd=tmp_path, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert {p.name for p in tmp_path.iterdir()} <= {"wattgate.yaml"}  # no database, no spool
    return line


def test_busy_port_is_found_before_migrations(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert serve_error(tmp_path, WATTGATE_PORT=str(port)) == (
            f"Error: WATTGATE_PORT: port {port} on 127.0.0.1 is already in use")
        assert serve_error(tmp_path, "--port", str(port)) == (
            f"Error: --port: port {port} on 127.0.0.1 is already in use")


def test_unknown_host(tmp_path: Path) -> None:
    line = serve_error(tmp_path, WATTGATE_HOST="no-such-host.invalid")
    assert line.startswith("Error: WATTGATE_HOST: cannot listen on 'no-such-host.invalid'")


def test_sqlite_folder_missing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'wattgate.db'}"
    assert serve_error(tmp_path, WATTGATE_DATABASE_URL=url) == (
        f"Error: WATTGATE_DATABASE_URL: the folder of SQLite file {tmp_path}/missing/wattgate.db "
        "does not exist (create it first)")


def test_postgres_unknown_host_named_where_it_was_set(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://wattgate:s3cret@no-such-host.invalid:5432/wattgate"
    line = serve_error(tmp_path, WATTGATE_DATABASE_URL=url)
    assert line.startswith("Error: WATTGATE_DATABASE_URL: cannot use PostgreSQL database "
                           "'wattgate' at no-such-host.invalid:5432: ")
    config = tmp_path / "wattgate.yaml"
    config.write_text(f"settings:\n  database_url: '{url}'\n")
    line = serve_error(tmp_path, "--config", str(config))
    assert line.startswith(f"Error: settings.database_url in {config}: cannot use PostgreSQL")
    assert "s3cret" not in line


def test_postgres_unreachable_is_an_outage_it_starts_through(tmp_path: Path) -> None:
    """A server that is not there (yet) is not a mistake: serve starts, says so in one
    warning naming the setting, and waits for it (see tests/faults/test_start_offline.py)."""
    port = free_port()  # nothing listens there
    url = f"postgresql+asyncpg://wattgate:s3cret@127.0.0.1:{port}/wattgate"
    env = clean_env(WATTGATE_DATABASE_URL=url, WATTGATE_SPOOL_PATH=str(tmp_path / "spool"))
    gateway = ServeProcess("serve", env=env, cwd=tmp_path).wait_ready()
    output = gateway.stop()
    (warning,) = [line for line in output.splitlines() if "WATTGATE_DATABASE_URL" in line]
    assert f"cannot use PostgreSQL database 'wattgate' at 127.0.0.1:{port}" in warning
    assert "starting anyway" in warning and "s3cret" not in output


@pytest.mark.postgres
def test_postgres_database_unknown(tmp_path: Path, pg_url: str) -> None:
    url = pg_url.rpartition("/")[0] + "/wattgate_no_such_database"
    line = serve_error(tmp_path, WATTGATE_DATABASE_URL=url)
    assert line.startswith("Error: WATTGATE_DATABASE_URL: cannot use PostgreSQL database "
                           "'wattgate_no_such_database' at ")
    assert line.endswith('database "wattgate_no_such_database" does not exist')
