"""Per-process objects, built once at start-up and closed on shutdown.

The gateway starts whether or not its database answers. Migrations run in a background
task (`SchemaUpgrade`) that retries until they succeed; until then usage rows go to the
journal only and team keys come from the local key snapshot, and `/readyz` says
"degraded". Once the schema is in place the writer replays the journal, the key cache
reloads, and teams from the config are created.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
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
from proxy.store.deadline import within
from proxy.store.errors import AlreadyExists
from proxy.store.migrate import upgrade
from proxy.store.writer import UsageWriter
from proxy.upstream import UpstreamClient

if TYPE_CHECKING:
    from proxy.telemetry import CallTracer

log = logging.getLogger("wattgate")

START_WAIT_S = 15.0  # longest start-up waits for the first migration attempt
_RETRY_MIN_S, _RETRY_MAX_S = 0.5, 5.0


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
    schema: SchemaUpgrade
    grid: Any = None  # proxy.grid_live.LiveGridIntensity when configured
    rollups: Any = None  # proxy.reports.rollups.RollupTask
    budgets: Any = None  # proxy.budgets.BudgetGuard

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings.database_url)
        writer = UsageWriter(
            engine,
            spool_path=Path(settings.spool_path),
            max_queue=settings.usage_queue_rows,
            write_timeout_s=settings.database_timeout_s,
            fsync_interval_s=settings.journal_fsync_interval_s,
            database_ready=False,
        )
        await writer.start()
        keys = KeyCache(
            engine,
            ttl_s=settings.key_cache_ttl_s,
            snapshot_path=settings.key_snapshot_file,
            timeout_s=settings.database_timeout_s,
        )
        upstream = UpstreamClient(
            connect_timeout_s=settings.upstream_connect_timeout_s,
            read_timeout_s=settings.upstream_timeout_s,
        )
        await upstream.start()
        metrics = Metrics()
        _usage_metrics(metrics, writer)
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
        budgets = BudgetGuard(engine, writer=writer, metrics=metrics)
        conversations = ConversationTotals(engine)
        rightsizing = RightsizingHooks.build(settings, engine, upstream)
        recorder = Recorder(
            metrics=metrics, writer=writer, grid=grid, budgets=budgets, tracer=tracer
        )
        recorder.conversations = conversations

        async def on_schema_ready() -> None:
            writer.mark_database_ready()
            await _seed_teams(engine, settings)
            try:
                await keys.reload()
            except Exception as exc:
                log.warning("key cache reload failed: %s", exc)
            await rollups.start()
            await budgets.start()
            await rightsizing.start()

        schema = SchemaUpgrade(
            engine, url=settings.database_url, timeout_s=settings.database_timeout_s,
            on_ready=on_schema_ready,
        )
        await schema.start(wait_s=START_WAIT_S)
        await keys.start()
        return cls(
            settings=settings,
            engine=engine,
            upstream=upstream,
            keys=keys,
            router=Router(settings),
            metrics=metrics,
            writer=writer,
            recorder=recorder,
            schema=schema,
            grid=grid,
            rollups=rollups,
            budgets=budgets,
            conversations=conversations,
            end_users=EndUserIds.from_settings(settings),
            rightsizing=rightsizing,
        )

    async def close(self) -> None:
        await self.rightsizing.close()
        await self.schema.close()
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


class SchemaUpgrade:
    """Applies migrations in the background until they succeed, then runs `on_ready` once.

    Each attempt first probes the database with a `SELECT 1` under `timeout_s`, so an
    unreachable database costs a short probe, not a migration run stuck in its driver's
    connect timeout."""

    def __init__(
        self, engine: AsyncEngine, *, url: str, timeout_s: float,
        on_ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._engine = engine
        self._url = url
        self._timeout_s = timeout_s
        self._on_ready = on_ready
        self._task: asyncio.Task[None] | None = None
        self._attempted = asyncio.Event()
        self.done = False
        self.error: str | None = "migrations pending: not attempted yet"

    async def start(self, *, wait_s: float) -> None:
        """Begin; wait for the first attempt (at most `wait_s`), so a reachable database is
        migrated before the gateway serves."""
        self._task = asyncio.create_task(self._run(), name="wattgate-schema-upgrade")
        with suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), wait_s)
        if not self.done:
            log.warning("database unreachable at start (%s): serving with the key snapshot "
                        "and journaling usage until it answers", self.error)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        delay = _RETRY_MIN_S
        while True:
            try:
                await within(self._timeout_s, self._probe(), what="database probe")
                # Runs to completion in its thread (never two at once); the driver's own
                # connect and command timeouts bound it.
                await asyncio.to_thread(upgrade, self._url)
            except Exception as exc:
                self.error = f"migrations pending: {type(exc).__name__}"
                self._attempted.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            break
        self.done, self.error = True, None
        log.info("database schema up to date")
        try:
            await self._on_ready()
        except Exception:
            log.exception("start-up work after the migrations failed")
        finally:
            self._attempted.set()

    async def _probe(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


async def _seed_teams(engine: AsyncEngine, settings: Settings) -> None:
    for team in settings.seed_teams:
        try:
            await key_store.create_team(engine, name=team)
        except AlreadyExists:
            pass
        except Exception as exc:
            log.warning("could not create team %r from the config: %s", team, exc)


def _usage_metrics(metrics: Metrics, writer: UsageWriter) -> None:
    metrics.gauge(
        "wattgate_usage_queue_rows", "Usage rows waiting in memory to be written.",
        lambda: writer.queue_size,
    )
    metrics.gauge(
        "wattgate_usage_spooled_rows",
        "Usage rows on local disk only (journal), waiting for the database.",
        lambda: writer.spooled_rows,
    )
    metrics.gauge(
        "wattgate_usage_journal_bytes", "Size of the usage journal's segments on disk.",
        lambda: writer.journal_bytes,
    )
    metrics.gauge(
        "wattgate_usage_journal_writable", "1 while the usage journal can be written, else 0.",
        lambda: writer.journal_error is None,
    )
    metrics.gauge(
        "wattgate_usage_open_streams", "Streams marked in the journal, not recorded yet.",
        lambda: writer.open_streams,
    )
    metrics.counter(
        "wattgate_usage_rows_lost",
        "Usage rows dropped because neither the journal nor memory could hold them.",
        lambda: writer.lost_rows,
    )


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
