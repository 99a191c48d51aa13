"""The right-sizing report: per team x model x task, what the calls cost and what the
configured candidate model classes would have cost, with shadow evidence where there is.

    71% of team support's gpt-4o calls are classification-shaped: a fine-tuned
    classifier would use ~0.08% of their energy, an 8B model ~6%

"Now" is what the rows recorded. Each candidate is estimated on the same tokens and site
(`proxy.rightsizing.candidates`); calls with the same dimensions and token counts are
estimated once and multiplied. The recommended candidate is the first one configured for
the task that would use less energy and that shadow evaluation has not refuted (upper end
of its agreement interval below `rightsizing.min_agreement`). Shadow calls' own energy is
reported apart: it is in no usage total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from estimators import resolve_model
from proxy.config import Deployment, Settings
from proxy.render import render
from proxy.reports.queries import ReportFilter, _where_common
from proxy.reports.sql import event_model, events
from proxy.rightsizing.candidates import Site, Tokens, estimate_candidate
from proxy.rightsizing.config import RightsizingSettings
from proxy.store.shadow import VerdictTotals, verdict_totals

COLUMNS = (
    "team", "model", "task", "calls", "share_of_model_calls", "task_confidence",
    "energy_wh", "emissions_gco2e", "recommended", "recommended_energy_wh",
    "recommended_emissions_gco2e", "energy_saving_share", "emissions_gco2e_saved",
    "candidates", "summary",
)
EVIDENCE_COLUMNS = (
    "team", "task", "candidate", "candidate_model", "samples", "agreed", "errors",
    "agreement", "agreement_low", "agreement_high", "shadow_energy_wh",
    "shadow_emissions_gco2e", "shadow_water_ml",
)
_TOKENS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens")


@dataclass(slots=True)
class RightsizingReport:
    period: dict[str, str]
    rows: list[dict[str, Any]]
    evidence: list[VerdictTotals]
    shadow_total: dict[str, Any] = field(default_factory=dict)

    def evidence_rows(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.evidence]

    def to_dict(self) -> dict[str, Any]:
        return {"object": "rightsizing", "period": self.period, "columns": list(COLUMNS),
                "rows": self.rows, "evidence": self.evidence_rows(),
                "shadow_total": self.shadow_total}


@dataclass(slots=True)
class _Group:
    """Accumulated figures of one team x model x task."""

    calls: int = 0
    confidence_sum: float = 0.0
    energy_wh: float = 0.0
    emissions_gco2e: float = 0.0
    candidate_wh: dict[int, float] = field(default_factory=dict)
    candidate_g: dict[int, float] = field(default_factory=dict)


async def rightsizing_report(
    engine: AsyncEngine, f: ReportFilter, *, config: RightsizingSettings,
    deployments: Sequence[Deployment] = (),
) -> RightsizingReport:
    """The report for the filter's period, teams, models, providers and keys."""
    sites = {d.label: d.overrides for d in deployments}
    groups: dict[tuple[str, str, str | None], _Group] = {}
    for g in await _token_groups(engine, f):
        acc = groups.setdefault((g.team, g.model, g.task), _Group())
        n = int(g.n)
        acc.calls += n
        acc.confidence_sum += float(g.confidence or 0.0)
        acc.energy_wh += float(g.wh or 0.0)
        acc.emissions_gco2e += float(g.g or 0.0)
        site = Site(g.provider, g.grid_zone, _intensity(g.op_g, g.wh), sites.get(g.deployment))
        tokens = Tokens(g.endpoint, *(int(getattr(g, t)) for t in _TOKENS))
        for i, candidate in enumerate(config.candidates_for(g.task)):
            imp = estimate_candidate(candidate, site, tokens)
            acc.candidate_wh[i] = acc.candidate_wh.get(i, 0.0) + n * imp.energy_wh.value
            acc.candidate_g[i] = acc.candidate_g.get(i, 0.0) + n * imp.emissions_gco2e.value
    evidence = await verdict_totals(engine, start=f.period.start, end=f.period.end,
                                    only_team=f.only_team, teams=f.teams)
    per_model: dict[tuple[str, str], int] = {}
    for (team, model, _), acc in groups.items():
        per_model[(team, model)] = per_model.get((team, model), 0) + acc.calls
    rows = [
        _row(key, acc, per_model[key[:2]], config, _evidence_for(evidence, key[0], key[2]))
        for key, acc in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
    ]
    return RightsizingReport(period=f.period.to_dict(), rows=rows, evidence=evidence,
                             shadow_total=_shadow_total(evidence))


