"""Retries, fallbacks and Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from proxy.config import Deployment
from proxy.retries import Tries, retry_after_s

A = Deployment(name="m", base_url="http://a", id="a")
B = Deployment(name="m", base_url="http://b", id="b", retries=0)


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s("3") == 3.0
    assert retry_after_s(" 0.5 ") == 0.5
    assert retry_after_s("Sun, 29 Nov 2026 12:00:07 GMT", now) == 7.0
    assert retry_after_s("Sun, 29 Nov 2026 11:00:00 GMT", now) == 0.0  # in the past
    assert retry_after_s("soon") is None
    assert retry_after_s(None) is None
    assert retry_after_s("-5") == 0.0


def test_backoff_doubles_then_falls_back() -> None:
    tries = Tries((A, B), retries=2, backoff_s=0.1, max_wait_s=30)
    delays = []
    while tries.has_next():
        delays.append((tries.deployment.label, tries.advance()))
    assert delays == [("a", 0.1), ("a", 0.2), ("a", 0.0)]
    assert tries.deployment.label == "b" and tries.number == 3


def test_retry_after_replaces_the_backoff() -> None:
    tries = Tries((A,), retries=1, backoff_s=0.1, max_wait_s=30)
    assert tries.advance(2.5) == 2.5


def test_a_retry_after_beyond_the_cap_moves_on_or_ends() -> None:
    tries = Tries((A, B), retries=3, backoff_s=0.1, max_wait_s=10)
    assert tries.advance(60) == 0.0  # no waiting a minute: the next deployment at once
    assert tries.deployment.label == "b"
    alone = Tries((A,), retries=3, backoff_s=0.1, max_wait_s=10)
    assert not alone.has_next(60)
    with pytest.raises(LookupError):
        alone.advance(60)
