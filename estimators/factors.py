"""The coefficients an estimate applied: one short, stable text stored with each usage row
(`Assumptions.factors`), and `describe()` to turn it back into labelled rows with units,
origins and sources, for audit trails and ESG exports.

    site=azure;gpu=H100@assumed;gpus=16@assumed;batch=64@assumed;pue=1.18@declared;...

The text holds what varies between deployments; `describe()` adds the constants of the
estimation method (host and idle shares, embodied emissions and their allocation).

Each entry is `key=value@origin`; origins say where the value came from:

    catalog    the model catalog (parameters, weight precision)
    provider   the provider's published data-centre figures (providers.json)
    supplier   the provider's own market-based emission factor
    declared   the operator, in the deployment's configuration
    assumed    a Wattgate serving assumption (docs/methodology.md §4), with its range
    zone       the grid zone's data (electricity generation)
    hardware   the accelerator's datasheet and product carbon footprint
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from estimators import serving
from estimators.grid import STATIC_SOURCE
from estimators.hardware import GPUS, PROVIDERS

DECLARED = "operator-declared (deployment configuration)"
METHODOLOGY = "Wattgate serving assumption, docs/methodology.md §4"

# key -> (label, unit)
LABELS: dict[str, tuple[str, str]] = {
    "formulas": ("estimation formulas", "name"),
    "active_params": ("active parameters", "billion"),
    "total_params": ("total parameters", "billion"),
    "precision": ("weight precision", "format"),
    "gpu": ("accelerator", "model"),
    "gpus": ("accelerators per replica", "count"),
    "batch": ("concurrent sequences per replica", "sequences"),
    "host_share": ("host (CPU, memory) share of active IT energy", "share"),
    "idle_share": ("idle provisioned capacity, share of active IT energy", "share"),
    "measured_out": ("measured IT energy per output token", "Wh/token"),
    "measured_in": ("measured IT energy per input token", "Wh/token"),
    "pue": ("PUE", "ratio"),
    "wue_onsite": ("on-site water usage effectiveness (cooling)", "L/kWh"),
    "wue_offsite": ("off-site water of electricity generation", "L/kWh"),
    "market": ("market-based emission factor", "gCO2e/kWh"),
    "embodied_gpu": ("embodied emissions per accelerator", "kgCO2e"),
    "embodied_server": ("embodied emissions of the server, per accelerator", "kgCO2e"),
    "lifetime": ("hardware service life", "years"),
    "service_share": ("share of the service life spent serving", "share"),
}


class Coefficient(NamedTuple):
    """One applied coefficient: what it is, its value and unit, where it came from."""

    key: str
    name: str
    value: float | str
    unit: str
    origin: str
    source: str


def encode(site: str, entries: Iterable[tuple[str, float | str, str]]) -> str:
    """`site` (the provider defaults used) plus `(key, value, origin)` entries, as text."""
    parts = [f"site={site}"]
    for key, value, origin in entries:
        if key not in LABELS:
            raise ValueError(f"unknown coefficient key {key!r}")
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={text}@{origin}")
    return ";".join(parts)


def describe(text: str, *, model_source: str | None = None) -> list[Coefficient]:
    """The rows of an `encode`d text, each with its source. `model_source` is the catalog
    source of the model (for the parameters). Unknown keys are kept, labelled as such."""
    site = ""
    entries: list[tuple[str, str, str]] = []
    for part in text.split(";"):
        key, _, rest = part.partition("=")
        if key == "site":
            site = rest
            continue
        value, _, origin = rest.rpartition("@")
        entries.append((key, value, origin))
    gpu = next((v for k, v, _ in entries if k == "gpu"), "")
    if not any(k == "formulas" for k, _, _ in entries):  # EcoLogits' formulas have their own
        entries += _method_constants(gpu, measured=any(k == "measured_out" for k, _, _ in entries))
    out = []
    for key, value, origin in entries:
        name, unit = LABELS.get(key, (key, ""))
        out.append(
            Coefficient(
                key, name, _number(value), unit, origin, _source(origin, site, gpu, model_source)
            )
        )
    return out


# Deployment conditions a what-if keeps for another model: factor key -> Overrides field.
# The GPU count is not kept (the other model is sized for its own weights), nor measured
# energy (it belongs to the measured model).
CONDITIONS = {
    "gpu": "gpu",
    "batch": "batch_size",
    "precision": "precision",
    "pue": "pue",
    "wue_onsite": "wue_onsite",
    "market": "market_gco2e_per_kwh",
}


def declared_conditions(text: str) -> dict[str, float | str]:
    """The operator-declared deployment conditions in `text`, as `Overrides` keyword
    arguments: what the same deployment would apply to any other model it served."""
    out: dict[str, float | str] = {}
    for part in text.split(";"):
        key, _, rest = part.partition("=")
        value, _, origin = rest.rpartition("@")
        if origin == "declared" and key in CONDITIONS:
            number = _number(value)
            out[CONDITIONS[key]] = int(number) if key == "batch" else number
    return out


def _method_constants(gpu: str, *, measured: bool) -> list[tuple[str, str, str]]:
    """The coefficients every Wattgate estimate applies (host and idle shares only to
    modelled energy: a measured IT energy already includes the host)."""
    out = (
        []
        if measured
        else [
            ("host_share", str(serving.HOST_SHARE.mid), "assumed"),
            ("idle_share", str(serving.IDLE_SHARE.mid), "assumed"),
        ]
    )
    if gpu in GPUS:
        out.append(("embodied_gpu", str(GPUS[gpu].embodied_kgco2e), "hardware"))
    return out + [
        ("embodied_server", str(serving.SERVER_EMBODIED_KGCO2E_PER_GPU), "assumed"),
        ("lifetime", str(serving.LIFETIME_YEARS.mid), "assumed"),
        ("service_share", str(serving.SERVICE_SHARE.mid), "assumed"),
    ]


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _source(origin: str, site: str, gpu: str, model_source: str | None) -> str:
    provider = PROVIDERS.get(site)
    if origin == "declared":
        return DECLARED
    if origin == "assumed":
        return METHODOLOGY
    if origin == "provider" and provider is not None:
        return f"{site}: {provider.source}"
    if origin == "supplier" and provider is not None and provider.market is not None:
        return f"{site} ({provider.market.year}): {provider.market.source}"
    if origin == "zone":
        return f"{STATIC_SOURCE}; WRI methodology for generation water"
    if origin == "hardware" and gpu in GPUS:
        return GPUS[gpu].source
    if origin == "catalog":
        return model_source or "model catalog (estimators/data)"
    return origin
