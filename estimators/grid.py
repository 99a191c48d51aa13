"""Grid factors per zone: carbon intensity (location-based), water of electricity
generation, from EcoLogits' `electricity_mixes.json`; cloud regions mapped to zones."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from estimators import ecologits_data
from estimators.errors import UnknownZoneError
from estimators.hardware import load_data


@dataclass(frozen=True, slots=True)
class GridMix:
    zone: str  # ISO 3166-1 alpha-3, or WOR for the world average
    gco2e_per_kwh: float  # lifecycle, location-based (Ember via Our World in Data)
    wue_offsite_l_per_kwh: float  # water consumed to generate 1 kWh (WRI methodology)
    kgco2e_per_kwh: float  # the raw EcoLogits value, for exact compatibility
    warnings: tuple[str, ...]


STATIC_SOURCE = f"ecologits-data {ecologits_data.DATA_VERSION} electricity mixes (Ember/OWID)"
LIVE_SOURCE = "live (Electricity Maps)"

MIXES: dict[str, GridMix] = {}
for _m in ecologits_data.load("electricity_mixes.json")["electricity_mixes"]:
    MIXES[_m["name"]] = GridMix(
        zone=_m["name"],
        gco2e_per_kwh=float(_m["gwp"]) * 1000.0,
        wue_offsite_l_per_kwh=float(_m["wue"]),
        kgco2e_per_kwh=float(_m["gwp"]),
        warnings=tuple(_m.get("warnings") or ()),
    )

CLOUD_REGIONS: dict[str, str] = {}
for _cloud, _regions in load_data("cloud_regions.json").items():
    if _cloud.startswith("_"):
        continue
    for _region, _zone in _regions.items():
        CLOUD_REGIONS[f"{_cloud}:{_region}"] = _zone


@lru_cache(maxsize=1024)
def resolve_zone(zone: str) -> GridMix:
    """'FRA', 'fra', 'aws:eu-west-3', 'azure:westeurope', 'gcp:europe-west1' -> GridMix."""
    raw = str(zone).strip()
    if ":" in raw:
        cloud, _, region = raw.partition(":")
        iso = CLOUD_REGIONS.get(
            f"{cloud.strip().lower()}:{region.strip().lower().replace(' ', '')}"
        )
        if iso is None:
            raise UnknownZoneError(
                f"unknown cloud region {zone!r} (expected e.g. 'aws:us-east-1', "
                "'azure:westeurope', "
                "'gcp:europe-west1')"
            )
        return MIXES[iso]
    mix = MIXES.get(raw.upper())
    if mix is None:
        raise UnknownZoneError(
            f"unknown grid zone {zone!r} (expected an ISO 3166-1 alpha-3 code such as "
            "'USA', 'FRA', "
            "'WOR', or a cloud region such as 'aws:us-east-1')"
        )
    return mix
