"""Every change Wattgate may make to a call, as one table: docs/compatibility.md in code.

The conformance tests make each call twice, straight to the recording upstream and through
Wattgate, and hold the two to this table: the upstream must see the same request except
the changes listed under "up", and the client the same answer except the changes listed
under "down". Nothing else may differ. Change this module and docs/compatibility.md
together.

Header names are compared case-insensitively (HTTP field names are case-insensitive, RFC
9110 section 5.1, and the ASGI server hands them over lower-cased); the order of lines of
different names is not compared (RFC 9110 section 5.3), the order and number of lines of
one name is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from tests.conformance.client import Seen
from tests.conformance.encodings import decode
from tests.conformance.upstream import Capture

Mode = Literal["open", "team"]
METERED = frozenset({"chat.completions", "completions", "embeddings", "responses", "messages"})
USAGE_STREAMS = frozenset({"chat.completions", "completions"})

# --- both ways ---------------------------------------------------------------------------

HOP_BY_HOP = frozenset({"connection", "keep-alive", "te", "trailer", "transfer-encoding",
                        "upgrade"})


def is_hop_by_hop(name: str) -> bool:
    """Headers about one connection, never forwarded (RFC 9110 section 7.6.1), plus proxy-*."""
    return name in HOP_BY_HOP or name.startswith("proxy-")


def connection_listed(lines: list[tuple[str, str]]) -> set[str]:
    """Header names the sender listed in `Connection`: hop-by-hop too (RFC 9110 7.6.1)."""
    return {token.strip().lower() for name, value in lines if name.lower() == "connection"
            for token in value.split(",") if token.strip()}


# --- up: client -> upstream --------------------------------------------------------------

CREDENTIALS = frozenset({"authorization", "x-api-key"})  # team-key mode: the deployment's key
CONSUMED_PREFIX = "x-wattgate-"  # Wattgate's own request headers
# Cookies a client sends belong to Wattgate's origin, not the upstream's (and set-cookie
# never comes down), so they are not forwarded in either mode.
ORIGIN_BOUND = frozenset({"cookie"})
ANTHROPIC_VERSION = "2023-06-01"  # sent to Anthropic upstreams when the client sent none
# Team-key mode forwards only these client headers (plus the credentials it replaces).
TEAM_ALLOWED = frozenset({
    "accept", "accept-encoding", "accept-language", "content-type", "content-encoding",
    "user-agent", "idempotency-key", "openai-beta", "anthropic-version", "anthropic-beta",
    "traceparent", "tracestate", "http-referer", "x-title",
})
TEAM_ALLOWED_PREFIXES = ("x-stainless-",)
# What the gateway's own HTTP client may add for its hop, and nothing else.
GATEWAY_HOP_UP = frozenset({"host", "content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True, slots=True)
class Route:
    """What a test knows about the deployment a call reaches."""

    upstream: Literal["openai", "anthropic"] = "openai"
    stream_usage: Literal["inject", "never", "auto"] = "auto"
    upstream_model: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # the deployment's configured `headers`


def team_allowed(name: str) -> bool:
    return name in TEAM_ALLOWED or name.startswith(TEAM_ALLOWED_PREFIXES)


def deployment_credential(key: str, route: Route) -> tuple[str, str]:
    """How Wattgate presents a deployment's key to its upstream."""
    return ("x-api-key", key) if route.upstream == "anthropic" else ("authorization",
                                                                    f"Bearer {key}")


def body_patch(endpoint: str, request: Any, route: Route) -> dict[str, Any]:
    """The top-level JSON fields Wattgate sets in a request body on its way up.

    - streamed chat/completions calls get `stream_options.include_usage: true` (merged with
      the client's `stream_options`) unless the deployment says `stream_usage: never`;
    - the `model` becomes the deployment's `upstream_model`; for an Anthropic upstream
      without one, an `anthropic/` routing prefix is removed.
    """
    if not isinstance(request, dict):
        return {}
    patch: dict[str, Any] = {}
    options = request.get("stream_options")
    options = options if isinstance(options, dict) else {}
    if (endpoint in USAGE_STREAMS and request.get("stream") is True
            and options.get("include_usage") is not True and route.stream_usage != "never"):
        patch["stream_options"] = {**options, "include_usage": True}
    model = request.get("model")
    target = route.upstream_model
    if target is None and route.upstream == "anthropic" and isinstance(model, str):
        target = model.removeprefix("anthropic/")
    if target is not None and model != target:
        patch["model"] = target
    return patch


