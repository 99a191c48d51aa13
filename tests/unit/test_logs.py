"""Logging set-up: one line per event (text or JSON), Wattgate's own level apart from the
libraries', litellm held at warning, and the access and upstream-failure lines."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest

from proxy.errors import BadRequest, UpstreamError
from proxy.events import UsageEvent
from proxy.logs import (
    log_call,
    log_upstream_failure,
    quiet_litellm,
    setup_logging,
)
from tests.logging_state import kept_logging


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """A stream `setup_logging` writes to; the logging configuration is restored after."""
    with kept_logging():
        yield io.StringIO()


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def event(**changes: object) -> UsageEvent:
    base = UsageEvent(
        event_id="req_1.0", request_id="req_1", created_at=datetime.now(UTC), team="search",
        endpoint="chat.completions", status_code=200, requested_model="gpt-4o-mini",
        input_tokens=12, output_tokens=30, latency_s=0.41234567, energy_wh=0.0123456789,
        emissions_gco2e=0.0045678,
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def test_text_lines_are_one_line_each(logs: io.StringIO) -> None:
    setup_logging(level="info", stream=logs)
    log = logging.getLogger("wattgate.test")
    log.info("two\nlines")
    try:
        raise ValueError("boom\nagain")
    except ValueError:
        log.exception("failed")
    first, second = lines(logs)
    assert first.endswith("INFO wattgate.test: two\\nlines")
    assert second.split(" ", 1)[1].startswith("ERROR wattgate.test: failed exception=")
    assert "Traceback" in second and "boom\\nagain" in second


def test_json_lines_carry_the_fields(logs: io.StringIO) -> None:
    setup_logging(level="info", fmt="json", stream=logs)
    log_call(event(deployment="gpt-4o-mini#1", error_type=None))
    (line,) = lines(logs)
    doc = orjson.loads(line)
    assert doc["level"] == "info" and doc["logger"] == "wattgate.access"
    assert doc["message"] == "call" and doc["time"].endswith("Z")
    assert {k: doc[k] for k in ("request_id", "team", "model", "deployment", "status")} == {
        "request_id": "req_1", "team": "search", "model": "gpt-4o-mini",
        "deployment": "gpt-4o-mini#1", "status": 200}
    assert doc["latency_s"] == 0.4123 and doc["energy_wh"] == 0.01235
    assert (doc["input_tokens"], doc["output_tokens"]) == (12, 30) and "error" not in doc


def test_access_line_in_text(logs: io.StringIO) -> None:
    setup_logging(level="info", stream=logs)
    log_call(event(status_code=502, error_type="upstream_unreachable",
                   requested_model='odd "model" name'))
    (line,) = lines(logs)
    assert " INFO wattgate.access: call request_id=req_1 team=search " in line
    assert 'model="odd \\"model\\" name" deployment=- attempt=0 status=502' in line
    assert line.endswith(" error=upstream_unreachable")


def test_access_line_off_above_info(logs: io.StringIO) -> None:
    setup_logging(level="warning", stream=logs)
    log_call(event())
    assert lines(logs) == []


def test_upstream_failures_name_their_cause(logs: io.StringIO) -> None:
    setup_logging(level="info", stream=logs)
    try:
        try:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")
        except OSError:
            raise UpstreamError("Upstream 127.0.0.1 is unreachable.") from None
    except UpstreamError as exc:
        log_upstream_failure(event(status_code=502, deployment="a#2", attempt=1), exc)
    log_upstream_failure(event(status_code=400), BadRequest("bad JSON"))  # not an upstream's
    (line,) = lines(logs)
    assert "WARNING wattgate.upstream: upstream failed request_id=req_1 deployment=a#2" in line
    assert "attempt=1 status=502 code=upstream_unreachable" in line
    assert ('cause="Upstream 127.0.0.1 is unreachable. (ConnectionRefusedError: [Errno 111] '
            "Connect call failed ('127.0.0.1', 9))\"") in line


def test_libraries_stay_quiet_unless_asked(logs: io.StringIO) -> None:
    setup_logging(level="debug", stream=logs)
    logging.getLogger("wattgate.test").debug("ours")
    logging.getLogger("proxy.store.writer").debug("ours too")
    logging.getLogger("sqlalchemy.engine").info("SELECT 1")
    logging.getLogger("uvicorn.error").debug("uvicorn detail")
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library warning", UserWarning, stacklevel=1)
    got = lines(logs)
    assert [line.split(": ", 1)[1] for line in got[:3]] == [
        "ours", "ours too", "Application startup complete."]
    assert "py.warnings" in got[3] and "a library warning" in got[3] and len(got) == 4

    setup_logging(level="info", library_level="debug", stream=logs)
    logging.getLogger("sqlalchemy.engine").info("SELECT 2")
    assert lines(logs)[-1].endswith("sqlalchemy.engine: SELECT 2")


def test_litellm_never_below_warning(logs: io.StringIO) -> None:
    setup_logging(level="debug", library_level="debug", stream=logs)
    litellm_log = logging.getLogger("LiteLLM")
    own_handler = logging.StreamHandler(io.StringIO())
    litellm_log.addHandler(own_handler)  # as litellm does when imported
    litellm_log.setLevel(logging.DEBUG)  # as LITELLM_LOG=DEBUG or set_verbose would
    quiet_litellm()
    assert own_handler not in litellm_log.handlers
    litellm_log.setLevel(logging.DEBUG)  # lowered again after the fact: still capped
    litellm_log.debug("POST Request Sent from LiteLLM: {'messages': [...]}")
    litellm_log.info("response: {...}")
    litellm_log.warning("provider answered 429")
    assert [line.split(": ", 1)[1] for line in lines(logs)] == ["provider answered 429"]
