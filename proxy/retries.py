"""Retries and fallbacks: which deployment to try next, and how long to wait first.

A model's deployments form a chain; each gets `1 + retries` tries. A try that fails
before any byte reached the client (connection error, timeout, 429, 5xx) moves on:
another try on the same deployment after an exponential backoff, or after the delay the
upstream asked for in `Retry-After` when it sent one; the next deployment of the chain
right away. A `Retry-After` longer than `max_wait_s` ends the tries on that deployment
(waiting that long would hold the client for nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from proxy.config import Deployment


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` value (delta-seconds or an HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Tries:
    """The tries of one call, in order: `deployment` and `number` name the current one."""

    def __init__(
        self,
        chain: tuple[Deployment, ...],
        *,
        retries: int,
        backoff_s: float,
        max_wait_s: float,
    ) -> None:
        self._chain = chain
        self._retries = retries
        self._backoff_s = backoff_s
        self._max_wait_s = max_wait_s
        self._index = 0  # in the chain
        self._retry = 0  # tries already made on the current deployment, minus one
        self.number = 0  # tries made before the current one

    @property
    def deployment(self) -> Deployment:
        return self._chain[self._index]

    def has_next(self, retry_after: float | None = None) -> bool:
        """Whether another try follows a retryable failure of the current one."""
        return self._next(retry_after) is not None

    def advance(self, retry_after: float | None = None) -> float:
        """Move to the next try; returns the seconds to wait before it."""
        step = self._next(retry_after)
        if step is None:
            raise LookupError("no try left")
        self._index, self._retry, delay = step
        self.number += 1
        return delay

    def _next(self, retry_after: float | None) -> tuple[int, int, float] | None:
        dep = self.deployment
        allowed = self._retries if dep.retries is None else dep.retries
        if self._retry < allowed:
            backoff = self._backoff_s if dep.backoff_s is None else dep.backoff_s
            delay = backoff * 2**self._retry if retry_after is None else retry_after
            if delay <= self._max_wait_s:
                return self._index, self._retry + 1, delay
        if self._index + 1 < len(self._chain):
            return self._index + 1, 0, 0.0
        return None
