"""ESG export: a period's usage as GHG Protocol Scope 3 Category 1 supplier data, with
the SCI (ISO/IEC 21031) intensity, the coefficients the estimates used, the boundary
and the uncertainty. Location- and market-based figures are reported side by side."""

from __future__ import annotations

import csv
import io
from typing import Any

from proxy.reports.queries import Report

LABEL = ("GHG Protocol Scope 3 Category 1 (Purchased goods and services): "
         "purchased AI inference services")
BOUNDARY = (
    "Inference only, as metered per call by the gateway: accelerator, server and data-centre "
    "overhead energy (PUE) of the provider's inference servers, and the embodied emissions of "
    "that hardware allocated by occupancy. Excluded: model training and fine-tuning, networking "
    "between the caller and the provider, end-user devices, and the gateway's own hosting."
)
SCI_FORMULA = "SCI = (E x I + M) per R; location-based I only (ISO/IEC 21031:2024)"


def _uncertainty(total: dict[str, Any]) -> str:
    return (
        f"Estimates are modelled, not metered by the provider. Energy ranges from "
        f"{total['energy_kwh_min']:.6g} to {total['energy_kwh_max']:.6g} kWh (central "
        f"{total['energy_kwh']:.6g}); location-based emissions from "
        f"{total['emissions_location_gco2e_min'] / 1e6:.6g} to "
        f"{total['emissions_location_gco2e_max'] / 1e6:.6g} tCO2e (central "
        f"{total['emissions_location_gco2e'] / 1e6:.6g}). Ranges combine model-size, batch-size "
        "and hardware uncertainty; see docs/methodology.md."
    )


def coefficients(report: Report) -> list[dict[str, Any]]:
    """The factors behind the numbers: grid intensity per zone as applied (operational
    emissions over energy), provider PUE/WUE defaults, and the method versions."""
    from estimators.grid import LIVE_SOURCE, STATIC_SOURCE
    from estimators.hardware import PROVIDERS

    rows: list[dict[str, Any]] = []
    for zone in report.zones:
        kwh = zone["energy_kwh"]
        if not zone["grid_zone"] or not kwh:
            continue
        rows.append({
            "name": f"grid carbon intensity, location-based ({zone['grid_zone']})",
            "value": zone["operational_gco2e"] / kwh, "unit": "gCO2e/kWh",
            "source": f"{STATIC_SOURCE}, or {LIVE_SOURCE} where configured; energy-weighted "
                      f"mean of the factors applied; method {zone['methods']}",
            "year": None,
        })
    for name in sorted(_providers(report)):
        p = PROVIDERS.get(name)
        if p is None:
            continue
        rows.append({"name": f"PUE ({name})", "value": p.pue[1], "unit": "ratio",
                     "source": p.source, "year": _year(p.source)})
        rows.append({"name": f"on-site WUE ({name})", "value": p.wue_onsite[1],
                     "unit": "L/kWh", "source": p.source, "year": _year(p.source)})
    for method in report.total["methods"].split("; "):
        if method:
            rows.append({"name": "estimation method", "value": method, "unit": "",
                         "source": "docs/methodology.md", "year": None})
    return rows


def _providers(report: Report) -> set[str]:
    return {r["provider"] for r in report.rows if r.get("provider")}


def _year(text: str) -> int | None:
    import re

    years = re.findall(r"\b(20\d\d)\b", text)
    return int(years[-1]) if years else None


