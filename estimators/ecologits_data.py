"""Read the EcoLogits data files (models, electricity mixes) once, at catalog-build time.

Only the JSON data of the installed `ecologits` distribution is used, never its code:
the package is located without being imported (importing it would pull in pydantic and
its tracers). The data version is pinned; a different installed version still loads but
is reported in `Impacts.method`, so stored rows say which data produced them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import warnings
from pathlib import Path
from typing import Any

from estimators.errors import CatalogError

PINNED_VERSION = "0.11.3"


def _data_dir() -> Path:
    spec = importlib.util.find_spec("ecologits")
    if spec is None or not spec.submodule_search_locations:
        raise CatalogError(
            "the 'ecologits' package (data source, pinned ==0.11.3) is not installed"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def installed_version() -> str:
    try:
        return importlib.metadata.version("ecologits")
    except importlib.metadata.PackageNotFoundError as exc:  # pragma: no cover - guarded above
        raise CatalogError("the 'ecologits' distribution metadata is missing") from exc


def load(name: str) -> Any:
    """Parse one JSON file of ecologits/data (models.json, electricity_mixes.json)."""
    path = _data_dir() / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"cannot read EcoLogits data file {path}: {exc}") from exc


DATA_VERSION = installed_version()
if DATA_VERSION != PINNED_VERSION:  # pragma: no cover - depends on the environment
    warnings.warn(
        f"estimators is calibrated on ecologits data {PINNED_VERSION}, found {DATA_VERSION}",
        RuntimeWarning,
        stacklevel=2,
    )