async def _token_groups(engine: AsyncEngine, f: ReportFilter) -> list[Any]:
    """Metered calls with usage, grouped by every dimension the estimate depends on."""
    c = events.c
    model = event_model()
    dims = (c.team, model.label("model"), c.task, c.provider, c.grid_zone, c.deployment,
            c.endpoint, c.input_tokens, c.cached_input_tokens, c.output_tokens,
            c.reasoning_tokens)
    query = select(
        *dims, func.count().label("n"), func.sum(c.task_confidence).label("confidence"),
        func.sum(c.energy_wh).label("wh"), func.sum(c.emissions_gco2e).label("g"),
        func.sum(c.emissions_operational_gco2e).label("op_g"),
    ).where(c.created_at >= f.period.start, c.created_at < f.period.end,
            c.metered.is_(True), c.usage_source != "none")
    query = _where_common(query, f, team=c.team, model=model, provider=c.provider,
                          key=c.key_id).group_by(*dims)
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


def _intensity(operational_g: Any, energy_wh: Any) -> float | None:
    """gCO2e/kWh the rows applied (operational emissions over energy)."""
    wh = float(energy_wh or 0.0)
    return float(operational_g or 0.0) * 1000.0 / wh if wh > 0 else None


def _evidence_for(evidence: Sequence[VerdictTotals], team: str,
                  task: str | None) -> dict[str, VerdictTotals]:
    """Shadow totals of this team and task, by the catalog id of the candidate model."""
    return {e.candidate_model: e for e in evidence
            if e.team == team and e.task == task and e.candidate_model}


@dataclass(frozen=True, slots=True)
class _Candidate:
    """One candidate's figures for one team x model x task."""

    name: str
    model: str
    energy_wh: float
    emissions_gco2e: float
    energy_share: float | None  # of the recorded energy
    evidence: VerdictTotals | None
    refuted: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "energy_wh": self.energy_wh,
                "emissions_gco2e": self.emissions_gco2e, "energy_share": self.energy_share,
                "evidence": self.evidence.to_dict() if self.evidence else None,
                "refuted": self.refuted}


def _row(key: tuple[str, str, str | None], acc: _Group, model_calls: int,
         config: RightsizingSettings, evidence: Mapping[str, VerdictTotals]) -> dict[str, Any]:
    team, model, task = key
    candidates = []
    for i, candidate in enumerate(config.candidates_for(task)):
        wh = acc.candidate_wh[i]
        proof = evidence.get(resolve_model(candidate.model) or "")
        candidates.append(_Candidate(
            name=candidate.name, model=candidate.model, energy_wh=wh,
            emissions_gco2e=acc.candidate_g[i],
            energy_share=wh / acc.energy_wh if acc.energy_wh else None,
            evidence=proof, refuted=_refuted(proof, config.min_agreement)))
    best = next((c for c in candidates if c.energy_wh < acc.energy_wh and not c.refuted), None)
    share = acc.calls / model_calls if model_calls else None
    return {
        "team": team, "model": model, "task": task, "calls": acc.calls,
        "share_of_model_calls": share,
        "task_confidence": acc.confidence_sum / acc.calls if acc.calls else None,
        "energy_wh": acc.energy_wh, "emissions_gco2e": acc.emissions_gco2e,
        "recommended": best.name if best else None,
        "recommended_energy_wh": best.energy_wh if best else None,
        "recommended_emissions_gco2e": best.emissions_gco2e if best else None,
        "energy_saving_share": 1.0 - best.energy_share
        if best and best.energy_share is not None else None,
        "emissions_gco2e_saved": acc.emissions_gco2e - best.emissions_gco2e if best else None,
        "candidates_detail": [c.to_dict() for c in candidates],
        "candidates": "; ".join(f"{c.name} {_about(c.energy_share)}" for c in candidates),
        "summary": _summary(team, model, task, share, candidates),
    }


def _refuted(proof: VerdictTotals | None, min_agreement: float) -> bool:
    interval = proof.agreement.interval if proof else None
    return interval is not None and interval[1] < min_agreement


def _summary(team: str, model: str, task: str | None, share: float | None,
             candidates: Sequence[_Candidate]) -> str | None:
    usable = [c for c in candidates if c.energy_share is not None and not c.refuted]
    if not usable or share is None or task is None:
        return None
    parts = [f"{_article(c.name)} {c.name} would use {_about(c.energy_share)} of their energy"
             if i == 0 else f"{_article(c.name)} {c.name} {_about(c.energy_share)}"
             for i, c in enumerate(usable)]
    name = model.rsplit("/", 1)[-1]
    return f"{share:.0%} of team {team}'s {name} calls are {task}-shaped: {', '.join(parts)}"


