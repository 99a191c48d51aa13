"""Per-call energy, emissions and water estimates for LLM calls (pure, microseconds).

    from estimators import estimate
    imp = estimate("openai/gpt-4o", input_tokens=100, output_tokens=300)
    imp.energy_wh.value, imp.emissions_gco2e.max, imp.to_dict()

Method: docs/methodology.md. No I/O after import, no dependency on the proxy.
"""

from __future__ import annotations

from estimators.errors import (
    CatalogError,
    EstimatorError,
    InvalidArgumentError,
    UnknownHardwareError,
    UnknownZoneError,
)
from estimators.estimate import METHOD_VERSION, estimate, resolve_model
from estimators.overrides import Overrides
from estimators.types import Assumptions, Breakdown, Impacts, Range

__all__ = [
    "Assumptions",
    "Breakdown",
    "CatalogError",
    "EstimatorError",
    "Impacts",
    "InvalidArgumentError",
    "METHOD_VERSION",
    "Overrides",
    "Range",
    "UnknownHardwareError",
    "UnknownZoneError",
    "estimate",
    "resolve_model",
]
