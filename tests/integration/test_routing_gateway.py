"""Route rules and shadow evaluation on a running gateway, through the official SDK.

Verdicts are seeded in the database before the gateway starts (the agreement board loads
them at start). A classification-shaped call for `gpt-4o` from the routed team goes to the
candidate and is metered as what ran; the client can refuse; other teams, other tasks and
a threshold the evidence does not meet keep the call where it was. Shadow calls happen
after the answer, never on re-routed calls (a candidate compared with itself proves
nothing), and compare the upstream's answer, not the annotated one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from proxy.mock_upstream import MockOptions, create_mock_app
from proxy.store.db import create_engine
from proxy.store.migrate import upgrade
from proxy.store.shadow import insert_verdict
from tests.integration.conftest import GatewayFactory
from tests.integration.test_rightsizing_hooks import verdict
from tests.servers import Gateway, ServerThread
from tests.wiring import assert_never_stored, rows_of, table

SECRET = "Pangolin-Marmalade-8812"  # in every prompt; never stored
LABELS = {"type": "string", "enum": ["billing", "shipping", "refund", "other"]}
FORMAT = {"type": "json_schema", "json_schema": {"name": "q", "schema": {
    "type": "object", "properties": {"queue": LABELS}, "required": ["queue"]}}}
CLASSIFY = [{"role": "system", "content": "Classify the ticket."},
            {"role": "user", "content": f"{SECRET}: where is my parcel?"}]
CONFIG = """
models:
  - {name: small, base_url: "CANDIDATES", upstream_model: mock-small,
     headers: {x-mock-output-tokens: "1"}, estimate: {model: llama-3.1-8b}}
  - {name: slow, base_url: "CANDIDATES", upstream_model: mock-slow,
     headers: {x-mock-latency-ms: "4000"}}
display: {teams: {support: {annotate: true}}}
shadow:
  rules:
    - {team: support, task: classification, candidate: small, sample_rate: 1}
    - {team: patient, task: classification, candidate: slow, sample_rate: 1}
route:
  rules: [{team: support, task: classification, from: gpt-4o, to: small,
           min_agreement: AGREEMENT, min_samples: 20}]
