"""Estimator exceptions.

    EstimatorError (ValueError)
     +-- InvalidArgumentError   bad token counts, kind, latency, hardware mapping, override value
     +-- UnknownHardwareError   GPU kind not in the hardware table
     +-- UnknownZoneError       grid zone / cloud region not in the zone tables
     +-- CatalogError           the bundled data could not be loaded (import time only)

Unknown *model names* never raise: they get a flagged fallback profile.
"""

from __future__ import annotations


class EstimatorError(ValueError):
    """Base class of every error raised by `estimators`."""


class InvalidArgumentError(EstimatorError):
    """An argument (token count, kind, override value, ...) is out of range or malformed."""


class UnknownHardwareError(EstimatorError):
    """The accelerator kind is not in the hardware table."""


class UnknownZoneError(EstimatorError):
    """The grid zone or cloud region is not in the zone tables."""


class CatalogError(EstimatorError):
    """The bundled model or grid data is missing or inconsistent."""
