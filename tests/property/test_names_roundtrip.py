"""Hypothesis: every well-formed instrument formats to a name that parses back to itself."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from xmargin.instruments import Instrument, Kind, format_name, parse_name

coins = st.from_regex(r"[A-Z][A-Z0-9]{0,5}", fullmatch=True)
quotes = st.one_of(st.none(), st.sampled_from(["USDC", "USDT"]))
expiries = st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2099, 12, 31).date()).map(
    lambda d: datetime(d.year, d.month, d.day, 8, tzinfo=UTC)
)
strikes = st.one_of(
    st.integers(1, 10_000_000).map(float),
    st.decimals(min_value="0.001", max_value="1000", places=3).map(float).filter(lambda x: x > 0),
    st.floats(min_value=1e-9, max_value=1e-3),  # tiny strikes printed with an exponent by repr: 1e-05
)


@st.composite
def instruments(draw: st.DrawFn) -> Instrument:
    kind = draw(st.sampled_from(list(Kind)))
    base = draw(coins)
    if kind is Kind.SPOT:
        return Instrument(kind, base)
    quote = draw(quotes)
    if kind is Kind.PERPETUAL:
        return Instrument(kind, base, quote)
    if kind is Kind.FUTURE:
        return Instrument(kind, base, quote, expiry=draw(expiries))
    return Instrument(
        kind, base, quote, expiry=draw(expiries), strike_usd=draw(strikes), is_call=draw(st.booleans())
    )


@given(instruments())
def test_format_then_parse_is_identity(inst: Instrument) -> None:
    name = format_name(inst)
    assert parse_name(name) == inst
    assert format_name(parse_name(name)) == name


@given(instruments(), st.integers(0, 23).filter(lambda h: h != 8), st.integers(0, 59))
def test_an_expiry_at_another_hour_is_bad_input(inst: Instrument, hour: int, minute: int) -> None:
    """Issue 12 #2: an expiry at another hour than 08:00 UTC was accepted and its name dropped the hour, so
    ``parse_name(format_name(inst)) != inst`` and the position was charged as flat. Now bad input."""
    import pytest

    from xmargin.core import InputError

    if inst.expiry is None:
        return
    with pytest.raises(InputError, match="08:00 UTC"):
        Instrument(
            inst.kind,
            inst.base,
            inst.quote,
            expiry=inst.expiry.replace(hour=hour, minute=minute),
            strike_usd=inst.strike_usd,
            is_call=inst.is_call,
        )
