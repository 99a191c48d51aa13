"""Task shapes: what kind of work each call is (classification, extraction, embedding,
summarisation, generation, code, reasoning), read from its request and token counts in
memory. Only the task, a confidence and short signal codes are stored, never text."""

from proxy.tasks.shape import (
    SIGNALS,
    TASKS,
    RequestShape,
    TaskShape,
    classify,
    label_event,
    shape_request,
)

__all__ = [
    "SIGNALS",
    "TASKS",
    "RequestShape",
    "TaskShape",
    "classify",
    "label_event",
    "shape_request",
]