"""


@pytest.fixture(scope="module")
def candidates() -> Iterator[str]:
    """A second mock upstream (…/v1) for the candidate deployments, so that what each
    upstream last received tells where a call went."""
    server = ServerThread(create_mock_app(MockOptions())).start()
    yield server.url + "/v1"
    server.stop()


def seed(database_url: str) -> None:
    """19 of 20 seeded verdicts agree: 95% over 20 samples for (support, classification,
    small)."""
    upgrade(database_url)

    async def main() -> None:
        engine = create_engine(database_url)
        try:
            for i in range(20):
                await insert_verdict(engine, verdict(i, "agree" if i else "disagree"))
        finally:
            await engine.dispose()

    asyncio.run(main())


def start(make_gateway: GatewayFactory, candidates: str, database_url: str,
          agreement: float = 0.9) -> Gateway:
    config = CONFIG.replace("CANDIDATES", candidates).replace("AGREEMENT", str(agreement))
    return make_gateway(database_url=database_url, config=config)


def model_sent(upstream: str) -> str:
    """The `model` of the last request `upstream` (a mock's …/v1) received."""
    seen = httpx.get(upstream.removesuffix("/v1") + "/mock/last-request").json()
    return str(seen["body"]["model"])


def new_verdicts(database_url: str, seeded: int = 20) -> list[dict[str, Any]]:
    return table(database_url, "shadow_verdicts")[seeded:]


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def test_route_sends_proven_calls_to_the_candidate(
    make_gateway: GatewayFactory, mock_upstream: str, candidates: str,
    db_url: str
) -> None:
    seed(db_url)
    gateway = start(make_gateway, candidates, db_url)
    support = openai.OpenAI(base_url=gateway.base_url, max_retries=0,
                            api_key=gateway.create_team_key("support"))
    search = openai.OpenAI(base_url=gateway.base_url, max_retries=0,
                           api_key=gateway.create_team_key("search"))

    def classify(client: openai.OpenAI, model: str = "gpt-4o", **kwargs: Any) -> Any:
        return client.chat.completions.with_raw_response.create(
            model=model, messages=CLASSIFY, response_format=FORMAT, **kwargs)

    rerouted = classify(support)
    assert rerouted.headers["x-wattgate-rerouted-from"] == "gpt-4o"
    assert rerouted.headers["x-wattgate-deployment"] == "small"
    assert model_sent(candidates) == "mock-small"
    assert rerouted.parse().model == "mock-small"

    refused = classify(support, extra_headers={"x-wattgate-reroute": "off"})
    assert "x-wattgate-rerouted-from" not in refused.headers
    assert "x-wattgate-deployment" not in refused.headers  # the default upstream
    assert model_sent(mock_upstream) == "gpt-4o"
    other_team = classify(search)
    assert "x-wattgate-rerouted-from" not in other_team.headers
    assert model_sent(mock_upstream) == "gpt-4o"
    generation = support.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": f"{SECRET}: write a poem"}])
    assert "x-wattgate-rerouted-from" not in generation.headers
    direct = classify(support, model="small")  # the candidate asked for by name
    assert "x-wattgate-rerouted-from" not in direct.headers

    with support.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=CLASSIFY, response_format=FORMAT, stream=True,
        stream_options={"include_usage": True},
    ) as streamed:
        assert streamed.headers["x-wattgate-rerouted-from"] == "gpt-4o"
        assert streamed.headers["x-wattgate-deployment"] == "small"
        streamed_id = streamed.headers["x-request-id"]
        chunks = list(streamed.parse())
    assert chunks[-1].model == "mock-small" and "impacts" in chunks[-1].model_extra

    ids = [r.headers["x-request-id"] for r in (rerouted, refused, other_team, direct)]
    rows = dict(zip(["rerouted", "refused", "other_team", "direct", "streamed"],
                    rows_of(db_url, [*ids, streamed_id]), strict=True))
    for name in ("rerouted", "streamed"):  # metered as what ran
        row = rows[name]
        assert row["requested_model"] == "gpt-4o" and row["served_model"] == "mock-small"
        assert row["deployment"] == "small" and row["task"] == "classification"
        assert row["model_id"] == rows["direct"]["model_id"] != rows["refused"]["model_id"]
    assert rows["refused"]["model_id"] == rows["other_team"]["model_id"] == "openai/gpt-4o"
    assert rows["rerouted"]["energy_wh"] < rows["refused"]["energy_wh"]

    # Shadow evaluation (rate 1) took the refused call only: calls the candidate served
    # itself (re-routed, or asked for by name) would compare it with itself, and other
    # teams and tasks have no rule.
    shadow = gateway.app.runtime.rightsizing.shadow
    wait_for(lambda: len(new_verdicts(db_url)) >= 1 and shadow.in_flight == 0, 20,
             "no shadow verdict stored")
    assert [v["request_id"] for v in new_verdicts(db_url)] == [rows["refused"]["request_id"]]
    assert assert_never_stored(db_url, SECRET, ["usage_events", "shadow_verdicts"]) > 20


def test_no_route_below_the_threshold(make_gateway: GatewayFactory, mock_upstream: str,
                                      candidates: str, db_url: str) -> None:
    seed(db_url)
    gateway = start(make_gateway, candidates, db_url, agreement=0.99)
    client = openai.OpenAI(base_url=gateway.base_url, max_retries=0,
                           api_key=gateway.create_team_key("support"))
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=CLASSIFY, response_format=FORMAT)
    assert "x-wattgate-rerouted-from" not in raw.headers
    assert model_sent(mock_upstream) == "gpt-4o"
    (row,) = rows_of(db_url, [raw.headers["x-request-id"]])
    assert row["served_model"] == "gpt-4o" and row["task"] == "classification"


