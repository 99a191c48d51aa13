"""A gateway (re)started while its database is unreachable starts anyway: team keys come
from the local key snapshot, usage goes to the journal, `/readyz` says degraded; once the
database answers, migrations run and every journaled row is stored."""

from __future__ import annotations

import stat
from pathlib import Path

import openai
import pytest

from tests.db_faults import DatabaseHang
from tests.faults.conftest import ServeFactory, report, stored_rows

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}]}


@pytest.mark.postgres
async def test_a_gateway_starts_and_serves_while_its_database_is_unreachable(
    pg_url: str, serve: ServeFactory, tmp_path: Path
) -> None:
    """A database server that does not answer is an outage to start through. (A SQLite
    file is local: a folder that is not there is a configuration mistake, refused at start
    by tests/integration/test_serve_checks.py.)"""
    db_url = pg_url
    hang = DatabaseHang(db_url)  # accepts connections, never answers
    try:
        first = serve(hang.url).start()
        key, _ = first.create_team_key("offline")
        earlier = openai.OpenAI(base_url=first.url + "/v1", api_key=key, max_retries=0)
        calls = [earlier.chat.completions.with_raw_response.create(**CHAT)]
        first.stop()
        snapshot = tmp_path / "journal" / "wattgate-keys.json"
        assert stat.S_IMODE(snapshot.stat().st_mode) == 0o600
        assert key not in snapshot.read_text()  # hashes only

        with hang.during():
            offline = serve(hang.url).start()
            code, ready = offline.readyz()
            assert (code, ready["status"]) == (200, "degraded")
            assert ready["database"].startswith("unavailable: migrations pending")
            client = openai.OpenAI(base_url=offline.url + "/v1", api_key=key, max_retries=0)
            calls += [client.chat.completions.with_raw_response.create(**CHAT)
                      for _ in range(5)]
            streamed = client.chat.completions.with_streaming_response.create(**CHAT, stream=True)
            with streamed as raw:
                calls.append(raw)
                assert raw.read().rstrip().endswith(b"data: [DONE]")
            bad = openai.OpenAI(base_url=offline.url + "/v1", api_key="wg-unknown",
                                max_retries=0)
            try:
                bad.models.list()
            except openai.AuthenticationError:
                pass
            else:
                raise AssertionError("an unknown key was accepted while offline")
        offline.wait_stored()
        offline.stop()
    finally:
        hang.close()

    rows = await stored_rows(db_url)
    ids = [call.headers["x-request-id"] for call in calls]
    assert set(ids) <= rows.keys() and len(rows) == len(ids)
    report("start while the database is unreachable", database=db_url.split(":")[0],
           calls_answered=len(ids), rows_out=len(set(ids) & rows.keys()),
           rows_lost=len(set(ids) - rows.keys()), duplicates=0)
