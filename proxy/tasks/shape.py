"""Task shape of a call: classification, extraction, embedding, summarisation, generation,
code or reasoning, with a confidence and the signals that fired. Pure and in memory.

Two steps, because some signals exist only once the answer is in:

    shape = shape_request(endpoint, request_json)   # request time (routing can use it)
    label_event(event, request_json, shape)          # meter time: adds token signals and
                                                     # fills event.task, task_confidence,
                                                     # task_signals

Each signal adds its weight to one task (`SIGNALS`); generation starts with a prior of
`GENERATION_PRIOR`, so a call with no signal at all is generation/chat. The task with the
highest score wins (ties: the order of `TASKS`). Confidence is
`(best / total) * (1 - exp(-best))`: the winner's share of all the evidence, damped when
the evidence itself is thin. Rules and known failure modes: docs/rightsizing.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from proxy.tasks.keywords import KEYWORDS, keyword_hits
from proxy.tasks.signals import (
    instruction_window,
    logit_bias_signal,
    max_tokens_signal,
    reasoning_request_signal,
    response_format_signal,
    tool_signal,
)

TASKS: tuple[str, ...] = (
    "classification",
    "extraction",
    "embedding",
    "summarisation",
    "generation",
    "code",
    "reasoning",
)
GENERATION_PRIOR = 0.5

TINY_OUTPUT_TOKENS = 5  # visible output tokens of a label
COMPRESS_MIN_INPUT = 1500  # input tokens before a short answer counts as compression
COMPRESS_MAX_RATIO = 0.10  # visible output / input at most this for `io:cmp`
EXPAND_MIN_OUTPUT = 300  # visible output tokens of an open-ended generation
REASONING_MIN_TOKENS = 256  # reasoning tokens that mark a reasoning-heavy call

# code -> (task, weight, meaning). The keyword codes come from proxy.tasks.keywords.
SIGNALS: dict[str, tuple[str, float, str]] = {
    "ep:emb": ("embedding", 5.0, "embeddings endpoint"),
    "rf:enum": ("classification", 3.0, "response_format JSON schema of a few enum/boolean fields"),
    "rf:schema": ("extraction", 2.5, "response_format JSON schema with free-form fields"),
    "rf:json": ("extraction", 1.5, "response_format json_object"),
    "tool:enum": ("classification", 3.0, "forced tool call whose parameters are enums/booleans"),
    "tool:schema": ("extraction", 2.5, "forced tool call with free-form parameters"),
    "tools": ("generation", 0.5, "tools offered but not forced (agent or chat)"),
    "max:tiny": ("classification", 1.5, "max output tokens at most 16"),
    "lb": ("classification", 2.0, "logit_bias raising some tokens"),
    "rq:rsn": ("reasoning", 1.0, "medium/high reasoning effort or extended thinking asked"),
    "fence": ("code", 1.5, "a ``` code fence in the last user message"),
    "out:tiny": ("classification", 1.5, "at most 5 visible output tokens"),
    "io:cmp": ("summarisation", 0.75, "long input, visible output at most 10% of it"),
    "io:exp": ("generation", 1.0, "visible output of 300+ tokens, at least twice the input"),
    "rs:tok": ("reasoning", 1.25, "256 or more reasoning tokens"),
    **{k.code: (k.task, k.weight, "instruction keyword") for k in KEYWORDS},
}
_INDEX = {task: i for i, task in enumerate(TASKS)}
_WEIGHTS = {code: (_INDEX[task], weight) for code, (task, weight, _) in SIGNALS.items()}
_KEYWORD_CODES = tuple(k.code for k in KEYWORDS)
_STRUCTURE = (
    response_format_signal,
    tool_signal,
    max_tokens_signal,
    logit_bias_signal,
    reasoning_request_signal,
)
_NOT_LABELLED = frozenset({"passthrough", "models"})


class TokenCounts(Protocol):
    """Token counts of the answer (a `UsageEvent` or `TokenUsage`), OpenAI convention:
    reasoning tokens are part of the output tokens."""

    input_tokens: int
    output_tokens: int
    reasoning_tokens: int


class TaskShape(NamedTuple):
    task: str  # one of TASKS
    confidence: float  # 0..1, two decimals
    signals: tuple[str, ...]  # codes of SIGNALS that fired, in detection order

    @property
    def signal_text(self) -> str:
        """The codes as stored in `usage_events.task_signals` (comma-joined)."""
        return ",".join(self.signals)


@dataclass(frozen=True, slots=True)
class RequestShape:
    """What the request alone says; `finish` adds what the answer's token counts say."""

    endpoint: str
    signals: tuple[str, ...]

    def guess(self) -> TaskShape:
        """The task as far as the request tells (for decisions before the answer)."""
        return _decide(self.signals)

    def finish(self, counts: TokenCounts | None) -> TaskShape:
        if counts is None or self.endpoint == "embeddings":
            return _decide(self.signals)
        return _decide(self.signals + response_signals(counts))


