"""Running totals per conversation, cheap enough for the request path.

A total is the conversation's stored calls (read from the database at most once per
`max_age_s` per conversation and replica) plus the calls this replica recorded that are
not stored yet or came after that read (kept in memory, deduplicated by event id). So on
one replica a total is exact at once; calls served by other replicas appear once they
are written and the read is refreshed (within `max_age_s` plus their write delay).

The request path uses `resolve` (before forwarding, for a `previous_response_id` this
replica has not seen: one indexed read, bounded by `timeout_s`) and `running_wh` (for
the annotation, never waiting); `add` is called for every recorded event; the
conversations API uses `total` with a fresh read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.display.conversations import ConversationRef
from proxy.events import UsageEvent
from proxy.store.conversations import (
    CALL_COLUMNS,
    conversation_calls,
    conversation_of_response,
)

log = logging.getLogger("wattgate.conversations")

_RANGES = ("energy_wh", "emissions_gco2e", "water_ml")
_SUMS = ("input_tokens", "output_tokens",
         *(f"{name}{end}" for name in _RANGES for end in ("", "_min", "_max")))


@dataclass(slots=True)
class ConversationTotal:
    """Sums over a conversation's calls (energy Wh, emissions gCO2e, water mL, each with
    its range), with the first and last call times and the models used."""

    conversation_id: str
    requests: int = 0
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_SUMS, 0.0))
    first_at: datetime | None = None
    last_at: datetime | None = None
    models: set[str] = field(default_factory=set)
    teams: set[str] = field(default_factory=set)

    def add(self, call: Mapping[str, Any]) -> None:
        """Count one call (a `CALL_COLUMNS` + `model` mapping)."""
        self.requests += 1
        for name in _SUMS:
            self.sums[name] += call[name] or 0
        at = call["created_at"]
        self.first_at = at if self.first_at is None else min(self.first_at, at)
        self.last_at = at if self.last_at is None else max(self.last_at, at)
        self.models.add(call["model"])
        self.teams.add(call["team"])

    def to_dict(self) -> dict[str, Any]:
        """The `GET /v1/conversations/{id}/impacts` body (without equivalents)."""
        s = self.sums
        return {
            "object": "conversation.impacts",
            "id": self.conversation_id,
            "teams": sorted(self.teams),
            "requests": self.requests,
            "first_at": self.first_at.isoformat() if self.first_at else None,
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "models": sorted(self.models),
            "usage": {"input_tokens": int(s["input_tokens"]),
                      "output_tokens": int(s["output_tokens"])},
            "impacts": {
                name: {"value": s[name], "min": s[f"{name}_min"], "max": s[f"{name}_max"]}
                for name in _RANGES
            },
        }


@dataclass(frozen=True, slots=True)
class _Read:
    at: float  # time.monotonic() of the read
    total: ConversationTotal  # of the stored calls (never changed once built)
    ids: frozenset[str]


def _call_of(event: UsageEvent) -> dict[str, Any]:
    call = {name: getattr(event, name) for name in CALL_COLUMNS}
    call["model"] = event.model_id or event.requested_model or "unknown"
    return call


class ConversationTotals:
    """See the module docstring. Memory is bounded: the last `recent_size` recorded calls,
    `reads_size` conversation reads and `responses_size` response ids."""

    def __init__(self, engine: AsyncEngine, *, max_age_s: float = 15.0,
                 timeout_s: float = 1.0, recent_size: int = 20_000, reads_size: int = 2_000,
                 responses_size: int = 50_000) -> None:
        self._engine = engine
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self._recent_size, self._reads_size = recent_size, reads_size
        self._responses_size = responses_size
        # event_id -> (conversation keys, call); and key -> {event_id: call}
        self._recent: OrderedDict[str, tuple[tuple[str, ...], dict[str, Any]]] = OrderedDict()
        self._by_key: dict[str, dict[str, dict[str, Any]]] = {}
        self._reads: OrderedDict[tuple[str | None, str], _Read] = OrderedDict()
        self._responses: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._refreshing: dict[tuple[str, str], asyncio.Future[None]] = {}

    def add(self, event: UsageEvent) -> None:
        """Remember a recorded call of a conversation (no-op for calls without one)."""
        if event.conversation_id is None and event.response_id is None:
            return
        keys = tuple(dict.fromkeys(k for k in (event.conversation_id, event.response_id) if k))
        if not keys:
            return
        if event.response_id:
            self._remember_response(event.team, event.response_id,
                                    event.conversation_id or event.response_id)
        call = _call_of(event)
        self._forget(event.event_id)
        self._recent[event.event_id] = (keys, call)
        for key in keys:
            self._by_key.setdefault(key, {})[event.event_id] = call
        while len(self._recent) > self._recent_size:
            self._forget(next(iter(self._recent)))

    async def resolve(self, team: str, ref: ConversationRef | None) -> str | None:
        """The conversation id to store for a request's `ConversationRef`: explicit ids as
        they are; a `previous_response_id` becomes the conversation of the call that
        produced it (memory first, then one indexed query bounded by `timeout_s`), or
        the response id itself when that call is unknown or had no conversation."""
        if ref is None:
            return None
        if ref.source != "previous_response":
            return ref.id
        known = self._responses.get((team, ref.id))
        if known is not None:
            return known
        try:
            found = await asyncio.wait_for(
                conversation_of_response(self._engine, team=team, response_id=ref.id),
                self.timeout_s)
        except Exception as exc:  # the database is slow or down: start from this response
            log.warning("conversation lookup for %s failed (%s)", ref.id, exc)
            return ref.id
        if found is not None:
            self._remember_response(team, ref.id, found)
        return found or ref.id

    async def total(self, team: str | None, conversation_id: str, *,
                    max_age_s: float | None = None, timeout_s: float | None = None
                    ) -> ConversationTotal:
        """The conversation's total for `team` (None: every team): the stored calls, read
        again when the last read is `max_age_s` old (default: the tracker's), plus the
        recorded ones not stored yet. Raises what the database raises (TimeoutError past
        `timeout_s`); an unknown conversation has `requests == 0`."""
        key = (team, conversation_id)
        age = self.max_age_s if max_age_s is None else max_age_s
        read = self._reads.get(key)
        if read is None or time.monotonic() - read.at >= age:
            calls = await asyncio.wait_for(
                conversation_calls(self._engine, team=team, conversation_id=conversation_id),
                timeout_s)
            stored = ConversationTotal(conversation_id)
            for call in calls:
                stored.add(call)
            read = _Read(time.monotonic(), stored, frozenset(c["event_id"] for c in calls))
            self._reads[key] = read
            while len(self._reads) > self._reads_size:
                self._reads.popitem(last=False)
        self._reads.move_to_end(key)
        total = replace(read.total, sums=dict(read.total.sums), models=set(read.total.models),
                        teams=set(read.total.teams))
        for event_id, call in self._by_key.get(conversation_id, {}).items():
            if event_id not in read.ids and (team is None or call["team"] == team):
                total.add(call)
        return total

    def running_wh(self, team: str, conversation_id: str | None) -> float | None:
        """The conversation's energy so far, in Wh, as this replica knows it without
        waiting: its last read of the stored calls plus the calls it recorded since. None
        when there is no conversation or it was never read here. A read starts in the
        background then, and when the last one is `max_age_s` old, so the next call has
        it: the request path never waits on the database for a running total."""
        if conversation_id is None:
            return None
        read = self._reads.get((team, conversation_id))
        if read is None or time.monotonic() - read.at >= self.max_age_s:
            self._refresh_soon(team, conversation_id)
        if read is None:
            return None
        wh = read.total.sums["energy_wh"]
        for event_id, call in self._by_key.get(conversation_id, {}).items():
            if event_id not in read.ids and call["team"] == team:
                wh += call["energy_wh"] or 0.0
        return wh

    async def settled_wh(self, team: str, conversation_id: str, *, wait_s: float) -> float | None:
        """`running_wh` once a background read of the conversation, if one is running, has
        landed or `wait_s` has passed: the answer path gives the read the upstream's time
        plus at most `wait_s`, on a conversation's first answer on this replica only."""
        reading = self._refreshing.get((team, conversation_id))
        if reading is not None:
            with suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reading), wait_s)
        return self.running_wh(team, conversation_id)

    def _refresh_soon(self, team: str, conversation_id: str) -> None:
        key = (team, conversation_id)
        if key not in self._refreshing:
            self._refreshing[key] = asyncio.ensure_future(self._refresh(team, conversation_id))
            self._refreshing[key].add_done_callback(lambda _: self._refreshing.pop(key, None))

    async def _refresh(self, team: str, conversation_id: str) -> None:
        try:
            await self.total(team, conversation_id, max_age_s=0.0, timeout_s=self.timeout_s)
        except Exception as exc:  # the database is slow or down: try again on a later call
            log.warning("conversation total for %s unavailable (%s)", conversation_id, exc)

    def _forget(self, event_id: str) -> None:
        entry = self._recent.pop(event_id, None)
        if entry is None:
            return
        for key in entry[0]:
            calls = self._by_key.get(key)
            if calls is not None:
                calls.pop(event_id, None)
                if not calls:
                    del self._by_key[key]

    def _remember_response(self, team: str, response_id: str, conversation: str) -> None:
        self._responses[(team, response_id)] = conversation
        self._responses.move_to_end((team, response_id))
        while len(self._responses) > self._responses_size:
            self._responses.popitem(last=False)