def expected_up_headers(direct: Capture, mode: Mode, route: Route, *, body_changed: bool
                        ) -> list[tuple[str, str]]:
    """The header lines the upstream must get through Wattgate, from those it got direct.

    Direct calls in team-key mode carry the deployment's key; through Wattgate that key
    goes up in the header the provider takes (`x-api-key` for Anthropic, else
    `Authorization: Bearer`), whichever one the client used.
    """
    out = []
    listed = connection_listed(direct.header_lines)
    for name, value in direct.header_lines:
        low = name.lower()
        if low in ("host", "content-length") or is_hop_by_hop(low) or low in listed:
            continue  # not forwarded; the gateway's own client frames its request
        if low.startswith(CONSUMED_PREFIX) or low in ORIGIN_BOUND:
            continue
        if body_changed and low == "content-encoding":
            continue  # a changed body goes up as identity JSON
        if mode == "team" and low in CREDENTIALS:
            out.append(deployment_credential(value.removeprefix("Bearer "), route))
            continue
        if mode == "team" and not team_allowed(low):
            continue
        out.append((low, value))
    if route.upstream == "anthropic" and direct.header("anthropic-version") is None:
        out.append(("anthropic-version", ANTHROPIC_VERSION))
    out += [(k.lower(), v) for k, v in route.headers]
    return out


def assert_request_faithful(direct: Capture, via: Capture, *, mode: Mode, endpoint: str,
                            route: Route = Route()) -> None:
    """The upstream got through Wattgate what it got direct, except the listed changes."""
    assert (via.method, via.target, via.version) == (direct.method, direct.target,
                                                     direct.version)
    patch = body_patch(endpoint, direct.json(), route)
    if patch:
        assert via.header("content-encoding") is None, "a changed body goes up as identity"
        assert json.loads(via.body) == {**direct.json(), **patch}
    else:
        assert via.body == direct.body, "an unchanged body goes up byte for byte"
    expected = expected_up_headers(direct, mode, route, body_changed=bool(patch))
    got = [(k.lower(), v) for k, v in via.header_lines if k.lower() not in GATEWAY_HOP_UP]
    assert by_name(got) == by_name(expected)
    assert via.header("host") == direct.header("host")
    length = via.header("content-length")
    assert length is None or int(length) == len(via.body)
    assert (via.header("connection") or "keep-alive").lower() in ("keep-alive", "close")


