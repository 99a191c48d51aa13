"""The request path's two right-sizing hooks, built once per process from the settings.

    hooks = RightsizingHooks.build(settings, engine, upstream)          # runtime start
    await hooks.start()                                                  # database ready
    decision = hooks.route(team=..., shape=..., model=..., headers=...) # before routing
    hooks.after_answer(event, request_json, answer)                     # after sending
    await hooks.close()                                                  # shutdown

Both hooks cost next to nothing when their config section is empty: `route` returns None
without looking further when there is no `route:` rule, `after_answer` returns False when
there is no `shadow:` rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.config import Deployment, Settings
from proxy.rightsizing.config import RightsizingSettings
from proxy.rightsizing.evidence import AgreementBoard
from proxy.rightsizing.policy import REROUTE_HEADER, RouteDecision, client_refuses, decide_route
from proxy.rightsizing.shadow import ShadowCall, ShadowEvaluator, upstream_sender
from proxy.store.shadow import insert_verdict
from proxy.tasks import RequestShape
from proxy.upstream import UpstreamClient


class RightsizingHooks:
    def __init__(self, settings: RightsizingSettings, *, shadow: ShadowEvaluator | None = None,
                 board: AgreementBoard | None = None) -> None:
        self.settings = settings
        self.shadow = shadow
        self.board = board

    @classmethod
    def build(cls, settings: Settings, engine: AsyncEngine,
              upstream: UpstreamClient) -> RightsizingHooks:
        """What the config asks for: a shadow evaluator, an agreement board (`start` loads
        it once the database is there)."""
        config = settings.rightsizing
        shadow = None
        if config.shadow.rules:
            async def store(row: dict[str, Any]) -> None:
                await insert_verdict(engine, row)

            shadow = ShadowEvaluator(config.shadow, deployments=_by_name(settings),
                                     send=upstream_sender(upstream), store=store)
        board = None
        if config.route.rules:
            board = AgreementBoard(engine, window_days=config.route.window_days)
        return cls(config, shadow=shadow, board=board)

    async def start(self) -> None:
        """Load the agreement evidence and keep it fresh (the database is up and migrated)."""
        if self.board is not None:
            await self.board.start()

    async def close(self) -> None:
        if self.board is not None:
            await self.board.close()
        if self.shadow is not None:
            await self.shadow.close()

    def route(self, *, team: str, shape: RequestShape, model: str | None,
              headers: Mapping[bytes, bytes]) -> RouteDecision | None:
        """Where an active `route:` rule sends this call instead, or None (most calls).

        `shape` is the request-time task shape (`proxy.tasks.shape_request`); `headers` the
        client's, lower-case names (`x-wattgate-reroute: off` refuses).
        """
        if self.board is None:
            return None
        return decide_route(self.settings.route.rules, team=team, task=shape.guess().task,
                            model=model, refused=client_refuses(headers.get(REROUTE_HEADER)),
                            agreement=self.board.current)

    def after_answer(self, event: ShadowCall, request: Mapping[str, Any] | None,
                     answer: Any) -> bool:
        """Offer a finished call to shadow evaluation (see `ShadowEvaluator.maybe_schedule`)."""
        if self.shadow is None:
            return False
        return self.shadow.maybe_schedule(event, request, answer)


def _by_name(settings: Settings) -> dict[str, Deployment]:
    """Configured deployments by the name clients use (a chain's first deployment)."""
    out: dict[str, Deployment] = {}
    for dep in settings.deployments:
        out.setdefault(dep.name, dep)
    return out
