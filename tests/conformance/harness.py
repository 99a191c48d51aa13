"""Calls made twice, direct and through Wattgate, and what each side of them saw.

The recording upstream serves OpenAI-format calls below a base path (`/openai/v1`) and
Anthropic ones below `/anthropic`; Wattgate's deployments point there, and direct calls
use the same base URLs, so both calls should reach the same request-target. A `Side` is
one running Wattgate (open mode or team-key mode); a `Harness` makes a call direct or
through it, with the official SDKs, httpx or a raw socket, and returns an `Outcome`: what
the client got and what reached the upstream.

Direct calls in team-key mode carry the deployment's key (what Wattgate must send in the
team's place); in open mode both calls carry the client's own key.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conformance.client import (
    Recorder,
    Seen,
    anthropic_client,
    openai_client,
    raw_exchange,
    raw_request,
)
from tests.conformance.compat import Mode
from tests.conformance.upstream import Capture, RecordingUpstream
from tests.rows import fetch_rows
from tests.servers import Gateway, start_gateway

MASTER_KEY = "wg-conformance-master"
DEPLOYMENT_KEY = "sk-upstream-secret"
ANTHROPIC_KEY = "sk-ant-house"
CLIENT_OPENAI_KEY = "sk-client-own"
CLIENT_ANTHROPIC_KEY = "sk-ant-client-own"
OPENAI_ROOT = "/openai"  # the recording upstream's OpenAI-format server, below this path
OPENAI_BASE = OPENAI_ROOT + "/v1"
ANTHROPIC_BASE = "/anthropic"
TRANSLATED_MODEL = "house-chat"  # an OpenAI-format deployment serving /v1/messages
ALIASED_MODEL = "house-alias"  # a deployment with an upstream_model
UPSTREAM_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
ALIAS_HEADER = ("X-Deployment-Tag", "house-alias")  # the aliased deployment's `headers:`


def gateway_env(upstream: RecordingUpstream, tmp: Path, *, team: bool) -> dict[str, str]:
    env = {
        "WATTGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'wattgate.db'}",
        "WATTGATE_SPOOL_PATH": str(tmp / "spool.jsonl"),
        "WATTGATE_UPSTREAM_BASE_URL": upstream.url + OPENAI_BASE,
        "WATTGATE_ANTHROPIC_BASE_URL": upstream.url + ANTHROPIC_BASE,
        "WATTGATE_KEY_CACHE_TTL_S": "0.5",
        "HOUSE_KEY": DEPLOYMENT_KEY,
    }
    if team:
        env.update(WATTGATE_MASTER_KEY=MASTER_KEY, WATTGATE_UPSTREAM_API_KEY=DEPLOYMENT_KEY,
                   ANTHROPIC_API_KEY=ANTHROPIC_KEY)
    return env


def start(upstream: RecordingUpstream, tmp: Path, *, team: bool, models: str = "") -> Gateway:
    """A Wattgate on the recording upstream; `models` adds YAML `models:` entries."""
    config = tmp / "wattgate.yaml"
    config.write_text(textwrap.dedent(f"""
        models:
          - name: {TRANSLATED_MODEL}
            base_url: {upstream.url}{OPENAI_BASE}
            api_key_env: HOUSE_KEY
          - name: {ALIASED_MODEL}
            base_url: {upstream.url}{OPENAI_BASE}
            api_key_env: HOUSE_KEY
            upstream_model: {UPSTREAM_MODEL}
            headers:
              {ALIAS_HEADER[0]}: {ALIAS_HEADER[1]}
    """) + textwrap.indent(textwrap.dedent(models), "  "))
    return start_gateway(gateway_env(upstream, tmp, team=team), config_path=str(config))


@dataclass
class Side:
    """A Wattgate in one mode, with the keys each side of a call uses."""

    mode: Mode
    gateway: Gateway
    db_url: str
    via_openai_key: str
    via_anthropic_key: str

    @property
    def direct_openai_key(self) -> str:
        return DEPLOYMENT_KEY if self.mode == "team" else CLIENT_OPENAI_KEY

    @property
    def direct_anthropic_key(self) -> str:
        return ANTHROPIC_KEY if self.mode == "team" else CLIENT_ANTHROPIC_KEY

    def row(self, request_id: str) -> dict[str, Any]:
        """The stored usage row of a call (its last attempt), once it is written."""
        return max(self.rows_where("request_id", request_id), key=lambda r: r["attempt"])

    def assert_metered(self, request_id: str, *, tokens: tuple[int, int] | None,
                       source: str = "upstream", stream: bool | None = None
                       ) -> dict[str, Any]:
        """The call's row says 200 and `source`, with (input, output) `tokens` (None: some
        of each, for counts made locally) and, when given, whether it streamed."""
        row = self.row(request_id)
        assert (row["status_code"], row["usage_source"]) == (200, source)
        if stream is not None:
            assert bool(row["stream"]) is stream
        if tokens is None:
            assert row["input_tokens"] > 0 and row["output_tokens"] > 0
        else:
            assert (row["input_tokens"], row["output_tokens"]) == tokens
        return row

    def rows_where(self, column: str, value: Any, timeout_s: float = 10.0
                   ) -> list[dict[str, Any]]:
        """The stored rows whose `column` is `value`, once there is one."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.gateway.wait_written(timeout=timeout_s)
            rows = [r for r in fetch_rows(self.db_url) if r[column] == value]
            if rows:
                return rows
            if time.monotonic() > deadline:
                raise TimeoutError(f"no usage row with {column}={value!r}")
            time.sleep(0.05)


