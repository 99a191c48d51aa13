"""What crosses the gateway: the upstream request built from the client's, and the headers back.

Up: the path and query go exactly as the client encoded them (below the deployment's base
URL, after `proxy.path_policy` refused dot segments and control characters); header
lines go in their order, repeats kept, minus hop-by-hop headers, the client's credentials
(replaced by the deployment's in team-key mode) and Wattgate's own `x-wattgate-*`. A team
key may only send an allow-list of headers (`forward_headers`): a shared provider key
must not let one team bill another team's organisation or project.

Down: hop-by-hop headers are dropped (the gateway frames its own answer), the upstream's
`x-request-id` moves to `x-upstream-request-id`, `set-cookie` never reaches clients, and
the gateway adds its own headers. docs/compatibility.md lists every change.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp

from proxy.auth import Caller
from proxy.call import Call
from proxy.config import Deployment
from proxy.impacts import plain_decimal

ANTHROPIC_VERSION = "2023-06-01"
JSON_CONTENT = (b"content-type", b"application/json")
SSE_CONTENT = (b"content-type", b"text/event-stream")

_HOP_BY_HOP = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
        b"transfer-encoding", b"upgrade", b"host", b"content-length", b"expect",
        b"proxy-authorization", b"proxy-authenticate",
    }
)
_CREDENTIALS = frozenset({b"authorization", b"x-api-key", b"api-key"})
_DROP_RESPONSE = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
        b"content-length", b"trailer", b"upgrade", b"te", b"x-request-id", b"date",
        b"server", b"set-cookie",
    }
)
_UPSTREAM_IDS = (b"x-request-id", b"request-id")

# What a team key may send upstream besides the body: content negotiation, the SDKs' own
# headers, API versions and betas, idempotency, trace context, OpenRouter's attribution.
DEFAULT_FORWARD_HEADERS = (
    "accept", "accept-encoding", "accept-language", "content-type", "content-encoding",
    "user-agent", "idempotency-key", "openai-beta", "anthropic-version", "anthropic-beta",
    "x-stainless-*", "traceparent", "tracestate", "http-referer", "x-title",
)


class HeaderAllowList:
    """Header names a team key may send upstream: exact names, or prefixes ending in `*`."""

    def __init__(self, patterns: Iterable[str]) -> None:
        names = [p.strip().lower() for p in patterns if p.strip()]
        self._exact = frozenset(n.encode("latin-1") for n in names if not n.endswith("*"))
        self._prefixes = tuple(n[:-1].encode("latin-1") for n in names if n.endswith("*"))

    def __contains__(self, name: bytes) -> bool:
        return name in self._exact or (bool(self._prefixes) and name.startswith(self._prefixes))


def upstream_headers(
    call: Call,
    dep: Deployment,
    allowed: HeaderAllowList,
    *,
    body_changed: bool,
    drop_prefixes: tuple[bytes, ...] = (),
) -> list[tuple[str, str]]:
    """The header lines to send upstream for `call` on `dep`.

    `body_changed`: the gateway sends its own JSON, so the client's `content-encoding`
    no longer applies. `drop_prefixes`: header families the upstream's protocol does
    not speak (an OpenAI-format upstream of a translated Anthropic call gets no
    `anthropic-*` headers); such a call's open-mode key goes up as a Bearer token.

    Credentials: in open mode the client's own (`authorization`, `x-api-key`, `api-key`)
    go up as it sent them; otherwise the deployment's key replaces them.
    """
    caller = call.caller
    restricted = caller.key_id is not None  # a team key, on the shared provider key
    as_sent = caller.key_id is None and not caller.is_admin and not drop_prefixes
    dropped = _connection_listed(call) | {n.lower().encode("latin-1") for n, _ in dep.headers}
    out = []
    sent_credentials = False
    for name, value in call.headers.lines:
        if name in _HOP_BY_HOP or name == b"cookie" or name in dropped:
            continue
        if name in _CREDENTIALS:
            if not as_sent:
                continue
            sent_credentials = True
        if name.startswith(b"x-wattgate-") or (drop_prefixes and name.startswith(drop_prefixes)):
            continue
        if body_changed and name == b"content-encoding":
            continue
        if restricted and name not in allowed:
            continue
        out.append((name.decode("latin-1"), value.decode("latin-1")))
    if not sent_credentials:
        out.extend(_credentials(caller, dep))
    if dep.provider == "anthropic" and b"anthropic-version" not in call.headers:
        out.append(("anthropic-version", ANTHROPIC_VERSION))
    out.extend(dep.headers)
    return out


def _connection_listed(call: Call) -> set[bytes]:
    """Headers the client named in `Connection` are hop-by-hop too (RFC 9110, 7.6.1)."""
    listed = call.headers.get(b"connection")
    if not listed:
        return set()
    return {token.strip().lower() for token in listed.split(b",") if token.strip()}


def _credentials(caller: Caller, dep: Deployment) -> list[tuple[str, str]]:
    if dep.provider == "anthropic":  # Anthropic authenticates with x-api-key, not Bearer
        key = caller_key(caller) or dep.api_key
        return [("x-api-key", key)] if key else []
    if caller.upstream_authorization is not None:
        return [("Authorization", caller.upstream_authorization)]
    if dep.api_key:
        return [("Authorization", f"Bearer {dep.api_key}")]
    return []


def caller_key(caller: Caller) -> str | None:
    """Open mode: the caller's own key, without its `Bearer` scheme."""
    auth = caller.upstream_authorization
    if auth is None:
        return None
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def upstream_url(dep: Deployment, target: bytes) -> str:
    """The URL for `target` (path below /v1 and query, as the client encoded them) on `dep`.

    OpenAI-compatible base URLs end in their version (`.../v1`, `.../openai/v1`), Anthropic's
    is the host root (its clients add `/v1` themselves).
    """
    path = target.decode("ascii")
    return dep.base_url + ("/v1" + path if dep.provider == "anthropic" else path)


def gateway_headers(call: Call) -> list[tuple[bytes, bytes]]:
    """Headers the gateway adds to every answer of a proxied call."""
    out = [(b"x-request-id", call.request_id.encode())]
    if call.deployment.name != "*":
        out.append((b"x-wattgate-deployment", call.deployment.label.encode("latin-1")))
    out.append((b"x-wattgate-attempts", str(call.attempt + 1).encode()))
    if call.budget_remaining_g is not None:
        remaining = plain_decimal(call.budget_remaining_g).encode()
        out.append((b"x-carbon-budget-remaining-g", remaining))
    return out


def downstream_headers(
    response: aiohttp.ClientResponse, call: Call, *, decoded: bool, keep_length: bool = False
) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers as the client gets them.

    `decoded`: aiohttp undid the upstream's content-encoding, so it no longer applies.
    `keep_length`: the body is relayed byte for byte, so its content-length still holds.
    """
    out = []
    for name, value in response.raw_headers:
        name = name.lower()
        if name in _DROP_RESPONSE and not (keep_length and name == b"content-length"):
            continue
        if decoded and name == b"content-encoding":
            continue
        out.append((name, value))
    for id_header in _UPSTREAM_IDS:
        upstream_id = response.headers.get(id_header.decode())
        if upstream_id:
            out.append((b"x-upstream-request-id", upstream_id.encode("latin-1")))
            break
    out.extend(gateway_headers(call))
    return out