def by_name(lines: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Header lines grouped by name, each name's values in order."""
    out: dict[str, list[str]] = {}
    for name, value in lines:
        out.setdefault(name.lower(), []).append(value)
    return dict(sorted(out.items()))


# --- down: upstream -> client ------------------------------------------------------------

NOT_RELAYED = frozenset({"content-length", "set-cookie", "date", "server"})
GATEWAY_HOP_DOWN = frozenset({"content-length", "transfer-encoding", "connection",
                              "keep-alive", "date", "server"})
IMPACT_HEADERS = ("x-energy-wh", "x-energy-wh-min", "x-energy-wh-max", "x-emissions-gco2e",
                  "x-emissions-gco2e-min", "x-emissions-gco2e-max", "x-water-ml",
                  "x-grid-zone", "x-grid-intensity-gco2e-per-kwh", "x-impact-method")
GATEWAY_ADDED = frozenset({"x-request-id", "x-upstream-request-id", "x-wattgate-deployment",
                           "x-wattgate-attempts", "x-carbon-budget-remaining-g",
                           *IMPACT_HEADERS})


def decodes_body(endpoint: str, seen: Seen) -> bool:
    """A compressed upstream body on a metered endpoint is decoded by Wattgate."""
    return endpoint in METERED and seen.header("content-encoding") is not None


def expected_down_headers(direct: Seen, endpoint: str) -> list[tuple[str, str]]:
    out = []
    for name, value in direct.headers:
        low = name.lower()
        if is_hop_by_hop(low) or low in NOT_RELAYED or low == "x-request-id":
            continue
        if low == "content-encoding" and decodes_body(endpoint, direct):
            continue
        out.append((low, value))
    return out


def upstream_request_id(direct: Seen) -> str | None:
    """What `x-upstream-request-id` carries: the upstream's x-request-id, else Anthropic's
    request-id (which is also relayed under its own name)."""
    return direct.header("x-request-id") or direct.header("request-id")


def assert_answer_faithful(direct: Seen, via: Seen, *, endpoint: str, stream: bool
                           ) -> list[dict[str, Any]]:
    """The client got through Wattgate what it got direct, except the listed additions.

    Returns the `impacts` objects found in the body, in order, for the caller to check
    where they ride.
    """
    assert via.status == direct.status
    got = [(k.lower(), v) for k, v in via.headers
           if k.lower() not in GATEWAY_HOP_DOWN and k.lower() not in GATEWAY_ADDED]
    assert by_name(got) == by_name(expected_down_headers(direct, endpoint))
    assert len([v for k, v in via.headers if k.lower() == "x-request-id"]) == 1
    assert via.header("x-upstream-request-id") == upstream_request_id(direct)
    assert int(via.header("x-wattgate-attempts") or "0") >= 1
    body = direct.body
    if decodes_body(endpoint, direct):
        body = decode(direct.header("content-encoding"), body)
    stripped, impacts = strip_impacts(via.body)
    assert stripped == body, "body differs beyond the impacts added: " + difference(body,
                                                                                  stripped)
    json_body = _json_object(body)
    metered_json = (endpoint in METERED and not stream and 200 <= direct.status < 300
                    and json_body is not None)
    if metered_json:
        assert len(impacts) == 1 and "impacts" in json.loads(via.body)
    elif not stream:
        assert impacts == []
    impact_headers = [h for h in IMPACT_HEADERS if via.header(h) is not None]
    assert impact_headers == (list(IMPACT_HEADERS) if metered_json else [])
    return impacts


def difference(expected: bytes, got: bytes) -> str:
    """Where two byte strings first differ, with some context, for assertion messages."""
    at = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
              min(len(expected), len(got)))
    return (f"at byte {at} (lengths {len(expected)} and {len(got)}): expected "
            f"{expected[max(0, at - 40):at + 40]!r}, got {got[max(0, at - 40):at + 40]!r}")


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_IMPACTS_KEY = re.compile(rb'"impacts"\s*:\s*')
_DECODER = json.JSONDecoder()


def strip_impacts(body: bytes) -> tuple[bytes, list[dict[str, Any]]]:
    """`body` without the `"impacts": {...}` members Wattgate added, and those objects.

    Works on whole JSON bodies and on streams alike: each member is cut with the comma
    that joined it to its object, whatever its position.
    """
    found: list[dict[str, Any]] = []
    while match := _IMPACTS_KEY.search(body):
        text = body[match.end():].decode("utf-8", "surrogateescape")
        value, end = _DECODER.raw_decode(text)
        found.append(value)
        stop = match.end() + len(text[:end].encode("utf-8", "surrogateescape"))
        start = match.start()
        before = body[:start].rstrip()
        if before.endswith(b","):
            start = len(before) - 1
        else:  # the first member: take the comma after it instead
            after = body[stop:]
            stop += len(after) - len(after.lstrip())
            if body[stop:stop + 1] == b",":
                stop += 1
        body = body[:start] + body[stop:]
    return body, found


# --- SSE (WHATWG rules) ------------------------------------------------------------------

_LINE = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Event:
    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def sse_events(body: bytes) -> list[Event]:
    """Events dispatched by a WHATWG-conforming reader (comments skipped)."""
    events = []
    kind: str | None = None
    data: list[str] = []
    for line in _LINE.split(body):
        text = line.decode("utf-8")
        if not text:
            if data:
                events.append(Event(kind, "\n".join(data)))
            kind, data = None, []
        elif text.startswith(":"):
            continue
        else:
            name, _, value = text.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                kind = value
            elif name == "data":
                data.append(value)
    return events


def json_payloads(body: bytes) -> list[Any]:
    return [e.json() for e in sse_events(body) if e.data != "[DONE]"]


def impacts_carriers(body: bytes) -> list[Any]:
    """The stream's JSON payloads that carry `impacts` (at top level or in `response`)."""
    out = []
    for payload in json_payloads(body):
        inner = payload.get("response") if isinstance(payload, dict) else None
        if "impacts" in payload or (isinstance(inner, dict) and "impacts" in inner):
            out.append(payload)
    return out
