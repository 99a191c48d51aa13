"""Optional live grid carbon intensity from the Electricity Maps API (v3).

`LiveGridIntensity` refreshes the latest lifecycle intensity of a few zones in the
background and serves them from a dict on the request path:

    live = LiveGridIntensity(base_url, token, zones=["FRA", "aws:us-east-1"])
    await live.start()                  # in the app lifespan
    estimate(..., zone=z, grid_intensity=live.get(z))   # None -> static factor
    await live.close()

Zones are the estimator's (ISO 3166-1 alpha-3 or "cloud:region"); they are mapped to
Electricity Maps zone codes below. Failures (HTTP errors, timeouts, bad JSON) are logged
and the last good value is kept; a zone that never succeeded reads as None.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable

import aiohttp

log = logging.getLogger(__name__)

# ISO 3166-1 alpha-3 -> Electricity Maps zone (country-level codes are ISO alpha-2).
ISO3_TO_EM: dict[str, str] = {
    "USA": "US",
    "CAN": "CA",
    "MEX": "MX",
    "BRA": "BR",
    "ARG": "AR",
    "CHL": "CL",
    "COL": "CO",
    "FRA": "FR",
    "DEU": "DE",
    "GBR": "GB",
    "IRL": "IE",
    "NLD": "NL",
    "BEL": "BE",
    "LUX": "LU",
    "CHE": "CH",
    "AUT": "AT",
    "ITA": "IT",
    "ESP": "ES",
    "PRT": "PT",
    "POL": "PL",
    "CZE": "CZ",
    "SVK": "SK",
    "HUN": "HU",
    "ROU": "RO",
    "BGR": "BG",
    "GRC": "GR",
    "HRV": "HR",
    "SVN": "SI",
    "SRB": "RS",
    "FIN": "FI",
    "EST": "EE",
    "LVA": "LV",
    "LTU": "LT",
    "ISL": "IS",
    "TUR": "TR",
    "ISR": "IL",
    "ARE": "AE",
    "SAU": "SA",
    "QAT": "QA",
    "BHR": "BH",
    "ZAF": "ZA",
    "EGY": "EG",
    "IND": "IN",
    "CHN": "CN",
    "JPN": "JP",
    "KOR": "KR",
    "TWN": "TW",
    "HKG": "HK",
    "SGP": "SG",
    "MYS": "MY",
    "IDN": "ID",
    "THA": "TH",
    "VNM": "VN",
    "PHL": "PH",
    "AUS": "AU",
    "NZL": "NZ",
    "UKR": "UA",
    "NOR": "NO",
    "SWE": "SE",
    "DNK": "DK",
}
# Countries that Electricity Maps splits into bidding zones: use the main one.
ISO3_TO_EM.update(
    {
        "NOR": "NO-NO1",
        "SWE": "SE-SE3",
        "DNK": "DK-DK1",
        "ITA": "IT-NO",
        "JPN": "JP-TK",
        "AUS": "AU-NSW",
        "IND": "IN-NO",
        "CAN": "CA-ON",
        "BRA": "BR-CS",
        "NZL": "NZ-NZN",
    }
)
# Cloud regions with a sub-national grid (Electricity Maps zones; CO2.js yearly data names).
REGION_TO_EM: dict[str, str] = {
    "aws:us-east-1": "US-MIDA-PJM",
    "aws:us-east-2": "US-MIDA-PJM",
    "aws:us-west-1": "US-CAL-CISO",
    "aws:us-west-2": "US-NW-BPAT",
    "azure:eastus": "US-MIDA-PJM",
    "azure:eastus2": "US-MIDA-PJM",
    "azure:westus": "US-CAL-CISO",
    "azure:westus2": "US-NW-BPAT",
    "azure:centralus": "US-MIDW-MISO",
    "azure:southcentralus": "US-TEX-ERCO",
    "gcp:us-central1": "US-MIDW-MISO",
    "gcp:us-east1": "US-SE-SOCO",
    "gcp:us-east4": "US-MIDA-PJM",
    "gcp:us-west1": "US-NW-BPAT",
    "gcp:us-west2": "US-CAL-CISO",
}


def em_zone(zone: str) -> str:
    """Our zone -> the Electricity Maps zone code queried for it."""
    z = zone.strip()
    if ":" in z:
        key = z.lower()
        if key in REGION_TO_EM:
            return REGION_TO_EM[key]
        from estimators.grid import resolve_zone  # country of the region

        z = resolve_zone(key).zone
    return ISO3_TO_EM.get(z.upper(), z)


class LiveGridIntensity:
    """Background refresher of the latest gCO2e/kWh per zone; `get()` is a dict lookup."""

    def __init__(
        self,
        base_url: str,
        token: str,
        zones: Iterable[str],
        refresh_s: float = 900,
        timeout_s: float = 5,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._zones = {z: em_zone(z) for z in zones}
        self._refresh_s = refresh_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._values: dict[str, float] = {}
        self._updated: dict[str, float] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    def get(self, zone: str) -> float | None:
        """Latest known intensity for `zone` (as configured), or None (use the static value)."""
        return self._values.get(zone)

    def updated_at(self, zone: str) -> float | None:
        """time.time() of the last successful refresh of `zone`."""
        return self._updated.get(zone)

    async def start(self) -> None:
        """Fetch once (so values are there early), then refresh in the background."""
        if self._task is not None:
            return
        self._session = aiohttp.ClientSession(
            timeout=self._timeout, headers={"auth-token": self._token}
        )
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="wattgate-grid-live")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def refresh(self) -> None:
        """One refresh round over all zones (errors logged, last good values kept)."""
        await asyncio.gather(*(self._fetch(ours, theirs) for ours, theirs in self._zones.items()))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except Exception:  # never let the loop die
                log.exception("grid intensity refresh failed")

    async def _fetch(self, ours: str, theirs: str) -> None:
        assert self._session is not None
        url = f"{self._base}/v3/carbon-intensity/latest"
        try:
            async with self._session.get(url, params={"zone": theirs}) as resp:
                if resp.status != 200:
                    log.warning(
                        "Electricity Maps %s for zone %s: HTTP %s", url, theirs, resp.status
                    )
                    return
                body = await resp.json(content_type=None)
            value = float(body["carbonIntensity"])
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"carbonIntensity {value!r}")
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError) as exc:
            log.warning("Electricity Maps zone %s: %s: %s", theirs, type(exc).__name__, exc)
            return
        self._values[ours] = value
        self._updated[ours] = time.time()
