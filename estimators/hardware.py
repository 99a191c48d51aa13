"""Accelerator profiles (datasheet power, memory, bandwidth, compute, embodied emissions)
and provider data-centre defaults (zone, PUE, WUE, supplier-specific market-based factor).
Loaded once from `estimators/data/`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from estimators.errors import UnknownHardwareError


def load_data(name: str) -> Any:
    return json.loads(
        resources.files("estimators").joinpath("data").joinpath(name).read_text("utf-8")
    )


@dataclass(frozen=True, slots=True)
class GpuSpec:
    kind: str
    name: str
    tdp_w: float
    memory_gb: float
    bandwidth_tbs: float
    bf16_tflops: float
    embodied_kgco2e: float
    source: str


@dataclass(frozen=True, slots=True)
class MarketFactor:
    """A supplier-specific market-based emission factor (GHG Protocol Scope 2 guidance)."""

    gco2e_per_kwh: float
    year: int
    source: str


@dataclass(frozen=True, slots=True)
class ProviderDefaults:
    key: str
    zone: str
    pue: tuple[float, float, float]  # min, central, max
    wue_onsite: tuple[float, float, float]  # L/kWh of IT energy
    catalog: tuple[str, ...]  # catalog namespaces searched first
    source: str
    market: MarketFactor | None = None  # the provider's own market-based factor, if published


_GPU_DATA = load_data("gpus.json")
GPUS: dict[str, GpuSpec] = {
    kind: GpuSpec(kind=kind, **{k: v for k, v in spec.items()})
    for kind, spec in _GPU_DATA["gpus"].items()
}
_GPU_ALIASES: dict[str, str] = {_norm_gpu: kind for _norm_gpu, kind in _GPU_DATA["aliases"].items()}
REFERENCE_GPU = GPUS["H100"]  # the calibration hardware (ML.ENERGY v3, H100 SXM)


def resolve_gpu(name: str) -> GpuSpec:
    """'h100', 'NVIDIA H100 SXM5', 'H100-80GB' -> the H100 profile.

    Unknown kinds raise UnknownHardwareError.
    """
    key = (
        str(name)
        .strip()
        .upper()
        .replace("NVIDIA", "")
        .replace("_", "-")
        .replace(" ", "-")
        .strip("-")
    )
    while "--" in key:
        key = key.replace("--", "-")
    spec = GPUS.get(key) or GPUS.get(_GPU_ALIASES.get(key, ""))
    if spec is None:
        known = ", ".join(sorted(GPUS))
        raise UnknownHardwareError(f"unknown GPU kind {name!r} (known: {known})")
    return spec


_PROV_DATA = load_data("providers.json")
PROVIDERS: dict[str, ProviderDefaults] = {
    key: ProviderDefaults(
        key=key,
        zone=p["zone"],
        pue=tuple(p["pue"]),  # type: ignore[arg-type]
        wue_onsite=tuple(p["wue_onsite"]),  # type: ignore[arg-type]
        catalog=tuple(p["catalog"]),
        source=p["source"],
        market=MarketFactor(**p["market"]) if p.get("market") else None,
    )
    for key, p in _PROV_DATA["providers"].items()
}
_PROVIDER_ALIASES: dict[str, str] = dict(_PROV_DATA["aliases"])


def resolve_provider(name: str | None) -> tuple[ProviderDefaults, bool]:
    """Provider name -> (defaults, known). Unknown names get the 'generic' defaults."""
    if name is None:
        return PROVIDERS["generic"], True
    key = name.strip().lower()
    key = _PROVIDER_ALIASES.get(key, key)
    found = PROVIDERS.get(key)
    if found is None:
        return PROVIDERS["generic"], False
    return found, True
