"""Published per-call figures against the estimator: load the cases, estimate each one the
way the product would, and summarise how close and how well-bracketed the estimates are.

A case (published_cases.json) names a model and token counts, optionally the provider,
hardware, declared parameters and call kind, plus the published reference, a fair window
around it and the boundary it was measured at:

    facility  energy at the data-centre meter (`Impacts.energy_wh`)
    server    servers only, before PUE (`Impacts.it_energy_wh`)
    gpu       accelerators only (`Impacts.accelerator_wh`)

Metrics: wh_per_query, j_per_output_token (the boundary's energy per output token),
gco2e_per_query (location-based, or the market-based figure when the reference says it is
market-based) and ml_per_query (water: boundary `onsite`, `offsite`, or the total). The
goals (typical factor, window and range coverage, range width) are computed over the
energy metrics.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from estimators import Impacts, Overrides, Range, estimate

CASES_FILE = Path(__file__).with_name("published_cases.json")
ENERGY_METRICS = frozenset({"wh_per_query", "j_per_output_token"})


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    source: str
    model: str
    input_tokens: int
    output_tokens: int
    boundary: str  # facility | server | gpu (energy); onsite | offsite | total (water)
    metric: str  # wh_per_query | j_per_output_token | gco2e_per_query | ml_per_query
    reference: float
    window: tuple[float, float]
    notes: str
    kind: str = "chat"
    provider: str | None = None
    hardware: dict[str, Any] | None = None
    declared_params: dict[str, float] | None = None

    @property
    def market_based(self) -> bool:
        """The reference is a market-based emissions figure (its notes say so)."""
        return "market-based" in self.notes.lower().split(";")[0]


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    ours: Range
    model_id: str | None
    quality: str

    @property
    def ratio(self) -> float:
        """ours / reference (0 when the estimator gives nothing, e.g. EcoLogits on an encoder)."""
        return self.ours.value / self.case.reference

    @property
    def inside_window(self) -> bool:
        lo, hi = self.case.window
        return lo <= self.ours.value <= hi

    @property
    def inside_range(self) -> bool:
        return self.ours.min <= self.case.reference <= self.ours.max

    @property
    def width(self) -> float:
        return self.ours.max / self.ours.min if self.ours.min > 0 else math.inf


def load_cases(path: Path = CASES_FILE) -> list[Case]:
    """The cases in `path`; unknown fields raise (a typo must not silently change a case)."""
    out = []
    for raw in json.loads(path.read_text(encoding="utf-8")):
        fields = dict(raw)
        fields["window"] = tuple(fields["window"])
        out.append(Case(**fields))
    return out


def call_arguments(case: Case) -> dict[str, Any]:
    """The keyword arguments of `estimate` for `case`, as the proxy would pass them."""
    overrides = Overrides(**case.declared_params) if case.declared_params else None
    return {
        "input_tokens": case.input_tokens,
        "output_tokens": case.output_tokens,
        "kind": case.kind,
        "provider": case.provider,
        "hardware": case.hardware,
        "overrides": overrides,
    }


def measure(case: Case, imp: Impacts) -> Range:
    """The figure `case` publishes, read from `imp` at the case's boundary and metric."""
    if case.metric == "ml_per_query":
        w = imp.water_ml
        part = {"onsite": imp.water_onsite_ml, "offsite": imp.water_offsite_ml}.get(
            case.boundary, w.value
        )
        scale = part / w.value if w.value else 0.0
        return Range(part, w.min * scale, w.max * scale)
    if case.metric == "gco2e_per_query":
        if case.market_based and imp.emissions_market_gco2e is not None:
            e, m = imp.emissions_gco2e, imp.emissions_market_gco2e
            scale = m / e.value if e.value else 0.0
            return Range(m, e.min * scale, e.max * scale)
        return imp.emissions_gco2e
    energy = {"facility": imp.energy_wh, "server": imp.it_energy_wh, "gpu": imp.accelerator_wh}[
        case.boundary
    ]
    if case.metric == "j_per_output_token":
        per = 3600.0 / case.output_tokens
        return Range(energy.value * per, energy.min * per, energy.max * per)
    return energy


def evaluate(case: Case, **extra: Any) -> Result:
    imp = estimate(case.model, **call_arguments(case), **extra)
    return Result(case=case, ours=measure(case, imp), model_id=imp.model_id, quality=imp.quality)


@dataclass(frozen=True, slots=True)
class Summary:
    cases: int
    typical_factor: float  # exp(median |ln(ours / reference)|)
    within_2x: float
    inside_window: float
    inside_range: float
    median_width: float  # median max / min

    def to_row(self, label: str) -> str:
        return (
            f"| {label} | {self.cases} | {self.typical_factor:.2f} | {self.within_2x:.0%} | "
            f"{self.inside_window:.0%} | {self.inside_range:.0%} | {self.median_width:.2f} |"
        )


def summarise(results: Sequence[Result]) -> Summary:
    energy = [r for r in results if r.case.metric in ENERGY_METRICS]
    logs = [abs(math.log(r.ratio)) if r.ratio > 0 else math.inf for r in energy]
    n = len(energy)
    return Summary(
        cases=n,
        typical_factor=math.exp(statistics.median(logs)),
        within_2x=sum(x <= math.log(2) for x in logs) / n,
        inside_window=sum(r.inside_window for r in energy) / n,
        inside_range=sum(r.inside_range for r in energy) / n,
        median_width=statistics.median(r.width for r in energy),
    )


def table(
    results: Sequence[Result], others: dict[str, float] | None = None, other_label: str = ""
) -> str:
    """Markdown: case, reference, ours [min-max], ratio, inside window, inside range, and
    optionally another estimator's ratio per case id."""
    head = "| case | metric | reference | ours [min - max] | ratio | in window | in range |"
    rule = "|---|---|---:|---:|---:|:---:|:---:|"
    if others is not None:
        head += f" {other_label} ratio |"
        rule += "---:|"
    lines = [head, rule]
    for r in results:
        o = r.ours
        line = (
            f"| {r.case.id} | {r.case.metric} | {_g(r.case.reference)} | {_g(o.value)} "
            f"[{_g(o.min)} - {_g(o.max)}] | {r.ratio:.2f} | {_yes(r.inside_window)} | "
            f"{_yes(r.inside_range)} |"
        )
        if others is not None:
            line += f" {others[r.case.id]:.2f} |" if r.case.id in others else " - |"
        lines.append(line)
    return "\n".join(lines)


def _g(x: float) -> str:
    return f"{x:.3g}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def evaluate_ecologits(case: Case) -> Result:
    """The case under EcoLogits 0.11.3's formulas (`ecologits_compat=True`): its H100, batch
    64 and provider defaults, with the same parameters (catalogued or declared). EcoLogits
    has no host share, idle capacity or input-token term: its `gpu` figure is its GPU energy,
    its `server` figure GPU plus its server share, before PUE."""
    return evaluate(case, ecologits_compat=True)