def shape_request(endpoint: str, request: Mapping[str, Any] | None) -> RequestShape:
    """Request-time signals of a parsed request body (`endpoint` as in `UsageEvent`)."""
    if endpoint == "embeddings":
        return RequestShape(endpoint, ("ep:emb",))
    if not request:
        return RequestShape(endpoint, ())
    found = [code for fn in _STRUCTURE if (code := fn(request)) is not None]
    window, fenced = instruction_window(endpoint, request)
    found.extend(_KEYWORD_CODES[i] for i in sorted(keyword_hits(window)))
    if fenced:
        found.append("fence")
    return RequestShape(endpoint, tuple(found))


def response_signals(counts: TokenCounts) -> tuple[str, ...]:
    """Signals from the answer's token counts: output size, compression, reasoning."""
    reasoning = counts.reasoning_tokens
    visible = counts.output_tokens - reasoning
    found: tuple[str, ...] = ()
    if 0 < visible <= TINY_OUTPUT_TOKENS:
        found += ("out:tiny",)
    elif visible >= EXPAND_MIN_OUTPUT and visible >= 2 * counts.input_tokens:
        found += ("io:exp",)
    elif counts.input_tokens >= COMPRESS_MIN_INPUT and (
        visible <= counts.input_tokens * COMPRESS_MAX_RATIO
    ):
        found += ("io:cmp",)
    if reasoning >= REASONING_MIN_TOKENS:
        found += ("rs:tok",)
    return found


def classify(
    endpoint: str, request: Mapping[str, Any] | None, response: TokenCounts | None = None
) -> TaskShape:
    """The task shape of one call, from its request and (when known) its token counts."""
    return shape_request(endpoint, request).finish(response)


class LabelledEvent(TokenCounts, Protocol):
    endpoint: str
    usage_source: str
    task: str | None
    task_confidence: float | None
    task_signals: str | None


def label_event(
    event: LabelledEvent, request: Mapping[str, Any] | None, shape: RequestShape | None = None
) -> None:
    """Fill `event.task`, `task_confidence` and `task_signals` (no text is kept).

    `shape` is the request-time shape if the request path already computed it, else it is
    computed here from `request`. Unmetered endpoints (pass-through, models) stay
    unlabelled; token signals are used only when the event has usage.
    """
    if event.endpoint in _NOT_LABELLED:
        return
    if shape is None:
        shape = shape_request(event.endpoint, request)
    result = shape.finish(event if event.usage_source != "none" else None)
    event.task = result.task
    event.task_confidence = result.confidence
    event.task_signals = result.signal_text or None


_PRIOR = tuple(GENERATION_PRIOR if task == "generation" else 0.0 for task in TASKS)


def _decide(signals: tuple[str, ...]) -> TaskShape:
    scores = list(_PRIOR)
    for code in signals:
        index, weight = _WEIGHTS[code]
        scores[index] += weight
    top = max(scores)
    best = scores.index(top)  # the first of equal maxima
    confidence = top / sum(scores) * (1.0 - math.exp(-top))
    return TaskShape(TASKS[best], round(confidence, 2), signals)