def _article(name: str) -> str:
    return "an" if name[:1].lower() in "aeiou8" or name.startswith(("11", "18")) else "a"


def _about(share: float | None) -> str:
    """0.0312 -> '~3%', 0.00078 -> '~0.078%'."""
    if share is None:
        return "n/a"
    percent = share * 100.0
    if percent >= 1.0:
        return f"~{percent:.0f}%"
    return f"~{percent:.2g}%"


def _shadow_total(evidence: Sequence[VerdictTotals]) -> dict[str, Any]:
    """The shadow calls' own impacts: in no usage total, reported as their own line."""
    return {
        "calls": sum(e.agreement.samples + e.agreement.errors for e in evidence),
        "energy_wh": sum(e.energy_wh for e in evidence),
        "emissions_gco2e": sum(e.emissions_gco2e for e in evidence),
        "water_ml": sum(e.water_ml for e in evidence),
    }


def flat_rows(report: RightsizingReport) -> list[dict[str, Any]]:
    """Rows for table, markdown and CSV output (without the nested candidate detail)."""
    return [{c: row[c] for c in COLUMNS} for row in report.rows]


SHADOW_NOTE = ("Shadow evaluation's own calls: {calls} calls, {energy_wh:.6g} Wh, "
               "{emissions_gco2e:.6g} gCO2e (not included in any usage total).")


def render_report(report: RightsizingReport, fmt: str, *, evidence_only: bool = False) -> str:
    """Text of the report in `fmt` (proxy.render formats). JSON is the full report;
    table and markdown add the evidence table and the shadow line; CSV is one table."""
    if fmt == "json":
        return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"
    if evidence_only:
        return render(report.evidence_rows(), fmt, EVIDENCE_COLUMNS)
    main = render(flat_rows(report), fmt, COLUMNS)
    if fmt == "csv" or not report.evidence:
        return main
    title = "Shadow evaluation evidence (agreement with a 95% Wilson interval)"
    heading = f"\n## {title}\n\n" if fmt == "markdown" else f"\n{title}\n\n"
    evidence = render(report.evidence_rows(), fmt, EVIDENCE_COLUMNS)
    return main + heading + evidence + "\n" + SHADOW_NOTE.format(**report.shadow_total) + "\n"


ESG_STATEMENT = (
    "Reduction opportunities: calls whose task shape a smaller model class would serve, "
    "estimated with the same tokens and site conditions as the recorded calls. These are "
    "estimates of avoidable emissions, not reductions achieved; agreement figures come from "
    "shadow evaluation where it ran. Shadow evaluation's own calls are listed apart and are "
    "not in the totals."
)


def esg_section(report: RightsizingReport) -> dict[str, Any]:
    """The ESG export's `reduction_opportunities` section (rows with a recommendation)."""
    rows = [{
        "team": r["team"], "model": r["model"], "task": r["task"], "calls": r["calls"],
        "energy_kwh": r["energy_wh"] / 1000.0,
        "location_tco2e": r["emissions_gco2e"] / 1e6,
        "recommended": r["recommended"],
        "recommended_energy_kwh": r["recommended_energy_wh"] / 1000.0,
        "avoidable_kwh": (r["energy_wh"] - r["recommended_energy_wh"]) / 1000.0,
        "avoidable_tco2e": r["emissions_gco2e_saved"] / 1e6,
        "summary": r["summary"],
    } for r in report.rows if r["recommended"] is not None]
    shadow = report.shadow_total
    return {
        "statement": ESG_STATEMENT,
        "rows": rows,
        "avoidable_tco2e": sum(r["avoidable_tco2e"] for r in rows),
        "shadow_evaluation": {"calls": shadow["calls"],
                              "energy_kwh": shadow["energy_wh"] / 1000.0,
                              "location_tco2e": shadow["emissions_gco2e"] / 1e6},
    }


async def add_reduction_opportunities(export: dict[str, Any], engine: AsyncEngine,
                                      f: ReportFilter, settings: Settings) -> None:
    """Add the `reduction_opportunities` section to an `esg_export` document."""
    report = await rightsizing_report(engine, f, config=settings.rightsizing,
                                      deployments=settings.deployments)
    export["reduction_opportunities"] = esg_section(report)
