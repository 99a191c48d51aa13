"""Fixtures: one recording upstream and two Wattgates (open mode, team-key mode) per
session; each test resets the upstream and makes its calls through a `Harness`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.harness import Harness, Side, running_side
from tests.conformance.upstream import RecordingUpstream


@pytest.fixture(scope="session")
def upstream() -> Iterator[RecordingUpstream]:
    server = RecordingUpstream().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_upstream(upstream: RecordingUpstream) -> Iterator[None]:
    """Each test starts with no script and no captures, and leaves no reply hanging."""
    upstream.reset()
    yield
    upstream.reset()


@pytest.fixture(scope="session")
def open_side(upstream: RecordingUpstream, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Side]:
    yield from running_side(upstream, tmp_path_factory.mktemp("open"), "open")


@pytest.fixture(scope="session")
def team_side(upstream: RecordingUpstream, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Side]:
    yield from running_side(upstream, tmp_path_factory.mktemp("team"), "team")


@pytest.fixture(params=["open", "team"])
def side(request: pytest.FixtureRequest) -> Side:
    """Each test that takes `side` runs once per mode."""
    return request.getfixturevalue(f"{request.param}_side")


@pytest.fixture
def harness(upstream: RecordingUpstream, side: Side) -> Harness:
    return Harness(upstream, side)


@pytest.fixture
def open_harness(upstream: RecordingUpstream, open_side: Side) -> Harness:
    return Harness(upstream, open_side)