def esg_export(report: Report) -> dict[str, Any]:
    """`report` must be grouped by team and provider (rows) for the per-team table."""
    t = report.total
    per_request = t["gco2e_per_request"]
    per_1k = t["gco2e_per_1k_tokens"]
    market = t["emissions_market_gco2e"]
    teams: dict[str, dict[str, float]] = {}
    for r in report.rows:
        acc = teams.setdefault(r.get("team") or "", {"energy_kwh": 0.0, "location_tco2e": 0.0,
                                                     "market_tco2e": 0.0, "requests": 0})
        acc["energy_kwh"] += r["energy_kwh"]
        acc["location_tco2e"] += r["emissions_location_gco2e"] / 1e6
        acc["market_tco2e"] += (r["emissions_market_gco2e"] or 0.0) / 1e6
        acc["requests"] += r["requests"]
    return {
        "object": "esg_export",
        "label": LABEL,
        "ghg_protocol": {"scope": 3, "category": 1,
                         "category_name": "Purchased goods and services"},
        "csrd": "ESRS E1-6 (significant Scope 3 categories), tCO2e",
        "period": report.period.to_dict(),
        "totals": {
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
        },
        "sci": {
            "formula": SCI_FORMULA,
            "per_request_gco2e": per_request,
            "per_1k_tokens_gco2e": per_1k,
            "E_kwh": t["energy_kwh"], "O_gco2e": t["operational_gco2e"],
            "M_gco2e": t["embodied_gco2e"], "R_requests": t["requests"],
            "R_tokens": t["total_tokens"],
        },
        "coefficients": coefficients(report),
        "boundary": BOUNDARY,
        "uncertainty": _uncertainty(t),
        "data_quality": {"upstream_usage_share": t["upstream_usage_share"],
                         "estimated_usage_share": t["estimated_usage_share"],
                         "quality_tiers": t["quality_tiers"], "methods": t["methods"]},
        "teams": [{"team": k, **v} for k, v in sorted(teams.items())],
    }


CSV_COLUMNS = ("section", "name", "value", "unit", "source", "year")


def esg_csv(export: dict[str, Any]) -> str:
    """One flat table: `section,name,value,unit,source,year`."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    w.writerow(["label", "label", export["label"], "", "", ""])
    w.writerow(["period", "from", export["period"]["from"], "", "", ""])
    w.writerow(["period", "to", export["period"]["to"], "", "", ""])
    units = {"energy": "kWh", "tco2e": "tCO2e", "water": "L", "coverage": "share"}
    for name, value in export["totals"].items():
        unit = next((u for k, u in units.items() if k in name), "")
        w.writerow(["totals", name, _fmt(value), unit, "", ""])
    for name, value in export["sci"].items():
        w.writerow(["sci", name, _fmt(value), "gCO2e" if "gco2e" in name.lower() else "", "", ""])
    for c in export["coefficients"]:
        w.writerow(["coefficient", c["name"], _fmt(c["value"]), c["unit"], c["source"],
                    c["year"] or ""])
    for t in export["teams"]:
        for k in ("requests", "energy_kwh", "location_tco2e", "market_tco2e"):
            w.writerow([f"team:{t['team']}", k, _fmt(t[k]), units.get(k.split("_")[-1], ""),
                        "", ""])
    w.writerows(_reduction_rows(export.get("reduction_opportunities")))
    w.writerow(["statement", "boundary", export["boundary"], "", "", ""])
    w.writerow(["statement", "uncertainty", export["uncertainty"], "", "", ""])
    return out.getvalue()


def _reduction_rows(section: dict[str, Any] | None) -> list[list[str]]:
    """The right-sizing section (proxy.reports.rightsizing.esg_section) as CSV rows."""
    if not section:
        return []
    rows = [["reduction_opportunity", f"{r['team']}/{r['model']}/{r['task']}",
             _fmt(r["avoidable_tco2e"]), "tCO2e", r["summary"] or "", ""]
            for r in section["rows"]]
    shadow = section["shadow_evaluation"]
    rows += [["shadow_evaluation", k, _fmt(shadow[k]), unit, "", ""]
             for k, unit in (("calls", ""), ("energy_kwh", "kWh"), ("location_tco2e", "tCO2e"))]
    rows.append(["statement", "reduction_opportunities", section["statement"], "", "", ""])
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.8g}"
    return str(value)
