"""Per-call cost of labelling a call's task shape (`proxy.tasks.classify`), request and
token signals together, on realistic request bodies; `estimators.estimate` on the same
machine and run for scale.

Run: .venv/bin/python bench/task_shape.py        (prints a markdown table; exit 1 if any
                                                  case costs more than --limit-us)

Each figure is the best of 3 rounds over all cases, each round the best of 4 timed runs of
>= 0.3 s (GC on, caches warm; `bench/estimator_speed.py`'s timer), so a burst of load from
other processes on a shared machine does not stick to one case.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.estimator_speed import per_call_us  # noqa: E402
from estimators import estimate  # noqa: E402
from proxy.tasks import classify  # noqa: E402
from proxy.usage import TokenUsage  # noqa: E402

LABELS = {"type": "string", "enum": ["billing", "shipping", "refund", "other"]}
TICKET = ("Hello, I ordered a pair of shoes three weeks ago and the parcel never arrived. "
          "The tracking page has said 'in transit' for ten days. Can you help? ") * 3
DOCUMENT = ("The quarterly review covered revenue, hiring, the data-centre move and the "
            "supplier audit; each section lists owners, dates and open questions. ") * 250


def chat(system: str, user: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "system", "content": system},
                                            {"role": "user", "content": user}], **extra}


CASES: list[tuple[str, str, dict[str, Any], TokenUsage]] = [
    ("chat, no signal", "chat.completions",
     chat("You are a helpful assistant.", "What should I cook tonight?"),
     TokenUsage(input_tokens=25, output_tokens=180)),
    ("classification: JSON schema enum + keyword", "chat.completions",
     chat("You triage support tickets. Classify each ticket into one queue.", TICKET,
          max_tokens=10, response_format={"type": "json_schema", "json_schema": {
              "name": "queue", "schema": {"type": "object", "properties": {"queue": LABELS},
                                          "required": ["queue"]}}}),
     TokenUsage(input_tokens=160, output_tokens=5)),
    ("extraction: forced tool, French", "chat.completions",
     chat("Extrais le nom, la date et le montant de la facture.", TICKET, tools=[{
         "type": "function", "function": {"name": "save", "parameters": {
             "type": "object", "properties": {"name": {"type": "string"},
                                              "date": {"type": "string"},
                                              "amount": {"type": "number"}}}}}],
          tool_choice="required"),
     TokenUsage(input_tokens=170, output_tokens=30)),
    ("summarisation: 40k-character document", "chat.completions",
     chat("Summarize the document for the board in five bullet points.", DOCUMENT),
     TokenUsage(input_tokens=9000, output_tokens=250)),
    ("Anthropic messages with thinking", "messages",
     {"system": "Solve the puzzle step by step.", "max_tokens": 4096,
      "thinking": {"type": "enabled", "budget_tokens": 2048},
      "messages": [{"role": "user", "content": [{"type": "text", "text": TICKET}]}]},
     TokenUsage(input_tokens=150, output_tokens=1500, reasoning_tokens=1200)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit-us", type=float, default=20.0,
                        help="fail (exit 1) if a case costs more than this (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all cases")
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"{platform.processor() or platform.platform()}\n")
    best = [float("inf")] * len(CASES)
    estimate_us = float("inf")
    for _ in range(args.rounds):
        estimate_us = min(estimate_us, per_call_us(
            lambda: estimate("gpt-4o", input_tokens=100, output_tokens=300), 0.3))
        for i, (_, endpoint, request, counts) in enumerate(CASES):
            best[i] = min(best[i], per_call_us(
                lambda e=endpoint, r=request, c=counts: classify(e, r, c), 0.3))
    print("| case | task | classify µs/call | x estimate() |")
    print("|---|---|---:|---:|")
    for (name, endpoint, request, counts), us in zip(CASES, best, strict=True):
        task = classify(endpoint, request, counts).task
        print(f"| {name} | {task} | {us:.1f} | {us / estimate_us:.1f} |")
    worst = max(best)
    print(f"\nestimate('gpt-4o', 100 in / 300 out): {estimate_us:.1f} µs/call; "
          f"worst case {worst:.1f} µs (limit {args.limit_us:g} µs)")
    sys.exit(1 if worst > args.limit_us else 0)


if __name__ == "__main__":
    main()
