"""A fast OpenAI- and Anthropic-compatible mock upstream for tests and benchmarks.

`serve(host, port, MockOptions(...))` or `python -m proxy.mock_upstream --port N`.
Endpoints: `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
`/v1/responses`, `/v1/messages` (plain and `stream: true`), `GET /v1/models[/{id}]`, and
`GET /mock/last-request` (method, path, headers and JSON body of the last request).

Per-request `x-mock-*` headers override `MockOptions`: `status` (an error with the
provider's error envelope), `latency-ms`, `chunk-delay-ms`, `output-tokens`,
`prompt-tokens`, `cached-tokens`, `reasoning-tokens`, `cache-write-tokens`, `no-usage: 1`
(an old server: no usage anywhere), `disconnect-after: N` (drop the connection after N
stream events) and `truncate-after: N` (end the stream cleanly after N events, no
terminator).
"""

from .app import MockUpstream
from .options import MockOptions
from .server import create_mock_app, serve

__all__ = ["MockOptions", "MockUpstream", "create_mock_app", "serve"]
