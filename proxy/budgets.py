"""Per-team monthly carbon and energy budgets, enforced without a database round trip.

`BudgetGuard.check(team)` is pure in-memory. A background refresh (every `refresh_s`)
reads this month's totals per team from the database (rollups plus raw events, the same
query as reports), and the budgets themselves, so every replica sharing one database sees
the same usage. On top of that total, each process adds only its own usage that is not
in the database yet (`add()` after each metered call): entries are dropped once a refresh
has seen them stored, so nothing is counted twice for long and nothing drifts.

Months are UTC calendar months; budgets reset at 00:00 UTC on the first day of the next.
Gram budgets count location-based emissions (operational + embodied, central estimate).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.background import Periodic
from proxy.errors import BudgetExceeded
from proxy.reports.periods import Period, month_start, next_month
from proxy.reports.queries import ReportFilter, aggregate
from proxy.reports.sql import events
from proxy.store.budgets import Budget, load_budgets

log = logging.getLogger("wattgate.budgets")


@dataclass(frozen=True, slots=True)
class BudgetState:
    team: str
    used_g: float
    used_wh: float
    budget: Budget | None
    remaining_g: float | None  # to the hard gram budget (else the soft one); None if unset
    remaining_wh: float | None
    soft_exceeded: bool
    resets_at: datetime

    def to_dict(self) -> dict[str, Any]:
        b = self.budget
        return {"team": self.team, "used_gco2e": self.used_g, "used_wh": self.used_wh,
                "soft_gco2e": b.soft_gco2e if b else None,
                "hard_gco2e": b.hard_gco2e if b else None,
                "soft_wh": b.soft_wh if b else None, "hard_wh": b.hard_wh if b else None,
                "remaining_gco2e": self.remaining_g, "remaining_wh": self.remaining_wh,
                "soft_exceeded": self.soft_exceeded, "resets_at": self.resets_at.isoformat()}


@dataclass(slots=True)
class _Pending:
    seq: int
    month: datetime
    team: str
    grams: float
    wh: float
    event_id: str | None


def _month_of(moment: datetime) -> datetime:
    return month_start(moment.date())


class BudgetGuard:
    def __init__(self, engine: AsyncEngine, *, writer: Any = None, metrics: Any = None,
                 refresh_s: float = 2.0) -> None:
        self._engine = engine
        self._writer = writer
        self._refresh_s = refresh_s
        self._budgets: dict[str, Budget] = {}
        self._month = _month_of(datetime.now(UTC))
        self._db: dict[str, tuple[float, float]] = {}  # team -> (grams, Wh) stored this month
        self._pending: list[_Pending] = []
        self._pending_sum: dict[str, list[float]] = {}
        self._seq = itertools.count()
        self._warned: set[tuple[str, datetime]] = set()
        self._refresher = Periodic(
            "wattgate-budgets", self.refresh, interval_s=refresh_s,
            failure="budget refresh failed, keeping the last totals",
        )
        self._soft_counter = None
        self._label = (lambda v: v)
        if metrics is not None:
            from prometheus_client import Counter

            self._soft_counter = Counter(
                "wattgate_budget_soft_exceeded",
                "Requests served while the team was over a soft monthly budget.",
                ("team",), registry=metrics.registry)
            self._label = metrics.team_label

    async def start(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:
            log.warning("budget refresh failed at start-up: %s", exc)
        self._refresher.start()

    async def close(self) -> None:
        await self._refresher.close()

    def _writer_idle(self) -> bool:
        return self._writer is not None and bool(self._writer.idle)

    async def refresh(self) -> None:
        """Reload budgets and this month's stored totals; drop pending usage now stored."""
        now = datetime.now(UTC)
        month = _month_of(now)
        # Entries added before this point are stored if the writer is idle now.
        cutoff = next(self._seq) if self._writer_idle() else -1
        unsure = [p for p in self._pending if p.seq > cutoff and p.event_id]
        stored: set[str] = set()
        if unsure:
            async with self._engine.connect() as conn:
                for start in range(0, len(unsure), 1000):
                    ids = [p.event_id for p in unsure[start:start + 1000]]
                    found = await conn.execute(
                        select(events.c.event_id).where(events.c.event_id.in_(ids)))
                    stored.update(r[0] for r in found)
        budgets = await load_budgets(self._engine)
        rows: list[dict[str, Any]] = []
        if budgets:  # only teams with a budget are summed; none means no query at all
            period = Period(month, next_month(month), f"{month:%Y-%m}")
            wanted = ReportFilter(period=period, teams=tuple(sorted(budgets)))
            rows = await aggregate(self._engine, wanted, ("team",), ())
        self._budgets = budgets
        self._db = {r["g_team"]: (float(r["emissions_gco2e"] or 0.0), float(r["energy_wh"] or 0.0))
                    for r in rows}
        self._month = month
        keep = [p for p in self._pending
                if p.month == month and p.seq > cutoff and p.event_id not in stored]
        self._pending = keep
        sums: dict[str, list[float]] = {}
        for p in keep:
            s = sums.setdefault(p.team, [0.0, 0.0])
            s[0] += p.grams
            s[1] += p.wh
        self._pending_sum = sums

    def set_budget(self, budget: Budget) -> None:
        """Apply a budget on this replica at once (others pick it up at their next refresh)."""
        if budget.is_empty():
            self._budgets.pop(budget.team, None)
        else:
            self._budgets[budget.team] = budget

    def add(self, team: str, grams: float, wh: float, *, event_id: str | None = None) -> None:
        """Count a metered call of this process until the database has it."""
        month = _month_of(datetime.now(UTC))
        self._pending.append(_Pending(next(self._seq), month, team, grams, wh, event_id))
        s = self._pending_sum.setdefault(team, [0.0, 0.0])
        s[0] += grams
        s[1] += wh

    def usage(self, team: str) -> tuple[float, float]:
        """(grams, Wh) this month: stored plus this process's pending."""
        if _month_of(datetime.now(UTC)) != self._month:
            stored = (0.0, 0.0)  # a new month began since the last refresh
            new = [p for p in self._pending if p.team == team and p.month != self._month]
            pend = [sum(p.grams for p in new), sum(p.wh for p in new)]
        else:
            stored = self._db.get(team, (0.0, 0.0))
            pend = self._pending_sum.get(team, [0.0, 0.0])
        return stored[0] + pend[0], stored[1] + pend[1]

    def state(self, team: str) -> BudgetState:
        used_g, used_wh = self.usage(team)
        budget = self._budgets.get(team)
        resets = next_month(datetime.now(UTC))
        if budget is None:
            return BudgetState(team, used_g, used_wh, None, None, None, False, resets)
        limit_g = budget.hard_gco2e if budget.hard_gco2e is not None else budget.soft_gco2e
        limit_wh = budget.hard_wh if budget.hard_wh is not None else budget.soft_wh
        soft = ((budget.soft_gco2e is not None and used_g >= budget.soft_gco2e)
                or (budget.soft_wh is not None and used_wh >= budget.soft_wh))
        return BudgetState(
            team, used_g, used_wh, budget,
            None if limit_g is None else max(0.0, limit_g - used_g),
            None if limit_wh is None else max(0.0, limit_wh - used_wh),
            soft, resets)

    def has_budget(self, team: str) -> bool:
        return team in self._budgets

    def check(self, team: str) -> BudgetState | None:
        """The team's budget state (None without one); `BudgetExceeded` (429) over a hard one."""
        if team not in self._budgets:  # the common case costs one dict lookup
            return None
        state = self.state(team)
        b = state.budget
        assert b is not None
        resets = state.resets_at.strftime("%Y-%m-%d 00:00 UTC")
        if b.hard_gco2e is not None and state.used_g >= b.hard_gco2e:
            raise BudgetExceeded(
                f"Team '{team}' is over its hard monthly carbon budget: {state.used_g:.4g} of "
                f"{b.hard_gco2e:.4g} gCO2e used. The budget resets on {resets}.")
        if b.hard_wh is not None and state.used_wh >= b.hard_wh:
            raise BudgetExceeded(
                f"Team '{team}' is over its hard monthly energy budget: {state.used_wh:.4g} of "
                f"{b.hard_wh:.4g} Wh used. The budget resets on {resets}.")
        if state.soft_exceeded:
            if self._soft_counter is not None:
                self._soft_counter.labels(self._label(team)).inc()
            month = _month_of(datetime.now(UTC))
            if (team, month) not in self._warned:
                self._warned.add((team, month))
                log.warning("team %s is over its soft monthly budget (%.4g gCO2e, %.4g Wh used)",
                            team, state.used_g, state.used_wh)
        return state

    def states(self, teams: list[str] | None = None) -> list[BudgetState]:
        names = sorted(set(self._budgets) | set(self._db)) if teams is None else teams
        return [self.state(t) for t in names]
