"""Shadow agreement held in memory for the routing policy, refreshed from the database.

No request waits on the database: `AgreementBoard.current` is a dict rebuilt every
`refresh_s` seconds from `shadow_verdicts` over the configured window, on every replica.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.background import Periodic
from proxy.rightsizing.agreement import Agreement
from proxy.rightsizing.policy import AgreementKey
from proxy.store.shadow import verdict_totals


class AgreementBoard:
    def __init__(self, engine: AsyncEngine, *, window_days: int, refresh_s: float = 30.0) -> None:
        self._engine = engine
        self._window = timedelta(days=window_days)
        self.current: dict[AgreementKey, Agreement] = {}
        self._refresher = Periodic("wattgate-shadow-agreement", self.refresh,
                                   interval_s=refresh_s,
                                   failure="shadow agreement refresh failed, keeping the last")

    async def start(self) -> None:
        await self.refresh()
        self._refresher.start()

    async def close(self) -> None:
        await self._refresher.close()

    async def refresh(self) -> None:
        now = datetime.now(UTC)
        totals = await verdict_totals(self._engine, start=now - self._window, end=now)
        self.current = {(t.team, t.task, t.candidate): t.agreement for t in totals}
