"""What the request path asks of the usage ledger (the journal and the database writer).

- `admit(runtime, metered=...)`, before a call is served: a metered call whose usage row could
  not be persisted anywhere (journal unwritable and database unreachable) is refused with a
  503, unless `WATTGATE_WHEN_USAGE_UNRECORDABLE=serve`, which serves it and counts its row in
  `wattgate_usage_rows_lost_total` if memory cannot hold it either.
- `begin_stream(runtime, call)`, before a stream's first byte: journals the row to store if
  the process dies before the stream ends (status 499, `error_type` "gateway_interrupted",
  no usage). The stream's own row, recorded when it ends, closes the mark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.errors import UsageUnrecordable

if TYPE_CHECKING:
    from proxy.call import Call
    from proxy.runtime import Runtime

INTERRUPTED_STATUS = 499
INTERRUPTED_ERROR = "gateway_interrupted"


def admit(runtime: Runtime, *, metered: bool) -> None:
    """Raise UsageUnrecordable (503) for a metered call that could leave no usage row."""
    if (
        metered
        and not runtime.writer.accepting
        and runtime.settings.when_usage_unrecordable == "refuse"
    ):
        raise UsageUnrecordable(
            "Wattgate cannot record usage right now (its journal and database are both "
            "unavailable), so it is not accepting metered calls. Try again shortly."
        )


def begin_stream(runtime: Runtime, call: Call) -> None:
    """Journal a mark for `call`'s stream (microseconds, no I/O but one file append)."""
    event, _ = runtime.recorder.measure(
        call, status=INTERRUPTED_STATUS, usage=None, usage_source="none",
        error_type=INTERRUPTED_ERROR,
    )
    runtime.writer.begin_stream(event)
