"""The request path's right-sizing hooks, opened from a config like a gateway does, with
shadow verdicts in the database deciding whether a route is active."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proxy.config import load_settings
from proxy.rightsizing.hooks import RightsizingHooks
from proxy.store.db import create_engine
from proxy.store.migrate import upgrade
from proxy.store.shadow import VERDICT_COLUMNS, insert_verdict
from proxy.tasks import shape_request
from proxy.upstream import UpstreamClient

CLASSIFY = shape_request("chat.completions", {
    "messages": [{"role": "user", "content": "Classify this ticket: where is my parcel?"}],
    "max_tokens": 3})
CONFIG = """
models:
  - {name: small, base_url: "MOCK", upstream_model: mock-small}
shadow:
  rules: [{team: support, task: classification, candidate: small, sample_rate: 0.5}]
route:
  rules: [{team: support, task: classification, from: gpt-4o, to: small,
           min_agreement: 0.9, min_samples: 20}]
"""


def verdict(i: int, verdict: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(VERDICT_COLUMNS, 0)
    row.update(created_at=datetime.now(UTC), request_id=f"r{i}", team="support",
               task="classification", model="openai/gpt-4o", candidate="small",
               candidate_model=None, comparison="label", verdict=verdict, status_code=200,
               usage_source="upstream", grid_zone=None, method=None)
    return row


async def test_route_follows_the_stored_verdicts(tmp_path: Path, mock_upstream: str,
                                                 db_url: str) -> None:
    path = tmp_path / "wattgate.yaml"
    path.write_text(CONFIG.replace("MOCK", mock_upstream))
    settings = load_settings(env={"WATTGATE_DATABASE_URL": db_url}, config_path=str(path))
    await asyncio.to_thread(upgrade, db_url)
    engine = create_engine(db_url)
    upstream = UpstreamClient(connect_timeout_s=5, read_timeout_s=30)
    await upstream.start()
    hooks = RightsizingHooks.build(settings, engine, upstream)
    await hooks.start()
    assert hooks.shadow is not None and hooks.board is not None

    def route(model: str = "gpt-4o", team: str = "support", **headers: bytes):  # type: ignore[no-untyped-def]
        return hooks.route(team=team, shape=CLASSIFY, model=model,
                           headers={k.replace("_", "-").encode(): v for k, v in headers.items()})

    assert route() is None  # no evidence yet
    for i in range(19):
        await insert_verdict(engine, verdict(i, "agree"))
    await hooks.board.refresh()
    assert route() is None  # 19 samples: one short
    await insert_verdict(engine, verdict(19, "disagree"))
    await insert_verdict(engine, verdict(20, "error"))  # failed candidate calls do not count
    await hooks.board.refresh()
    decision = route()  # 19 of 20 agree: 95% >= 90%
    assert decision is not None and decision.to == "small"
    assert decision.response_headers() == [(b"x-wattgate-rerouted-from", b"gpt-4o")]
    assert route(x_wattgate_reroute=b"off") is None
    assert route(x_wattgate_reroute=b"on") is not None
    assert route(model="gpt-4o-mini") is None and route(team="search") is None
    summary = shape_request("chat.completions", {"messages": [
        {"role": "user", "content": "Summarize this."}]})
    assert hooks.route(team="support", shape=summary, model="gpt-4o", headers={}) is None
    for i in range(21, 24):
        await insert_verdict(engine, verdict(i, "disagree"))
    await hooks.board.refresh()
    assert route() is None  # 19 of 23: below 90% again
    await hooks.close()

    bare = RightsizingHooks.build(load_settings(env={}), engine, upstream)
    await bare.start()
    assert bare.shadow is None and bare.board is None
    assert bare.route(team="support", shape=CLASSIFY, model="gpt-4o", headers={}) is None
    assert not bare.after_answer(None, None, None)  # type: ignore[arg-type]
    await bare.close()
    await upstream.close()
    await engine.dispose()
