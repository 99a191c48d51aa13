"""Result types: `Range`, `Breakdown` and `Impacts` (immutable, cheap to build)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, NamedTuple


class Range(NamedTuple):
    """A central estimate with its uncertainty interval (`min <= value <= max`)."""

    value: float
    min: float
    max: float

    def to_dict(self) -> dict[str, float]:
        return {"value": _r(self.value), "min": _r(self.min), "max": _r(self.max)}


class Breakdown(NamedTuple):
    """Where the central energy estimate goes, in Wh (sums to `Impacts.energy_wh.value`)."""

    accelerator_wh: float  # GPUs (or the measured IT energy for quality="measured")
    server_wh: float  # the rest of the server (CPU, DRAM, NICs, fans), time-allocated
    overhead_wh: float  # data-centre overhead: (PUE - 1) x IT energy


class Assumptions(NamedTuple):
    """The deployment the central estimate assumed (for audit trails, not part of `to_dict`)."""

    provider: str
    gpu: str
    gpu_count: int
    batch_size: int
    pue: float
    wue_onsite_l_per_kwh: float
    wue_offsite_l_per_kwh: float
    active_params_b: Range
    total_params_b: Range


def _r(x: float) -> float:
    """Round to 6 significant digits (keeps JSON short without false precision)."""
    return float(f"{x:.6g}")


@dataclass(frozen=True, slots=True)
class Impacts:
    """Energy, emissions and water of one call.

    Energy is at the data-centre meter (IT energy x PUE). `emissions_gco2e` is
    location-based (operational + embodied); `emissions_market_gco2e` is the
    market-based total (operational at the market factor + embodied) and is `None`
    unless a market factor is configured. The two are never summed.
    """

    energy_wh: Range
    emissions_gco2e: Range
    emissions_operational_gco2e: float
    emissions_embodied_gco2e: float
    emissions_market_gco2e: float | None
    water_ml: Range
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

    def to_dict(self, usage_source: str = "upstream") -> dict[str, Any]:
        """The `impacts` JSON object of DESIGN.md, plus breakdown, quality and model."""
        e = self.emissions_gco2e
        market = self.emissions_market_gco2e
        b = self.breakdown
        return {
            "energy_wh": self.energy_wh.to_dict(),
            "emissions_gco2e": {
                "value": _r(e.value),
                "min": _r(e.min),
                "max": _r(e.max),
                "operational": _r(self.emissions_operational_gco2e),
                "embodied": _r(self.emissions_embodied_gco2e),
                "market_based": None if market is None else _r(market),
            },
            "water_ml": self.water_ml.to_dict(),
            "grid": {
                "zone": self.grid_zone,
                "gco2e_per_kwh": _r(self.grid_gco2e_per_kwh),
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
            "breakdown": {
                "accelerator_wh": _r(b.accelerator_wh),
                "server_wh": _r(b.server_wh),
                "overhead_wh": _r(b.overhead_wh),
            },
            "quality": self.quality,
            "model": self.model_id,
        }


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
