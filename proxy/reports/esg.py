"""ESG export: a period's usage as GHG Protocol Scope 3 Category 1 supplier data, with
the SCI (ISO/IEC 21031) intensity, every coefficient the estimates applied (per deployment,
with its origin and source), the boundary and the uncertainty. Location- and market-based
figures are reported side by side, never summed.

The coefficients come from the usage rows themselves (`usage_events.factors`, written with
each estimate), grouped by deployment, model, method and coefficient set, for the calls
that used energy in the period: a deployment whose calls all failed is not listed, and a
PUE declared for one deployment is listed for that deployment only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.impacts import plain_decimal
from proxy.reports.queries import Report, ReportFilter, rounded, run_report, select_events
from proxy.reports.sql import event_model, events

LABEL = ("GHG Protocol Scope 3 Category 1 (Purchased goods and services): "
         "purchased AI inference services")
BOUNDARY = (
    "Inference only, as metered per call by the gateway: accelerator and host energy of the "
    "provider's inference servers, their share of provisioned capacity standing idle, "
    "data-centre overhead (PUE), water consumed on site (cooling) and off site (electricity "
    "generation), and the embodied emissions of that hardware allocated by the GPU time a "
    "call occupies. Excluded: model training and fine-tuning, networking between the caller "
    "and the provider, end-user devices, the data-centre building, and the gateway's own "
    "hosting."
)
SCI_FORMULA = "SCI = (E x I + M) per R; location-based I only (ISO/IEC 21031:2024)"
DEFAULT_DEPLOYMENT = "(default upstream)"
NOT_RECORDED = "coefficients not recorded by this method version (rows estimated before them)"


def _uncertainty(total: dict[str, Any]) -> str:
    return (
        f"Estimates are modelled, not metered by the provider. Energy ranges from "
        f"{plain_decimal(total['energy_kwh_min'])} to {plain_decimal(total['energy_kwh_max'])} "
        f"kWh (central {plain_decimal(total['energy_kwh'])}); location-based emissions from "
        f"{plain_decimal(total['emissions_location_gco2e_min'] / 1e6)} to "
        f"{plain_decimal(total['emissions_location_gco2e_max'] / 1e6)} tCO2e (central "
        f"{plain_decimal(total['emissions_location_gco2e'] / 1e6)}). Each range combines the "
        "uncertainty of the assumptions the estimate made (model size, concurrency, host and "
        "idle shares, PUE, model error); see docs/methodology.md."
    )


async def applied(engine: AsyncEngine, f: ReportFilter) -> list[dict[str, Any]]:
    """Per deployment, model, method and coefficient set: the calls that used energy in the
    period, their totals, and every coefficient applied (`estimators.factors.describe`),
    plus the grid intensity actually applied (energy-weighted: static table or live feed)."""
    dims = (events.c.deployment, events.c.provider, event_model().label("model"),
            events.c.method, events.c.factors, events.c.grid_zone, events.c.market_source)
    query = select_events(
        f, *dims, func.count().label("requests"),
        func.sum(events.c.energy_wh).label("energy_wh"),
        func.sum(events.c.emissions_operational_gco2e).label("operational"),
        func.sum(events.c.emissions_gco2e).label("location"),
        func.min(events.c.grid_gco2e_per_kwh).label("grid_min"),
        func.max(events.c.grid_gco2e_per_kwh).label("grid_max"),
    ).where(events.c.energy_wh > 0).group_by(*dims)
    async with engine.connect() as conn:
        groups = (await conn.execute(query)).all()
    total = sum(float(g.location or 0.0) for g in groups)
    out = [_deployment(g, total) for g in groups]
    out.sort(key=lambda d: (-d["location_gco2e"], d["deployment"], d["model"]))
    return out


def _deployment(g: Any, total_location: float) -> dict[str, Any]:
    from estimators.catalog import MODELS
    from estimators.factors import describe

    kwh = float(g.energy_wh) / 1000.0
    coefficients: list[dict[str, Any]] = [
        _row("method", "estimation method", g.method or "", "name", "recorded",
             "docs/methodology.md"),
        _row("grid", f"grid carbon intensity, location-based ({g.grid_zone})",
             float(g.operational) / kwh, "gCO2e/kWh", "zone",
             "energy-weighted mean of the factors applied"
             + ("" if g.grid_min == g.grid_max else
                f" (from {plain_decimal(g.grid_min)} to {plain_decimal(g.grid_max)}: live feed)")),
    ]
    if g.factors:
        profile = MODELS.get(g.model)
        for c in describe(g.factors, model_source=profile.source if profile else None):
            coefficients.append(_row(c.key, c.name, c.value, c.unit, c.origin, c.source))
    else:
        coefficients.append(_row("factors", NOT_RECORDED, "", "", "recorded", ""))
    return {
        "deployment": g.deployment or DEFAULT_DEPLOYMENT,
        "provider": g.provider,
        "model": g.model,
        "requests": int(g.requests),
        "energy_kwh": kwh,
        "location_gco2e": float(g.location),
        "share_of_location_emissions": float(g.location) / total_location if total_location
        else None,
        "market_based_source": g.market_source,
        "coefficients": coefficients,
    }


def _row(key: str, name: str, value: float | str, unit: str, origin: str,
         source: str) -> dict[str, Any]:
    return {"key": key, "name": name, "value": value, "unit": unit, "origin": origin,
            "source": source}


def _teams(report: Report) -> list[dict[str, Any]]:
    teams: dict[str, dict[str, float]] = {}
    for r in report.rows:
        acc = teams.setdefault(r.get("team") or "", {"requests": 0, "energy_kwh": 0.0,
                                                     "location_tco2e": 0.0, "market_tco2e": 0.0,
                                                     "water_l": 0.0})
        acc["requests"] += r["requests"]
        acc["energy_kwh"] += r["energy_kwh"]
        acc["location_tco2e"] += r["emissions_location_gco2e"] / 1e6
        acc["market_tco2e"] += (r["emissions_market_gco2e"] or 0.0) / 1e6
        acc["water_l"] += r["water_l"]
    return [rounded({"team": k, **v}) for k, v in sorted(teams.items())]


async def esg_report(engine: AsyncEngine, f: ReportFilter) -> dict[str, Any]:
    """The export for filter `f` (scope, period, filters as for `run_report`)."""
    report = await run_report(engine, f, ("team", "provider"))
    return esg_export(report, await applied(engine, f))


def esg_export(report: Report, deployments: list[dict[str, Any]]) -> dict[str, Any]:
    """`report` must be grouped by team (rows) for the per-team table; `deployments` is
    `applied()` for the same filter."""
    t = report.total
    market = t["emissions_market_gco2e"]
    return {
        "object": "esg_export",
        "label": LABEL,
        "ghg_protocol": {"scope": 3, "category": 1,
                         "category_name": "Purchased goods and services"},
        "csrd": "ESRS E1-6 (significant Scope 3 categories), tCO2e",
        "period": report.period.to_dict(),
        "totals": rounded({
            "requests": t["requests"], "total_tokens": t["total_tokens"],
            "energy_kwh": t["energy_kwh"], "energy_kwh_min": t["energy_kwh_min"],
            "energy_kwh_max": t["energy_kwh_max"],
            "location_based_tco2e": t["emissions_location_gco2e"] / 1e6,
            "location_based_tco2e_min": t["emissions_location_gco2e_min"] / 1e6,
            "location_based_tco2e_max": t["emissions_location_gco2e_max"] / 1e6,
            "market_based_tco2e": None if market is None else market / 1e6,
            "market_based_coverage": t["market_coverage"],
            "operational_tco2e": t["operational_gco2e"] / 1e6,
            "embodied_tco2e": t["embodied_gco2e"] / 1e6,
            "water_l": t["water_l"],
            "water_onsite_l": t["water_onsite_l"],
            "water_offsite_l": t["water_offsite_l"],
        }),
        "sci": rounded({
            "formula": SCI_FORMULA,
            "per_request_gco2e": t["gco2e_per_request"],
            "per_1k_tokens_gco2e": t["gco2e_per_1k_tokens"],
            "E_kwh": t["energy_kwh"], "O_gco2e": t["operational_gco2e"],
            "M_gco2e": t["embodied_gco2e"], "R_requests": t["requests"],
            "R_tokens": t["total_tokens"],
        }),
        "deployments": [_rounded_deployment(d) for d in deployments],
        "boundary": BOUNDARY,
        "uncertainty": _uncertainty(t),
        "data_quality": rounded({"upstream_usage_share": t["upstream_usage_share"],
                                 "estimated_usage_share": t["estimated_usage_share"],
                                 "quality_tiers": t["quality_tiers"], "methods": t["methods"]}),
        "teams": _teams(report),
    }


def _rounded_deployment(d: dict[str, Any]) -> dict[str, Any]:
    return {**rounded({k: v for k, v in d.items() if k != "coefficients"}),
            "coefficients": [rounded(c) for c in d["coefficients"]]}


CSV_COLUMNS = ("section", "deployment", "model", "name", "value", "unit", "origin", "source")
# Units of the totals, SCI and team figures, by name (every CSV row carries one).
UNITS = {
    "requests": "requests", "total_tokens": "tokens", "energy_kwh": "kWh",
    "energy_kwh_min": "kWh", "energy_kwh_max": "kWh", "location_based_tco2e": "tCO2e",
    "location_based_tco2e_min": "tCO2e", "location_based_tco2e_max": "tCO2e",
    "market_based_tco2e": "tCO2e", "market_based_coverage": "share of requests",
    "operational_tco2e": "tCO2e", "embodied_tco2e": "tCO2e", "water_l": "L",
    "water_onsite_l": "L", "water_offsite_l": "L", "formula": "text",
    "per_request_gco2e": "gCO2e/request", "per_1k_tokens_gco2e": "gCO2e/1k tokens",
    "E_kwh": "kWh", "O_gco2e": "gCO2e", "M_gco2e": "gCO2e", "R_requests": "requests",
    "R_tokens": "tokens", "location_tco2e": "tCO2e", "market_tco2e": "tCO2e",
    "location_gco2e": "gCO2e", "share_of_location_emissions": "share",
}


def esg_csv(export: dict[str, Any]) -> str:
    """One flat table, `CSV_COLUMNS`; every row has a unit."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    w.writerow(["label", "", "", "label", export["label"], "text", "", ""])
    w.writerow(["period", "", "", "from", export["period"]["from"], "date-time (UTC)", "", ""])
    w.writerow(["period", "", "", "to", export["period"]["to"], "date-time (UTC)", "", ""])
    w.writerows(_figures("totals", export["totals"].items()))
    w.writerows(_figures("sci", export["sci"].items()))
    for d in export["deployments"]:
        for name in ("requests", "energy_kwh", "location_gco2e", "share_of_location_emissions"):
            w.writerow(["deployment", d["deployment"], d["model"], name, _fmt(d[name]),
                        UNITS[name], "", ""])
        for c in d["coefficients"]:
            w.writerow(["coefficient", d["deployment"], d["model"], c["name"], _fmt(c["value"]),
                        c["unit"] or "text", c["origin"], c["source"]])
    for t in export["teams"]:
        w.writerows(_figures(f"team:{t['team']}", ((k, v) for k, v in t.items() if k != "team")))
    w.writerows(_reduction_rows(export.get("reduction_opportunities")))
    w.writerow(["statement", "", "", "boundary", export["boundary"], "text", "", ""])
    w.writerow(["statement", "", "", "uncertainty", export["uncertainty"], "text", "", ""])
    return out.getvalue()


def _figures(section: str, items: Iterable[tuple[str, Any]]) -> list[list[str]]:
    return [[section, "", "", name, _fmt(value), UNITS[name], "", ""] for name, value in items]


def _reduction_rows(section: dict[str, Any] | None) -> list[list[str]]:
    """The right-sizing section (proxy.reports.rightsizing.esg_section) as CSV rows: the
    avoidable emissions per team, model and task, with the sentence that explains them."""
    if not section:
        return []
    rows = [[f"reduction_opportunity:{r['team']}:{r['task']}", "", r["model"],
             "avoidable_tco2e", _fmt(r["avoidable_tco2e"]), "tCO2e", "estimate",
             r["summary"] or ""]
            for r in section["rows"]]
    shadow = section["shadow_evaluation"]
    rows += [["shadow_evaluation", "", "", k, _fmt(shadow[k]), unit, "measured", ""]
             for k, unit in (("calls", "count"), ("energy_kwh", "kWh"),
                             ("location_tco2e", "tCO2e"))]
    rows.append(["statement", "", "", "reduction_opportunities", section["statement"], "text",
                 "", ""])
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else plain_decimal(value)
    return str(value)
