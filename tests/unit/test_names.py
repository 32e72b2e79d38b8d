"""Instrument names (FORMATS.md "Instruments"): parsing, formatting, and errors that name the bad part."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xmargin.core import InputError
from xmargin.instruments import Kind, format_name, parse_name


@pytest.mark.parametrize(
    ("name", "kind", "base", "quote", "inverse"),
    [
        ("BTC", Kind.SPOT, "BTC", None, False),
        ("BTC-PERPETUAL", Kind.PERPETUAL, "BTC", None, True),
        ("BTC_USDC-PERPETUAL", Kind.PERPETUAL, "BTC", "USDC", False),
        ("BTC-27DEC26", Kind.FUTURE, "BTC", None, True),
        ("BTC_USDC-27DEC26", Kind.FUTURE, "BTC", "USDC", False),
        ("BTC-27DEC26-100000-C", Kind.OPTION, "BTC", None, True),
        ("ETH_USDC-27DEC26-4000-P", Kind.OPTION, "ETH", "USDC", False),
    ],
)
def test_formats_md_table(name: str, kind: Kind, base: str, quote: str | None, inverse: bool) -> None:
    inst = parse_name(name)
    assert (inst.kind, inst.base, inst.quote, inst.inverse) == (kind, base, quote, inverse)
    assert format_name(inst) == name
    assert inst.settlement_asset() == (quote or base)


def test_expiry_is_0800_utc() -> None:
    assert parse_name("BTC-27DEC26").expiry == datetime(2026, 12, 27, 8, tzinfo=UTC)


def test_leading_zero_day_is_read_and_printed_without() -> None:
    assert parse_name("BTC-04JAN26") == parse_name("BTC-4JAN26")
    assert parse_name("BTC-04JAN26").name == "BTC-4JAN26"


def test_decimal_strike_with_d() -> None:
    inst = parse_name("XRP_USDC-27DEC26-0d625-C")
    assert inst.strike_usd == 0.625
    assert inst.name == "XRP_USDC-27DEC26-0d625-C"


@pytest.mark.parametrize(
    ("name", "part"),
    [
        ("BTC-31FEB26", "31FEB26"),  # no 31 February
        ("BTC-27DEC26-abc-C", "abc"),  # strike not a number
        ("btc-perpetual", "btc"),  # lower-case coin
        ("BTC-27DEC26-100000-X", "X"),  # neither C nor P
        ("BTC-27XYZ26", "XYZ"),  # unknown month
        ("BTC-27DEC26-100000", "3 dash-separated parts"),
        ("BTC-27DEC26-0-C", "0"),  # zero strike
    ],
)
def test_bad_names_quote_the_name_and_the_part(name: str, part: str) -> None:
    with pytest.raises(InputError) as info:
        parse_name(name)
    message = str(info.value)
    assert repr(name) in message
    assert part in message
    assert isinstance(info.value, ValueError)
