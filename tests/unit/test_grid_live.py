"""LiveGridIntensity against a tiny Electricity Maps stand-in on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from proxy.grid_live import LiveGridIntensity, em_zone


class FakeEM:
    def __init__(self) -> None:
        self.mode = "ok"
        self.value = 55.0
        self.requests: list[tuple[str, str | None]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.query.get("zone", ""), request.headers.get("auth-token")))
        if self.mode == "500":
            return web.Response(status=500, text="boom")
        if self.mode == "slow":
            await asyncio.sleep(0.5)
        if self.mode == "garbage":
            return web.Response(text="not json")
        return web.json_response(
            {
                "zone": request.query["zone"],
                "carbonIntensity": self.value,
                "datetime": "2025-01-01T00:00:00Z",
                "isEstimated": False,
            }
        )


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeEM, str]]:
    em = FakeEM()
    app = web.Application()
    app.router.add_get("/v3/carbon-intensity/latest", em.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield em, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_zone_mapping() -> None:
    assert em_zone("FRA") == "FR"
    assert em_zone("USA") == "US"
    assert em_zone("aws:us-east-1") == "US-MIDA-PJM"
    assert em_zone("azure:westeurope") == "NL"


async def test_success_then_errors_keep_last_value(fake: tuple[FakeEM, str]) -> None:
    em, url = fake
    live = LiveGridIntensity(url, "secret", ["FRA", "aws:us-east-1"], refresh_s=3600, timeout_s=0.2)
    assert live.get("FRA") is None
    await live.start()
    try:
        assert live.get("FRA") == 55.0
        assert live.get("aws:us-east-1") == 55.0
        assert ("FR", "secret") in em.requests and ("US-MIDA-PJM", "secret") in em.requests
        em.value = 70.0
        await live.refresh()
        assert live.get("FRA") == 70.0
        for mode in ("500", "slow", "garbage"):
            em.mode = mode
            await live.refresh()
            assert live.get("FRA") == 70.0  # last good value kept
        assert live.get("DEU") is None
    finally:
        await live.close()


async def test_never_succeeded_is_none(fake: tuple[FakeEM, str]) -> None:
    em, url = fake
    em.mode = "500"
    live = LiveGridIntensity(url, "t", ["FRA"], refresh_s=3600, timeout_s=0.5)
    await live.start()
    try:
        assert live.get("FRA") is None
    finally:
        await live.close()


async def test_timeout_gives_none(fake: tuple[FakeEM, str]) -> None:
    em, url = fake
    em.mode = "slow"
    live = LiveGridIntensity(url, "t", ["DEU"], refresh_s=3600, timeout_s=0.2)
    await live.start()
    try:
        assert live.get("DEU") is None
    finally:
        await live.close()


async def test_background_loop_refreshes(fake: tuple[FakeEM, str]) -> None:
    em, url = fake
    live = LiveGridIntensity(url, "t", ["FRA"], refresh_s=0.05, timeout_s=0.5)
    await live.start()
    try:
        em.value = 12.5
        for _ in range(100):
            if live.get("FRA") == 12.5:
                break
            await asyncio.sleep(0.02)
        assert live.get("FRA") == 12.5
    finally:
        await live.close()
    assert live._task is None


async def test_unreachable_server() -> None:
    live = LiveGridIntensity("http://127.0.0.1:9", "t", ["FRA"], refresh_s=3600, timeout_s=0.5)
    await live.start()
    try:
        assert live.get("FRA") is None
    finally:
        await live.close()
