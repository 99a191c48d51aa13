"""When nothing can persist a usage row (the journal cannot be written and the database
does not answer), the gateway says so: `/readyz` 503, metered calls refused with an
OpenAI-shaped 503 by default, or served with every dropped row counted in
`wattgate_usage_rows_lost_total`. Calls answered 2xx still get their rows."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.db_faults import DatabaseHang
from tests.faults.conftest import ServeFactory, report, stored_rows
from tests.faults.gateway_process import GatewayProcess

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}]}


@pytest.fixture
def hang(db_url: str) -> Iterator[DatabaseHang]:
    hang = DatabaseHang(db_url)
    yield hang
    hang.close()


def _client(gateway: GatewayProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def _call_until_refused(client: openai.OpenAI, limit_s: float = 30.0) -> tuple[
    list[str], openai.APIStatusError
]:
    """Request ids of the calls answered before the first refusal, and that refusal."""
    answered: list[str] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            response = client.chat.completions.with_raw_response.create(**CHAT)
        except openai.APIStatusError as exc:
            return answered, exc
        answered.append(response.headers["x-request-id"])
    raise AssertionError(f"no call refused in {limit_s} s ({len(answered)} answered)")


def _blocked_journal(tmp_path: Path) -> str:
    """A journal path whose directory is a regular file: every write fails (ENOTDIR)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("the journal's directory should be here")
    return str(blocker / "usage.jsonl")


async def test_metered_calls_are_refused_while_no_row_can_be_persisted(
    db_url: str, hang: DatabaseHang, serve: ServeFactory, tmp_path: Path
) -> None:
    gateway = serve(hang.url, WATTGATE_SPOOL_PATH=_blocked_journal(tmp_path)).start()
    key, _ = gateway.create_team_key("starved")
    client = _client(gateway, key)
    first = client.chat.completions.with_raw_response.create(**CHAT)  # rows go from memory
    code, ready = gateway.readyz()
    assert (code, ready["status"], ready["database"]) == (200, "degraded", "ok")
    assert ready["journal"].startswith("unwritable: ")

    with hang.during():
        answered, refused = _call_until_refused(client)
        assert refused.status_code == 503
        assert (refused.type, refused.code) == ("server_error", "usage_unrecordable")
        code, ready = gateway.readyz()
        assert (code, ready["status"]) == (503, "unavailable")
        assert client.models.list().data  # unmetered calls still pass
    gateway.wait_stored(status="degraded")
    lost = gateway.metric("wattgate_usage_rows_lost_total")
    gateway.stop()

    rows = await stored_rows(db_url)
    calls = [first.headers["x-request-id"], *answered]
    assert set(calls) <= rows.keys() and lost == 0
    report("journal unwritable, database hanging: refuse (default)",
           database=db_url.split(":")[0], calls_answered=len(calls), calls_refused=1,
           rows_out=len(set(calls) & rows.keys()), rows_lost=int(lost), duplicates=0)


async def test_serving_anyway_counts_every_row_it_cannot_keep(
    db_url: str, hang: DatabaseHang, serve: ServeFactory, tmp_path: Path
) -> None:
    gateway = serve(hang.url, WATTGATE_SPOOL_PATH=_blocked_journal(tmp_path),
                    WATTGATE_WHEN_USAGE_UNRECORDABLE="serve", WATTGATE_USAGE_QUEUE_ROWS="5").start()
    key, _ = gateway.create_team_key("starved")
    client = _client(gateway, key)
    client.chat.completions.create(**CHAT)
    with hang.during():
        answered = [client.chat.completions.with_raw_response.create(**CHAT)
                    .headers["x-request-id"] for _ in range(40)]
        code, ready = gateway.readyz()
        assert (code, ready["status"]) == (503, "unavailable")
    gateway.wait_stored(status="degraded")
    lost = gateway.metric("wattgate_usage_rows_lost_total")
    gateway.stop()

    rows = await stored_rows(db_url)
    kept = [request_id for request_id in answered if request_id in rows]
    assert lost > 0 and len(kept) + lost == len(answered)
    report("journal unwritable, database hanging: serve", database=db_url.split(":")[0],
           calls_answered=len(answered), rows_out=len(kept), rows_lost=int(lost),
           duplicates=0)


def _tmpfs_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs none /mnt"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _tmpfs_available(), reason="needs unshare and a user mount namespace")
async def test_a_full_disk_refuses_new_calls_and_loses_no_answered_row(
    db_url: str, hang: DatabaseHang, serve: ServeFactory, tmp_path: Path
) -> None:
    """The journal on a 192 KiB tmpfs (real ENOSPC) while the database hangs."""
    volume = tmp_path / "small-volume"
    volume.mkdir()
    mount = f'mount -t tmpfs -o size=192k tmpfs {volume} && exec "$@"'
    gateway = serve(hang.url, command=["unshare", "-rm", "sh", "-c", mount, "sh"],
                    WATTGATE_SPOOL_PATH=str(volume / "usage.jsonl"),
                    WATTGATE_KEY_SNAPSHOT_PATH=str(tmp_path / "keys.json")).start()
    key, _ = gateway.create_team_key("full")
    client = _client(gateway, key)
    first = client.chat.completions.with_raw_response.create(**CHAT)
    with hang.during():
        answered, refused = _call_until_refused(client)
        assert refused.status_code == 503 and refused.code == "usage_unrecordable"
        code, ready = gateway.readyz()
        assert code == 503 and "No space left on device" in ready["journal"]
    gateway.wait_stored()  # replayed segments free the volume; the journal is written again
    lost = gateway.metric("wattgate_usage_rows_lost_total")
    gateway.stop()

    rows = await stored_rows(db_url)
    calls = [first.headers["x-request-id"], *answered]
    assert len(answered) > 50 and set(calls) <= rows.keys() and lost == 0
    report("journal volume full, database hanging", database=db_url.split(":")[0],
           calls_answered=len(calls), calls_refused=1, rows_out=len(set(calls) & rows.keys()),
           rows_lost=int(lost), duplicates=0)
