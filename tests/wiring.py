"""Helpers for end-to-end tests of the request path's wiring: keys made with the CLI before
a gateway starts (so a config can name their ids), usage rows read by request id, and a
scan of every stored row for text that must never be stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import orjson
from click.testing import CliRunner
from sqlalchemy import text

from proxy.cli import cli
from proxy.store.db import create_engine
from tests.servers import Gateway


def cli_key(database_url: str, team: str) -> dict[str, str]:
    """`wattgate teams create TEAM` (if needed) and `wattgate keys create --format json`:
    `{"key", "key_id", "team"}`."""
    runner = CliRunner()
    env = {"WATTGATE_DATABASE_URL": database_url, "WATTGATE_CONFIG": None}
    runner.invoke(cli, ["teams", "create", team], env=env, obj={})
    result = runner.invoke(cli, ["keys", "create", "--team", team, "--format", "json"],
                           env=env, obj={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return dict(orjson.loads(result.stdout))


def table(database_url: str, name: str) -> list[dict[str, Any]]:
    """Every row of one table (`usage_events`, `shadow_verdicts`), oldest first."""

    async def query() -> list[dict[str, Any]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text(f"SELECT * FROM {name} ORDER BY id"))
                return [dict(r._mapping) for r in result]
        finally:
            await engine.dispose()

    return asyncio.run(query())


def rows_of(database_url: str, values: Iterable[str], column: str = "request_id",
            timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The usage rows whose `column` (`request_id`, `response_id`) holds each of `values`,
    in that order (one row each: calls without retries), waiting until all are written."""
    wanted = list(values)
    deadline = time.monotonic() + timeout_s
    while True:
        found = {r[column]: r for r in table(database_url, "usage_events")}
        if all(v in found for v in wanted):
            return [found[v] for v in wanted]
        if time.monotonic() > deadline:
            missing = [v for v in wanted if v not in found]
            raise TimeoutError(f"no usage row with {column} {missing}")
        time.sleep(0.05)


def assert_never_stored(database_url: str, secret: str, tables: Iterable[str]) -> int:
    """No value of any row of `tables` contains `secret` (case-insensitive); returns how
    many rows were scanned."""
    scanned = 0
    for name in tables:
        for row in table(database_url, name):
            scanned += 1
            for column, value in row.items():
                assert secret.lower() not in str(value).lower(), (name, column)
    return scanned


@dataclass
class Setup:
    """A running gateway, its database and keys (by team or role), with the official SDKs'
    clients for each key."""

    gateway: Gateway
    database_url: str
    keys: dict[str, str]

    def openai(self, who: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gateway.base_url, api_key=self.keys[who],
                             max_retries=0)

    def anthropic(self, who: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.gateway.url, api_key=self.keys[who],
                                   max_retries=0)

    def row(self, value: str, column: str = "request_id") -> dict[str, Any]:
        """The usage row of one call, by `request_id`, (Responses) `response_id` or
        `end_user` (see `tag`)."""
        return rows_of(self.database_url, [value], column)[0]

    def tag(self, name: str) -> tuple[dict[str, str], str]:
        """A header naming the end user `name`, and the `end_user` its call's row stores:
        a handle on the row of a call made through an SDK helper that shows no response
        headers (`name` must be new to the test)."""
        runtime = self.gateway.app.runtime
        assert runtime is not None
        stored = runtime.end_users.stored(name)
        assert stored is not None
        return {"x-wattgate-end-user": name}, stored
