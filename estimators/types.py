"""Result types: `Range`, `Breakdown`, `Assumptions` and `Impacts` (immutable, cheap to
build), and `significant`, the one rounding rule every output of impacts uses."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

SIGNIFICANT_DIGITS = 6


def significant(x: float) -> float:
    """`x` rounded to 6 significant digits: what JSON bodies, headers, `/v1/impacts` and
    reports show (enough for any range, free of float noise such as 384.40000000000003)."""
    return float(f"{x:.{SIGNIFICANT_DIGITS}g}")


class Range(NamedTuple):
    """A central estimate with its uncertainty interval (`min <= value <= max`)."""

    value: float
    min: float
    max: float

    def to_dict(self) -> dict[str, float]:
        return {
            "value": significant(self.value),
            "min": significant(self.min),
            "max": significant(self.max),
        }


class Breakdown(NamedTuple):
    """Where the central energy estimate goes, in Wh (sums to `Impacts.energy_wh.value`)."""

    accelerator_wh: float  # GPUs (or the measured IT energy for quality="measured")
    server_wh: float  # the rest of the server (CPU, DRAM, NICs, fans)
    idle_wh: float  # the call's share of provisioned capacity standing idle
    overhead_wh: float  # data-centre overhead: (PUE - 1) x IT energy


class Assumptions(NamedTuple):
    """The deployment the central estimate assumed (audit trails; not part of `to_dict`)."""

    provider: str
    gpu: str
    gpu_count: int
    batch_size: float
    precision: str
    pue: float
    wue_onsite_l_per_kwh: float
    wue_offsite_l_per_kwh: float
    host_share: float  # host (non-GPU) share of active IT energy
    idle_share: float  # idle capacity, as a share of active IT energy
    active_params_b: Range
    total_params_b: Range
    factors: str  # every coefficient applied, with its origin (`estimators.factors`)


@dataclass(frozen=True, slots=True)
class Impacts:
    """Energy, emissions and water of one call.

    Energy is at the data-centre meter (IT energy x PUE); `it_energy_wh` and
    `accelerator_wh` give the same estimate at narrower boundaries (their ranges come from
    `spread`: the squared log half-widths, down and up, of the GPU and of the IT energy).
    `emissions_gco2e` is
    location-based (operational + embodied); `emissions_market_gco2e` is the
    market-based total (operational at the supplier-specific or declared market factor
    + embodied) and is `None` when no market factor is known; `market_source` says where
    the factor came from. The two are never summed. Water is consumption: on-site cooling
    (`water_onsite_ml`) plus electricity generation (`water_offsite_ml`), central values.
    """

    energy_wh: Range
    spread: tuple[float, float, float, float]  # see `it_energy_wh` and `accelerator_wh`
    emissions_gco2e: Range
    emissions_operational_gco2e: float
    emissions_embodied_gco2e: float
    emissions_market_gco2e: float | None
    market_source: str | None
    water_ml: Range
    water_onsite_ml: float
    water_offsite_ml: float
    grid_zone: str
    grid_gco2e_per_kwh: float
    grid_source: str
    method: str
    quality: str  # measured | modelled-open-weights | modelled-closed | fallback
    model_id: str | None
    warnings: tuple[str, ...]
    breakdown: Breakdown
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    assumptions: Assumptions

    @property
    def accelerator_wh(self) -> Range:
        """GPU energy only, with its range (the boundary of GPU measurements)."""
        return _spread_range(self.breakdown.accelerator_wh, self.spread[0], self.spread[1])

    @property
    def it_energy_wh(self) -> Range:
        """Energy at the servers, before PUE: GPUs, host and idle capacity, with its range."""
        b = self.breakdown
        return _spread_range(
            b.accelerator_wh + b.server_wh + b.idle_wh, self.spread[2], self.spread[3]
        )

    def to_dict(self, usage_source: str = "upstream") -> dict[str, Any]:
        """The `impacts` JSON object of DESIGN.md, plus the water split, breakdown, quality
        and model; every number through `significant`."""
        e = self.emissions_gco2e
        market = self.emissions_market_gco2e
        return {
            "energy_wh": self.energy_wh.to_dict(),
            "emissions_gco2e": {
                **e.to_dict(),
                "operational": significant(self.emissions_operational_gco2e),
                "embodied": significant(self.emissions_embodied_gco2e),
                "market_based": None if market is None else significant(market),
                "market_based_source": self.market_source,
            },
            "water_ml": {
                **self.water_ml.to_dict(),
                "onsite": significant(self.water_onsite_ml),
                "offsite": significant(self.water_offsite_ml),
            },
            "grid": {
                "zone": self.grid_zone,
                "gco2e_per_kwh": significant(self.grid_gco2e_per_kwh),
                "source": self.grid_source,
            },
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cached_input_tokens": self.cached_input_tokens,
                "reasoning_tokens": self.reasoning_tokens,
                "source": usage_source,
            },
            "method": self.method,
            "warnings": list(self.warnings),
            "breakdown": {k: significant(v) for k, v in self.breakdown._asdict().items()},
            "quality": self.quality,
            "model": self.model_id,
        }


def _spread_range(value: float, down2: float, up2: float) -> Range:
    return Range(value, value * math.exp(-math.sqrt(down2)), value * math.exp(math.sqrt(up2)))


class _Unfrozen:
    """`Impacts`' slot layout without its frozen `__setattr__` (see `new_impacts`)."""

    __slots__ = Impacts.__slots__  # type: ignore[attr-defined]


def _impacts_builder() -> Any:
    """`new_impacts(*fields)`: fills an `_Unfrozen` with plain slot writes, then turns it
    into an `Impacts` (`__class__` assignment between layout-identical classes). The frozen
    dataclass `__init__` pays one `object.__setattr__` per field: ~1.1 us against ~0.3 us.
    Generated from the dataclass' own field list, so the two cannot drift apart."""
    names = [f.name for f in fields(Impacts)]
    body = "".join(f"    o.{n} = {n}\n" for n in names)
    src = f"def new_impacts({', '.join(names)}):\n    o = _Unfrozen()\n{body}"
    src += "    o.__class__ = Impacts\n    return o\n"
    scope: dict[str, Any] = {"_Unfrozen": _Unfrozen, "Impacts": Impacts}
    exec(src, scope)  # noqa: S102 - field names come from the dataclass definition
    return scope["new_impacts"]


new_impacts = _impacts_builder()
