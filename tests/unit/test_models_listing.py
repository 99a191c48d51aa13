"""`GET /v1/models` merging: configured names are added once; anything else is relayed as is."""

from __future__ import annotations

import orjson

from proxy.protocols.passthrough import with_configured_models


def test_adds_missing_names_once() -> None:
    upstream = orjson.dumps({"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]})
    merged = orjson.loads(with_configured_models(upstream, ["gpt-4o", "team-llama"]))
    assert [m["id"] for m in merged["data"]] == ["gpt-4o", "team-llama"]
    assert merged["object"] == "list"


def test_unexpected_bodies_pass_unchanged() -> None:
    for body in (b"not json", b'{"object": "list"}', b"[1, 2]", b'{"data": 3}'):
        assert with_configured_models(body, ["team-llama"]) == body
