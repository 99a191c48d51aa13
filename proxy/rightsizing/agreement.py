"""Agreement between a call's answer and a candidate's, with a Wilson score interval.

The Wilson interval (Wilson 1927; Agresti & Coull 1998, "Approximate is better than
'exact' for interval estimation of binomial proportions") stays inside [0, 1] and behaves
at small samples and rates near 0 or 1, where the normal approximation does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """(low, high) of the Wilson score interval for `successes` out of `trials`.

    Raises ValueError unless 0 <= successes <= trials and trials > 0.
    """
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got "
                         f"{successes}/{trials}")
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True, slots=True)
class Agreement:
    """Shadow verdicts of one (team, task, candidate): agreed out of compared samples."""

    agreed: int
    samples: int  # agreed + disagreed; failed candidate calls are `errors`, not samples
    errors: int = 0

    @property
    def rate(self) -> float | None:
        return self.agreed / self.samples if self.samples else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.agreed, self.samples) if self.samples else None

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval or (None, None)
        return {"samples": self.samples, "agreed": self.agreed, "errors": self.errors,
                "agreement": self.rate, "agreement_low": low, "agreement_high": high}