def make_side(upstream: RecordingUpstream, tmp: Path, mode: Mode, **start_kwargs: Any
              ) -> Side:
    gateway = start(upstream, tmp, team=mode == "team", **start_kwargs)
    db_url = f"sqlite+aiosqlite:///{tmp / 'wattgate.db'}"
    if mode == "open":
        return Side(mode, gateway, db_url, CLIENT_OPENAI_KEY, CLIENT_ANTHROPIC_KEY)
    key = gateway.create_team_key("conformance")
    return Side(mode, gateway, db_url, key, key)


def running_side(upstream: RecordingUpstream, tmp: Path, mode: Mode, **start_kwargs: Any
                 ) -> Iterator[Side]:
    """A side for a fixture to yield; its Wattgate stops (flushing usage) afterwards."""
    side = make_side(upstream, tmp, mode, **start_kwargs)
    yield side
    side.gateway.stop()


@dataclass
class Outcome:
    """One call: what the SDK returned, what the client received, what reached upstream."""

    result: Any
    seen: Seen
    captures: list[Capture] = field(default_factory=list)

    @property
    def capture(self) -> Capture:
        assert len(self.captures) == 1, f"{len(self.captures)} upstream requests"
        return self.captures[0]

    @property
    def request_id(self) -> str:
        value = self.seen.header("x-request-id")
        assert value, "no x-request-id"
        return value


class Harness:
    """Makes a call direct or through a side's Wattgate, with the SDK or raw httpx."""

    def __init__(self, upstream: RecordingUpstream, side: Side) -> None:
        self.upstream = upstream
        self.side = side

    def _run(self, call: Callable[[Recorder], Any]) -> Outcome:
        mark = self.upstream.mark()
        recorder = Recorder()
        result = call(recorder)
        assert not self.upstream.errors, self.upstream.errors[0]
        assert recorder.seen, "no response reached the client"
        return Outcome(result, recorder.seen[-1], self.upstream.since(mark))

    def openai(self, call: Callable[[Any], Any], *, via: bool) -> Outcome:
        base = (self.side.gateway.base_url if via else self.upstream.url + OPENAI_BASE)
        key = self.side.via_openai_key if via else self.side.direct_openai_key
        return self._run(lambda t: call(openai_client(base, key, t)))

    def anthropic(self, call: Callable[[Any], Any], *, via: bool) -> Outcome:
        base = self.side.gateway.url if via else self.upstream.url + ANTHROPIC_BASE
        key = self.side.via_anthropic_key if via else self.side.direct_anthropic_key
        return self._run(lambda t: call(anthropic_client(base, key, t)))

    def _endpoint(self, *, via: bool, anthropic: bool, bearer: bool | None
                  ) -> tuple[str, tuple[str, str]]:
        """Where a raw call goes (the URL that `/v1/...` follows) and its credentials:
        `Authorization: Bearer`, or for `anthropic` `x-api-key` unless `bearer`."""
        if via:
            base = self.side.gateway.url
            key = self.side.via_anthropic_key if anthropic else self.side.via_openai_key
        else:
            base = self.upstream.url + (ANTHROPIC_BASE if anthropic else OPENAI_ROOT)
            key = self.side.direct_anthropic_key if anthropic else self.side.direct_openai_key
        use_bearer = not anthropic if bearer is None else bearer
        return base, (("Authorization", f"Bearer {key}") if use_bearer else ("x-api-key", key))

    def http(self, method: str, path: str, *, via: bool, anthropic: bool = False,
             bearer: bool | None = None, credentials: tuple[str, str] | None = None,
             headers: list[tuple[str, str]] | None = None,
             content: bytes | Iterator[bytes] | None = None) -> Outcome:
        """A request with httpx to `path` (from /v1 on): the side's credentials (or the
        `credentials` header given) first, then `headers` in order, repeats kept."""
        base, auth = self._endpoint(via=via, anthropic=anthropic, bearer=bearer)
        auth = credentials or auth

        def call(recorder: Recorder) -> Any:
            with recorder.client() as client:
                request = client.build_request(method, base + path,
                                               headers=[auth, *(headers or [])],
                                               content=content)
                response = client.send(request)
                response.read()
                return response

        return self._run(call)

    def written(self, method: str, target: str, *, via: bool, anthropic: bool = False,
                headers: list[tuple[str, str]] | None = None, body: bytes = b""
                ) -> tuple[str, bytes]:
        """A request written byte by byte, and the "host:port" to send it to: `target`
        (from /v1 on) goes on the request line exactly as given; only Host, the
        credentials, `headers`, Content-Length and `Connection: close` are sent."""
        base, auth = self._endpoint(via=via, anthropic=anthropic, bearer=None)
        address, _, prefix = base.removeprefix("http://").partition("/")
        return address, raw_request(method, (prefix and "/" + prefix) + target, address,
                                    [auth, *(headers or [])], body)

    def raw(self, method: str, target: str, *, via: bool, anthropic: bool = False,
            headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> Outcome:
        """Make the call `written` writes and read its whole answer."""
        address, request = self.written(method, target, via=via, anthropic=anthropic,
                                        headers=headers, body=body)
        return self._run(lambda recorder: recorder.seen.append(raw_exchange(address,
                                                                            request)))

    def both(self, kind: str, *args: Any, **kwargs: Any) -> tuple[Outcome, Outcome]:
        """The same call direct, then through Wattgate (`kind`: a method's name)."""
        make = getattr(self, kind)
        return make(*args, via=False, **kwargs), make(*args, via=True, **kwargs)
