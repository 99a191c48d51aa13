"""Logging: one line per event on stderr, as text or JSON, and the access line of every call.

Wattgate's own loggers (`wattgate.*`, `proxy.*`, `estimators.*`) log at the level asked
(`WATTGATE_LOG_LEVEL`); the libraries it uses (uvicorn, aiohttp, SQLAlchemy, Alembic,
httpx...) at their own level (`WATTGATE_LIBRARY_LOG_LEVEL`, warning by default), so debug
logging shows Wattgate's decisions without library chatter. litellm never logs below
warning, whatever is asked: its debug and info records carry whole prompts and
completions. Nothing Wattgate itself logs holds prompt or completion text.

Lines (text format; JSON carries the same fields as keys):

    2026-10-02T09:14:03.512Z INFO wattgate.access: call request_id=req_... team=search
        endpoint=chat.completions model=gpt-4o-mini status=200 latency_s=0.412 ... energy_wh=0.31
    2026-10-02T09:14:05.001Z WARNING wattgate.upstream: upstream failed request_id=req_...
        deployment=gpt-4o#1 status=502 code=upstream_unreachable cause="Upstream ... refused"

(one line each; wrapped here).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

import orjson

if TYPE_CHECKING:
    from proxy.errors import ProxyError
    from proxy.events import UsageEvent

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")

OWN_LOGGERS = ("wattgate", "proxy", "estimators")
# Libraries that set a level of their own on import (SQLAlchemy: warning), given the
# library level explicitly; the others follow the root logger's.
LIBRARY_LOGGERS = ("sqlalchemy", "alembic", "aiosqlite", "asyncpg", "aiohttp", "httpx",
                   "httpcore")
# litellm's loggers: at debug and info they print request and response bodies.
PROMPT_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm")
_CAUSE_CHARS = 300  # upstream error messages are cut here in failure lines

access_log = logging.getLogger("wattgate.access")
failure_log = logging.getLogger("wattgate.upstream")


def setup_logging(
    *, level: str = "info", fmt: str = "text", library_level: str = "warning",
    stream: TextIO | None = None,
) -> None:
    """Send every record to one handler on `stream` (stderr), one line per event.

    `level` and `library_level` are names from `LEVELS`; `fmt` one of `FORMATS`.
    Replaces the root logger's handlers: call it once, from the command that runs.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(library_level.upper())
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(library_level.upper())
    logging.captureWarnings(True)  # Python warnings become records (py.warnings) too
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level.upper())
    # uvicorn's start and stop lines are events of ours, through the same handler; its
    # access log is replaced by the access line below (access_log=False keeps it off).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.error").setLevel(max(logging.getLevelName(level.upper()),
                                                    logging.INFO))
    quiet_litellm()


class _Ceiling(logging.Filter):
    """Drops records below WARNING, even if a library lowers its own logger's level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


_CEILING = _Ceiling()


def quiet_litellm() -> None:
    """Keep litellm's loggers at warning and above, through Wattgate's handler only.

    Safe to call any number of times, before or after litellm is imported: litellm adds
    a handler of its own to its loggers when imported, so call it again after that.
    """
    for name in PROMPT_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if _CEILING not in logger.filters:
            logger.addFilter(_CEILING)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def log_call(event: UsageEvent) -> None:
    """The access line of one client request (`event`: the row of its last try), at info
    level; tries that failed before it have their own upstream-failure lines.

    Identifiers, status, timing, tokens and impacts only: never request or response text.
    """
    if not access_log.isEnabledFor(logging.INFO):
        return
    fields: dict[str, Any] = {
        "request_id": event.request_id,
        "team": event.team,
        "endpoint": event.endpoint,
        "model": event.requested_model,
        "deployment": event.deployment,
        "attempt": event.attempt,
        "status": event.status_code,
        "latency_s": _round(event.latency_s),
        "input_tokens": event.input_tokens,
        "output_tokens": event.output_tokens,
        "energy_wh": _round(event.energy_wh),
        "emissions_gco2e": _round(event.emissions_gco2e),
    }
    if event.error_type:
        fields["error"] = event.error_type
    access_log.info("call", extra={"fields": fields})


def log_upstream_failure(event: UsageEvent, exc: ProxyError) -> None:
    """A warning line for a try whose upstream failed (`exc` of type `upstream_error`), with
    the cause; errors of the caller's own making (bad request, key, budget) are not logged
    here, their access line says enough."""
    if exc.type != "upstream_error":
        return
    fields = {
        "request_id": event.request_id,
        "deployment": event.deployment,
        "attempt": event.attempt,
        "status": exc.status,
        "code": exc.code,
        "cause": _cause(exc),
    }
    failure_log.warning("upstream failed", extra={"fields": fields})


def _cause(exc: ProxyError) -> str:
    """The error's message, plus the first line of the low-level error behind it when that
    says more (e.g. `ClientConnectorError: Cannot connect to host ...`)."""
    text = exc.message
    inner = exc.__cause__ or exc.__context__
    if inner is not None:
        lines = str(inner).strip().splitlines()
        detail = f"{type(inner).__name__}: {lines[0]}" if lines else type(inner).__name__
        if not lines or lines[0] not in text:
            text += f" ({detail})"
    return text[:_CAUSE_CHARS]


def _round(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")


def _fields(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """`TIME LEVEL logger: message key=value ...` on one line (newlines escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, f"{record.name}:", record.getMessage()]
        parts += [f"{key}={_logfmt(value)}" for key, value in _fields(record).items()]
        if record.exc_info:
            parts.append("exception=" + _logfmt(self.formatException(record.exc_info)))
        return " ".join(parts).replace("\r", "\\r").replace("\n", "\\n")


def _logfmt(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    if text and all(c.isalnum() or c in "._-:/#@+" for c in text):
        return text
    return orjson.dumps(text).decode()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time`, `level`, `logger`, `message`, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


__all__ = [
    "FORMATS",
    "LEVELS",
    "JsonFormatter",
    "TextFormatter",
    "log_call",
    "log_upstream_failure",
    "quiet_litellm",
    "setup_logging",
]
