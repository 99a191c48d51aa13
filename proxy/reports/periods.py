"""Report periods: `--month 2026-10`, `--quarter 2026Q3`, `--year 2026`, `--from/--to`.

A period is a half-open UTC interval `[start, end)`. A bare date given as `to` includes
that whole day; a date-time `to` is exclusive. With no period at all, the current month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


class PeriodError(ValueError):
    """A period that cannot be parsed or makes no sense (`param` names the culprit)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime  # exclusive
    label: str

    def to_dict(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "label": self.label}


def month_start(day: date) -> datetime:
    return datetime(day.year, day.month, 1, tzinfo=UTC)


def next_month(moment: datetime) -> datetime:
    """Midnight UTC on the first day of the month after `moment`."""
    return datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)


_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_YEAR = re.compile(r"^\d{4}$")


def _month(value: str) -> Period:
    m = _MONTH.match(value.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise PeriodError(f"month must look like 2026-10, got {value!r}", "month")
    start = datetime(int(m.group(1)), int(m.group(2)), 1, tzinfo=UTC)
    return Period(start, next_month(start), f"{start:%Y-%m}")


def _quarter(value: str) -> Period:
    m = _QUARTER.match(value.strip())
    if not m:
        raise PeriodError(f"quarter must look like 2026Q3, got {value!r}", "quarter")
    year, q = int(m.group(1)), int(m.group(2))
    start = datetime(year, 3 * q - 2, 1, tzinfo=UTC)
    end = next_month(datetime(year, 3 * q, 1, tzinfo=UTC))
    return Period(start, end, f"{year}Q{q}")


def _year(value: str) -> Period:
    if not _YEAR.match(value.strip()):
        raise PeriodError(f"year must look like 2026, got {value!r}", "year")
    year = int(value)
    return Period(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC), str(year))


def _moment(value: str, param: str, *, end: bool) -> datetime:
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PeriodError(
            f"{param} must be a date (2026-10-01) or an ISO 8601 date-time, got {value!r}", param
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_period(
    *,
    start: str | None = None,
    end: str | None = None,
    month: str | None = None,
    quarter: str | None = None,
    year: str | None = None,
    now: datetime | None = None,
) -> Period:
    """One period from at most one of month / quarter / year / (from, to)."""
    given = [name for name, v in (("month", month), ("quarter", quarter), ("year", year))
             if v not in (None, "")]
    if start or end:
        given.append("from/to")
    if len(given) > 1:
        raise PeriodError(f"give one period, not {' and '.join(given)}", given[1].split("/")[0])
    if month:
        return _month(month)
    if quarter:
        return _quarter(quarter)
    if year:
        return _year(year)
    now = now or datetime.now(UTC)
    if start or end:
        lo = _moment(start, "from", end=False) if start else datetime(1970, 1, 1, tzinfo=UTC)
        hi = _moment(end, "to", end=True) if end else now
        if hi <= lo:
            raise PeriodError(f"'to' ({hi.isoformat()}) must be after 'from' ({lo.isoformat()})",
                              "to")
        return Period(lo, hi, f"{lo.isoformat()}/{hi.isoformat()}")
    here = month_start(now.date())
    return Period(here, next_month(here), f"{here:%Y-%m}")
