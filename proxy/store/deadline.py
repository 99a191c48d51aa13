"""Database work with a deadline that a silent connection cannot stretch.

A database that stops answering without closing its connections (a network partition, a
stalled primary) makes every query wait for the driver's own timeouts, and `asyncio.timeout`
alone does not help: cancelling a query makes SQLAlchemy and the driver clean up (roll back,
close) over the same silent connection, and the caller waits for that cleanup too.
`within()` runs the work as a task of its own and stops waiting at the deadline; the
cancelled task finishes its cleanup in the background, holding nobody up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_abandoned: set[asyncio.Task[Any]] = set()  # kept referenced until their cleanup ends


class DatabaseTimeout(TimeoutError):
    """The database did not finish in time; the work was cancelled."""


async def within(timeout_s: float, work: Coroutine[Any, Any, T], *, what: str) -> T:
    """The result of `work`, or DatabaseTimeout after `timeout_s` seconds.

    `what` names the work in the error ("usage insert", "key lookup"). Errors raised by
    `work` itself propagate unchanged; cancelling the caller cancels the work.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        return task.result()
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget)
    raise DatabaseTimeout(f"{what} took longer than {timeout_s:g} s")


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: the failure was already reported as the timeout