def test_shadow_compares_the_upstream_answer_not_the_annotated_one(
    make_gateway: GatewayFactory, candidates: str, db_url: str
) -> None:
    """Team support has the annotation on; the candidate answers the same one word the
    call's upstream does, so every verdict is `agree`, plain and streamed."""
    gateway = start(make_gateway, candidates, db_url)
    client = openai.OpenAI(base_url=gateway.base_url, max_retries=0,
                           api_key=gateway.create_team_key("support"))
    ask = {"messages": [{"role": "user", "content": f"{SECRET}: classify the sentiment of "
                         "this review as positive or negative."}],
           "max_tokens": 3, "model": "gpt-4o",
           "extra_headers": {"x-mock-output-tokens": "1", "x-wattgate-reroute": "off"}}
    plain = client.chat.completions.create(**ask)
    assert (plain.choices[0].message.content or "").startswith("Hello\n\n⚡")
    with client.chat.completions.stream(**ask) as stream:
        assert "⚡" in (stream.get_final_completion().choices[0].message.content or "")
    wait_for(lambda: len(new_verdicts(db_url, 0)) >= 2, 20, "no shadow verdicts stored")
    assert [v["verdict"] for v in new_verdicts(db_url, 0)] == ["agree", "agree"]


def test_shadow_calls_never_delay_the_client(make_gateway: GatewayFactory, candidates: str,
                                             sqlite_url: str) -> None:
    """The candidate takes 4 s; the client's answer comes while no verdict exists yet."""
    gateway = start(make_gateway, candidates, sqlite_url)
    runtime = gateway.app.runtime
    assert runtime is not None and runtime.rightsizing.shadow is not None
    client = openai.OpenAI(base_url=gateway.base_url, max_retries=0,
                           api_key=gateway.create_team_key("patient"))
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=CLASSIFY, response_format=FORMAT)
    assert new_verdicts(sqlite_url, 0) == []  # answered before the candidate did
    assert raw.parse().choices[0].message.content
    wait_for(lambda: runtime.rightsizing.shadow.in_flight == 1, 5, "no shadow call started")
    assert new_verdicts(sqlite_url, 0) == []
    wait_for(lambda: len(new_verdicts(sqlite_url, 0)) == 1, 30, "no verdict after the candidate")
    (stored,) = new_verdicts(sqlite_url, 0)
    assert stored["request_id"] == raw.headers["x-request-id"]
    assert stored["candidate"] == "slow" and stored["latency_s"] >= 4.0
    assert stored["verdict"] == "agree"


def test_shadow_evidence_activates_the_route(make_gateway: GatewayFactory, candidates: str,
                                             db_url: str) -> None:
    """The loop closed by the gateway alone: its shadow verdicts make the route active at
    the next start, for a candidate deployment with its own `id` (named apart from the
    model name rules use)."""
    config = f"""
models:
  - {{name: small, id: small-a, base_url: "{candidates}", upstream_model: mock-small}}
shadow:
  rules: [{{team: support, task: classification, candidate: small, sample_rate: 1}}]
route:
  rules: [{{team: support, task: classification, from: gpt-4o, to: small,
           min_agreement: 1, min_samples: 2}}]
"""
    first = make_gateway(database_url=db_url, config=config)
    key = first.create_team_key("support")

    def classify(gateway: Gateway) -> Any:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
        return client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=CLASSIFY, response_format=FORMAT)

    for _ in range(2):
        assert "x-wattgate-rerouted-from" not in classify(first).headers  # no evidence yet
    wait_for(lambda: len(new_verdicts(db_url, 0)) == 2, 20, "no shadow verdicts stored")
    assert {v["verdict"] for v in new_verdicts(db_url, 0)} == {"agree"}
    first.stop()

    second = make_gateway(database_url=db_url, config=config)
    rerouted = classify(second)
    assert rerouted.headers["x-wattgate-rerouted-from"] == "gpt-4o"
    assert rerouted.headers["x-wattgate-deployment"] == "small-a"
    assert model_sent(candidates) == "mock-small"
