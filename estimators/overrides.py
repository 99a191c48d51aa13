"""`Overrides`: a deployment's declared facts (from the proxy's YAML config), validated once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from estimators.energy import PRECISION_BYTES
from estimators.errors import InvalidArgumentError
from estimators.grid import resolve_zone
from estimators.hardware import resolve_gpu

ParamSpec = float | tuple[float, float]


def _number(key: str, value: Any, *, minimum: float, strict: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= minimum if strict else value < minimum):
        rel = ">" if strict else ">="
        raise InvalidArgumentError(f"{key!r} must be a number {rel} {minimum:g}, got {value!r}")
    return float(value)


def _count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{key!r} must be an integer >= 1, got {value!r}")
    return int(value)


def _params(key: str, value: Any) -> ParamSpec:
    if isinstance(value, Mapping):
        value = (value.get("min"), value.get("max"))
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise InvalidArgumentError(
                f"{key!r} must be a number or a (min, max) pair, got {value!r}"
            )
        lo = _number(key, value[0], minimum=0, strict=True)
        hi = _number(key, value[1], minimum=0, strict=True)
        if lo > hi:
            raise InvalidArgumentError(f"{key!r} must have min <= max, got {value!r}")
        return (lo, hi)
    return _number(key, value, minimum=0, strict=True)


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{key!r} must be a non-empty string, got {value!r}")
    return value.strip()


@dataclass(frozen=True, slots=True)
class Overrides:
    """Per-deployment defaults. Every field is optional; `None` means "use the default".

    Precedence in `estimate()`: explicit keyword arguments (`provider`, `zone`, `hardware`,
    `grid_intensity`) > these overrides > provider defaults > catalog data.
    """

    model: str | None = None  # catalog id or name to estimate with (e.g. for Azure deployments)
    provider: str | None = None
    zone: str | None = None  # ISO-3 or cloud region ("azure:westeurope")
    gpu: str | None = None  # A100 | H100 | H200 | B200 | ...
    gpu_count: int | None = None
    batch_size: int | None = None
    precision: str | None = None  # weights as served: bf16 | fp16 | fp8 | int8 | mxfp4 | int4
    pue: float | None = None  # >= 1
    wue_onsite: float | None = None  # L/kWh of IT energy
    market_gco2e_per_kwh: float | None = None  # market-based factor (contracts, RECs, PPAs)
    measured_wh_per_output_token: float | None = None  # IT energy, before PUE
    measured_wh_per_input_token: float | None = None
    total_params_b: ParamSpec | None = None
    active_params_b: ParamSpec | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if self.model is not None:
            put("model", _text("model", self.model))
        if self.provider is not None:
            put("provider", _text("provider", self.provider))
        if self.zone is not None:
            resolve_zone(_text("zone", self.zone))
            put("zone", self.zone.strip())
        if self.gpu is not None:
            put("gpu", resolve_gpu(_text("gpu", self.gpu)).kind)
        if self.gpu_count is not None:
            put("gpu_count", _count("gpu_count", self.gpu_count))
        if self.batch_size is not None:
            put("batch_size", _count("batch_size", self.batch_size))
        if self.precision is not None:
            key = _text("precision", self.precision).lower()
            if key not in PRECISION_BYTES:
                known = ", ".join(PRECISION_BYTES)
                raise InvalidArgumentError(
                    f"'precision' must be one of {known}, got {self.precision!r}"
                )
            put("precision", key)
        if self.pue is not None:
            put("pue", _number("pue", self.pue, minimum=1))
        for key in (
            "wue_onsite",
            "market_gco2e_per_kwh",
            "measured_wh_per_output_token",
            "measured_wh_per_input_token",
        ):
            value = getattr(self, key)
            if value is not None:
                put(key, _number(key, value, minimum=0))
        for key in ("total_params_b", "active_params_b"):
            value = getattr(self, key)
            if value is not None:
                put(key, _params(key, value))
        if (
            self.measured_wh_per_input_token is not None
            and self.measured_wh_per_output_token is None
        ):
            raise InvalidArgumentError(
                "'measured_wh_per_input_token' needs 'measured_wh_per_output_token' as well"
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Overrides:
        """Build from a config mapping; unknown keys and bad values raise `EstimatorError`."""
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(f"overrides must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise InvalidArgumentError(
                    f"unknown key {key!r} in estimator overrides "
                    f"(known: {', '.join(sorted(known))})"
                )
        return cls(**{k: v for k, v in data.items() if v is not None})
