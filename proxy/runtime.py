"""Per-process objects, built once at start-up and closed on shutdown."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.auth import KeyCache
from proxy.config import ConfigError, Settings
from proxy.display.conversation_totals import ConversationTotals
from proxy.display.end_users import EndUserIds
from proxy.metrics import Metrics
from proxy.recorder import Recorder
from proxy.rightsizing.hooks import RightsizingHooks
from proxy.routing import Router
from proxy.store import keys as key_store
from proxy.store.db import create_engine
from proxy.store.errors import AlreadyExists
from proxy.store.migrate import upgrade
from proxy.store.writer import UsageWriter
from proxy.upstream import UpstreamClient

if TYPE_CHECKING:
    from proxy.telemetry import CallTracer

log = logging.getLogger("wattgate")


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    upstream: UpstreamClient
    keys: KeyCache
    router: Router
    metrics: Metrics
    writer: UsageWriter
    recorder: Recorder
    conversations: ConversationTotals  # running totals per conversation
    end_users: EndUserIds  # how end-user ids are stored
    rightsizing: RightsizingHooks  # route rules and shadow evaluation
    grid: Any = None  # proxy.grid_live.LiveGridIntensity when configured
    rollups: Any = None  # proxy.reports.rollups.RollupTask
    budgets: Any = None  # proxy.budgets.BudgetGuard

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        await asyncio.to_thread(upgrade, settings.database_url)
        engine = create_engine(settings.database_url)
        for team in settings.seed_teams:
            try:
                await key_store.create_team(engine, name=team)
            except AlreadyExists:
                pass
        writer = UsageWriter(engine, spool_path=Path(settings.spool_path))
        await writer.start()
        keys = KeyCache(engine, ttl_s=settings.key_cache_ttl_s)
        await keys.start()
        upstream = UpstreamClient(
            connect_timeout_s=settings.upstream_connect_timeout_s,
            read_timeout_s=settings.upstream_timeout_s,
        )
        await upstream.start()
        metrics = Metrics()
        metrics.gauge(
            "wattgate_usage_queue_rows",
            "Usage rows waiting to be written.",
            lambda: writer.queue_size,
        )
        metrics.gauge(
            "wattgate_usage_spooled_rows",
            "Usage rows in the local spool file, waiting for the database.",
            lambda: writer.spooled_rows,
        )
        grid = await _live_grid(settings)
        if settings.open_mode:
            log.warning(
                "OPEN MODE: no WATTGATE_MASTER_KEY is set. Callers' own Authorization headers "
                "are forwarded upstream, usage goes to team 'default' (or x-wattgate-team), "
                "and the admin API answers loopback clients without a key."
            )
        from proxy.budgets import BudgetGuard
        from proxy.reports.rollups import RollupTask

        tracer = _tracer(settings)
        rollups = RollupTask(engine)
        await rollups.start()
        budgets = BudgetGuard(engine, writer=writer, metrics=metrics)
        await budgets.start()
        conversations = ConversationTotals(engine)
        rightsizing = await RightsizingHooks.open(settings, engine, upstream)
        recorder = Recorder(
            metrics=metrics, writer=writer, grid=grid, budgets=budgets, tracer=tracer
        )
        recorder.conversations = conversations
        return cls(
            settings=settings,
            engine=engine,
            upstream=upstream,
            keys=keys,
            router=Router(settings),
            metrics=metrics,
            writer=writer,
            recorder=recorder,
            grid=grid,
            rollups=rollups,
            budgets=budgets,
            conversations=conversations,
            end_users=EndUserIds.from_settings(settings),
            rightsizing=rightsizing,
        )

    async def close(self) -> None:
        await self.rightsizing.close()
        if self.budgets is not None:
            await self.budgets.close()
        if self.rollups is not None:
            await self.rollups.close()
        await self.upstream.close()
        await self.keys.close()
        if self.grid is not None:
            await self.grid.close()
        await self.writer.close()
        await self.engine.dispose()
        if self.recorder.tracer is not None:
            await asyncio.to_thread(self.recorder.tracer.close)


async def _live_grid(settings: Settings) -> Any:
    if not settings.electricitymaps_token:
        return None
    from proxy.grid_live import LiveGridIntensity

    zones = sorted(
        {
            d.overrides.zone
            for d in (*settings.deployments, settings.default_deployment())
            if d.overrides is not None and d.overrides.zone
        }
    )
    grid = LiveGridIntensity(
        settings.electricitymaps_base_url, settings.electricitymaps_token, zones
    )
    await grid.start()
    return grid


def _tracer(settings: Settings) -> CallTracer | None:
    """The OTLP span exporter, when `WATTGATE_OTEL_ENDPOINT` is set."""
    if not settings.otel_endpoint:
        return None
    try:
        from proxy.telemetry import CallTracer

        return CallTracer.otlp(settings.otel_endpoint)
    except ImportError:
        raise ConfigError(
            "WATTGATE_OTEL_ENDPOINT is set but OpenTelemetry is not installed: "
            "pip install 'wattgate[otel]'"
        ) from None
