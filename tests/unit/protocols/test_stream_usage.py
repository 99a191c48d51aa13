"""stream_usage: inject, never, and auto that learns from a refusal."""

from __future__ import annotations

from proxy.config import Deployment
from proxy.stream_usage import StreamUsagePolicy

REFUSAL = b'{"error": {"message": "Unrecognized request argument supplied: stream_options"}}'


def dep(mode: str, label: str = "d") -> Deployment:
    return Deployment(name=label, base_url="http://x", stream_usage=mode)


def test_modes() -> None:
    policy = StreamUsagePolicy()
    assert policy.ask(dep("auto")) and policy.ask(dep("inject"))
    assert not policy.ask(dep("never"))


def test_auto_stops_asking_after_a_refusal_naming_the_option() -> None:
    policy = StreamUsagePolicy()
    azure = dep("auto", "azure")
    assert not policy.refused(azure, 400, b'{"error": {"message": "bad temperature"}}')
    assert not policy.refused(azure, 500, REFUSAL)  # a server error is not a refusal
    assert policy.ask(azure)
    assert policy.refused(azure, 400, REFUSAL)
    assert not policy.ask(azure)
    assert policy.ask(dep("auto", "other"))  # remembered per deployment


def test_inject_never_retries_without() -> None:
    policy = StreamUsagePolicy()
    strict = dep("inject")
    assert not policy.refused(strict, 400, REFUSAL)
    assert policy.ask(strict)
