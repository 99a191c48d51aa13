"""Tests that call `proxy.logs.setup_logging` change process-wide logging: keep and restore it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from proxy.logs import LIBRARY_LOGGERS, OWN_LOGGERS, PROMPT_LOGGERS

TOUCHED = ("", *OWN_LOGGERS, *LIBRARY_LOGGERS, *PROMPT_LOGGERS, "uvicorn", "uvicorn.error")


@contextmanager
def kept_logging() -> Iterator[None]:
    """Level, handlers and propagation of every logger `setup_logging` touches, restored."""
    loggers = [logging.getLogger(name) for name in TOUCHED]
    saved = [(lg.level, list(lg.handlers), lg.propagate) for lg in loggers]
    try:
        yield
    finally:
        for lg, (level, handlers, propagate) in zip(loggers, saved, strict=True):
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate
        logging.captureWarnings(False)
