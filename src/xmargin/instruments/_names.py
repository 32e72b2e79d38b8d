"""Deribit-style instrument names (FORMATS.md), parsed and formatted so that they round-trip.

Grammar::

    name     := spot | perp | future | option
    spot     := COIN                                  BTC
    perp     := root "-PERPETUAL"                     BTC-PERPETUAL, BTC_USDC-PERPETUAL
    future   := root "-" date                         BTC-27DEC26
    option   := root "-" date "-" strike "-" (C|P)    BTC-27DEC26-100000-C, XRP_USDC-27DEC26-0d625-C
    root     := COIN | COIN "_" COIN                  inverse | linear (settles in the second coin)
    date     := D?D MMM YY                            expiry at 08:00 UTC on that date
    strike   := digits, with "d" as the decimal point

The day may carry a leading zero on input (``BTC-04JAN26``) and is printed without one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from xmargin.core import InputError
from xmargin.instruments._types import EXPIRY_HOUR_UTC, Instrument, Kind

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

_COIN = re.compile(r"[A-Z][A-Z0-9]{0,14}")
_DATE = re.compile(r"(\d{1,2})([A-Za-z]{3})(\d{2})")
_STRIKE = re.compile(r"\d+(d\d+)?")


def _coin(text: str, name: str, part: str) -> str:
    if not _COIN.fullmatch(text):
        raise InputError(
            where=f"instrument {name!r}", expected=f"{part} as an upper-case coin code like BTC", found=text
        )
    return text


def _root(text: str, name: str) -> tuple[str, str | None]:
    if "_" in text:
        base, _, quote = text.partition("_")
        return _coin(base, name, "base coin"), _coin(quote, name, "settlement coin after '_'")
    return _coin(text, name, "base coin"), None


def parse_expiry(text: str, name: str = "") -> datetime:
    """Parse ``27DEC26`` into 2026-12-27 08:00 UTC."""
    where = f"instrument {name!r}" if name else "expiry"
    m = _DATE.fullmatch(text)
    if m is None:
        raise InputError(where=where, expected="expiry date as DMMMYY like 27DEC26", found=text)
    day, mon, yy = int(m.group(1)), m.group(2), int(m.group(3))
    if mon not in MONTHS:
        raise InputError(
            where=where, expected=f"expiry month as one of {'/'.join(MONTHS)} (upper case)", found=mon
        )
    try:
        return datetime(2000 + yy, MONTHS.index(mon) + 1, day, EXPIRY_HOUR_UTC, tzinfo=UTC)
    except ValueError:
        raise InputError(where=where, expected="expiry as a real calendar date", found=text) from None


@lru_cache(maxsize=4096)
def format_expiry(expiry: datetime) -> str:
    """``2026-12-27 08:00 UTC`` -> ``27DEC26`` (no leading zero on the day)."""
    return f"{expiry.day}{MONTHS[expiry.month - 1]}{expiry.year % 100:02d}"


def _parse_strike(text: str, name: str) -> float:
    if not _STRIKE.fullmatch(text):
        raise InputError(
            where=f"instrument {name!r}",
            expected="strike as digits with 'd' as decimal point (100000, 0d625)",
            found=text,
        )
    value = float(text.replace("d", "."))
    if value <= 0:
        raise InputError(where=f"instrument {name!r}", expected="strike > 0", found=text)
    return value


def format_strike(strike_usd: float) -> str:
    """``100000.0`` -> ``100000``; ``0.625`` -> ``0d625``; ``1e-05`` -> ``0d00001`` (never an exponent, which
    no name can hold)."""
    if float(strike_usd).is_integer():
        return str(int(strike_usd))
    text = format(Decimal(repr(float(strike_usd))), "f")
    return text.replace(".", "d")


@lru_cache(maxsize=65536)
def parse_name(name: str) -> Instrument:
    """Parse an instrument name; a name that does not parse raises ``InputError`` naming the bad part."""
    if not isinstance(name, str) or not name:
        raise InputError(where="instrument", expected="an instrument name like BTC-PERPETUAL", found=name)
    parts = name.strip().split("-")
    if len(parts) == 1:
        base, quote = _root(parts[0], name)
        if quote is not None:
            raise InputError(
                where=f"instrument {name!r}", expected="a spot asset as a bare coin code like BTC", found=name
            )
        return Instrument(Kind.SPOT, base)
    base, quote = _root(parts[0], name)
    if len(parts) == 2:
        if parts[1] == "PERPETUAL":
            return Instrument(Kind.PERPETUAL, base, quote)
        if parts[1].upper() == "PERPETUAL":
            raise InputError(where=f"instrument {name!r}", expected="PERPETUAL in upper case", found=parts[1])
        return Instrument(Kind.FUTURE, base, quote, expiry=parse_expiry(parts[1], name))
    if len(parts) == 4:
        expiry = parse_expiry(parts[1], name)
        strike = _parse_strike(parts[2], name)
        if parts[3] not in ("C", "P"):
            raise InputError(where=f"instrument {name!r}", expected="option type C or P", found=parts[3])
        return Instrument(Kind.OPTION, base, quote, expiry=expiry, strike_usd=strike, is_call=parts[3] == "C")
    raise InputError(
        where=f"instrument {name!r}",
        expected="COIN, COIN-PERPETUAL, COIN-DMMMYY or COIN-DMMMYY-STRIKE-C|P",
        found=f"{len(parts)} dash-separated parts",
    )


@lru_cache(maxsize=65536)
def format_name(inst: Instrument) -> str:
    """The canonical name of an instrument (inverse of :func:`parse_name`)."""
    root = inst.base if inst.quote is None else f"{inst.base}_{inst.quote}"
    if inst.kind is Kind.SPOT:
        return inst.base
    if inst.kind is Kind.PERPETUAL:
        return f"{root}-PERPETUAL"
    assert inst.expiry is not None
    if inst.kind is Kind.FUTURE:
        return f"{root}-{format_expiry(inst.expiry)}"
    assert inst.strike_usd is not None
    return (
        f"{root}-{format_expiry(inst.expiry)}-{format_strike(inst.strike_usd)}-{'C' if inst.is_call else 'P'}"
    )
