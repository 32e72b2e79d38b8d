"""Time: UTC datetimes, year fractions (ACT/365) and a clock seam."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from xmargin.core._errors import InputError

SECONDS_PER_YEAR = 365.0 * 86400.0
"""Year fractions are ACT/365 (FORMATS.md: "T is in years of 365 days")."""


def year_fraction(start: datetime, end: datetime) -> float:
    """Years of 365 days from ``start`` to ``end`` (negative if ``end`` is earlier)."""
    return (end - start).total_seconds() / SECONDS_PER_YEAR


def parse_utc(text: object, *, where: str) -> datetime:
    """Parse an ISO-8601 timestamp that carries a UTC offset; a naive timestamp is bad input."""
    if isinstance(text, datetime):
        value = text
    elif isinstance(text, str):
        try:
            value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                where=where, expected="an ISO-8601 timestamp such as 2026-11-25T08:00:00Z", found=text
            ) from None
    else:
        raise InputError(where=where, expected="an ISO-8601 timestamp string", found=text)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            where=where, expected="a timestamp with a time zone (e.g. ending in Z)", found=str(text)
        )
    return value.astimezone(UTC)


class Clock(Protocol):
    """Where the current time comes from; passed in, never global."""

    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class FixedClock:
    """A clock stopped at one instant (tests, replays)."""

    at: datetime

    def now(self) -> datetime:
        return self.at


class SystemClock:
    """The machine's UTC clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)
