"""Builders of example portfolios and a small synthetic market, for tests, docs and the conformance suite.

Every builder takes a ``MarketSnapshot`` and picks its instruments from that market: the expiries listed in
it (futures marks, option IVs, explicit forwards), and, where the market lists options (a Deribit chain),
the listed strike nearest the target; otherwise a round strike. So the same builders work on
``example_market()`` and on a real chain snapshot.

>>> m = example_market()
>>> [p.instrument.name for p in naked_short_call(m).positions]
['BTC-27DEC26-105000-C']
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from xmargin.core import InputError
from xmargin.instruments import Instrument, Kind, Portfolio, Position, parse_expiry, parse_name
from xmargin.market import MarketSnapshot
from xmargin.pricing import black76
from xmargin.risk import Book

VALUATION_TIME = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
MIN_LISTED = 3
"""Strikes a market must list for an expiry to count as a chain (one ``option_iv`` override does not)."""


def example_market() -> MarketSnapshot:
    """A small synthetic market: BTC 95,000, ETH 3,500, USDC 1 at 2026-11-25 08:00 UTC.

    Futures marks for the 27DEC26 and 26MAR27 expiries and the perpetuals; flat vols BTC 55%, ETH 65%;
    one option IV override (``BTC-27DEC26-100000-C`` 58%); rate 0.
    """
    return MarketSnapshot(
        valuation_time=VALUATION_TIME,
        index_usd={"BTC": 95000.0, "ETH": 3500.0, "USDC": 1.0},
        marks_usd={
            "BTC-PERPETUAL": 95010.0,
            "BTC-27DEC26": 95400.0,
            "BTC-26MAR27": 96900.0,
            "ETH-PERPETUAL": 3501.5,
            "ETH-27DEC26": 3513.0,
            "ETH-26MAR27": 3561.0,
        },
        vol={"BTC": 0.55, "ETH": 0.65},
        option_iv={"BTC-27DEC26-100000-C": 0.58},
        rate=0.0,
        source="xmargin.testing.books.example_market",
    )


# -- picking instruments from a market ------------------------------------------------------------------
def _listed(market: MarketSnapshot) -> list[Instrument]:
    out: list[Instrument] = []
    for name in (*market.marks_usd, *market.option_iv):
        try:
            out.append(parse_name(name))
        except InputError:
            continue
    return out


def expiries(market: MarketSnapshot, underlying: str) -> tuple[datetime, ...]:
    """Expiries of ``underlying`` listed in ``market`` and still to come, earliest first."""
    found = {i.expiry for i in _listed(market) if i.base == underlying and i.expiry is not None}
    for key in market.forwards_usd:
        base, _, date = key.partition("-")
        if base == underlying:
            try:
                found.add(parse_expiry(date, key))
            except InputError:
                continue
    return tuple(sorted(e for e in found if e is not None and e > market.valuation_time))


def _expiry(market: MarketSnapshot, underlying: str, which: int) -> datetime:
    listed = expiries(market, underlying)
    if len(listed) <= which:
        raise InputError(
            where=f"market {market.source or ''}".strip(),
            expected=f"at least {which + 1} listed expiries of {underlying}",
            found=len(listed),
        )
    return listed[which]


def _round_strike(x: float) -> float:
    """``x`` rounded to a 1-2-5 step of about 5% of it (104,940 -> 105,000; 3,153 -> 3,200)."""
    unit = 10.0 ** math.floor(math.log10(x / 20.0))
    step = max(m * unit for m in (1.0, 2.0, 5.0) if m * unit <= x / 20.0)
    return max(step, round(x / step) * step)


def option(
    market: MarketSnapshot,
    underlying: str,
    expiry: datetime,
    *,
    moneyness: float,
    is_call: bool,
    linear: bool = False,
) -> Instrument:
    """The option of ``expiry`` with strike nearest ``moneyness × forward``: a listed strike where the market
    lists a chain for that expiry (``MIN_LISTED`` strikes or more), else a round one."""
    quote = "USDC" if linear else None
    probe = Instrument(Kind.OPTION, underlying, quote, expiry, 1.0, is_call)
    target = moneyness * market.forward(probe)
    listed = sorted(
        {
            i.strike_usd
            for i in _listed(market)
            if i.kind is Kind.OPTION
            and i.base == underlying
            and i.expiry == expiry
            and i.strike_usd is not None
        }
    )
    strike = (
        min(listed, key=lambda k: abs(k - target)) if len(listed) >= MIN_LISTED else _round_strike(target)
    )
    return Instrument(Kind.OPTION, underlying, quote, expiry, strike, is_call)


def future(underlying: str, expiry: datetime | None = None, *, linear: bool = False) -> Instrument:
    """A dated future, or the perpetual when ``expiry`` is None."""
    quote = "USDC" if linear else None
    if expiry is None:
        return Instrument(Kind.PERPETUAL, underlying, quote)
    return Instrument(Kind.FUTURE, underlying, quote, expiry)


def delta(market: MarketSnapshot, inst: Instrument) -> float:
    """Black-76 delta of the option's USD value per coin (the hedge ratio in coin of a linear future)."""
    assert inst.strike_usd is not None, inst
    g = black76(
        forward=market.forward(inst),
        strike=inst.strike_usd,
        t_years=market.t_years(inst),
        vol=market.implied_vol(inst),
        is_call=bool(inst.is_call),
        rate=market.rate,
    )
    return float(g.delta)


def _hedge(x: float) -> float:
    return round(x, 2)


# -- the example portfolios -----------------------------------------------------------------------------
def naked_short_call(
    market: MarketSnapshot, *, underlying: str = "BTC", size: float = 1.0, account: str = "naked_short_call"
) -> Portfolio:
    """Short an OTM call (strike ≈ 1.1 × forward) of the nearest expiry, backed by 0.3 coin per coin."""
    call = option(market, underlying, _expiry(market, underlying, 0), moneyness=1.1, is_call=True)
    return Portfolio(account, {underlying: 0.3 * size}, (Position(call, -size),))


def hedged_call(
    market: MarketSnapshot, *, underlying: str = "BTC", size: float = 1.0, account: str = "hedged_call"
) -> Portfolio:
    """Long an OTM call (≈ 1.05 × forward), delta-hedged with the future of the same expiry."""
    exp = _expiry(market, underlying, 0)
    call = option(market, underlying, exp, moneyness=1.05, is_call=True)
    hedge = _hedge(-delta(market, call) * size)
    return Portfolio(
        account, {underlying: 0.5 * size}, (Position(call, size), Position(future(underlying, exp), hedge))
    )


def covered_call(
    market: MarketSnapshot, *, underlying: str = "BTC", size: float = 1.0, account: str = "covered_call"
) -> Portfolio:
    """Hold one coin per coin of a short OTM call (≈ 1.1 × forward) of the nearest expiry."""
    call = option(market, underlying, _expiry(market, underlying, 0), moneyness=1.1, is_call=True)
    return Portfolio(account, {underlying: size}, (Position(call, -size),))


def calendar_spread(
    market: MarketSnapshot, *, underlying: str = "BTC", size: float = 1.0, account: str = "calendar_spread"
) -> Portfolio:
    """Short the near ATM call, long the far call of the same strike; USDC collateral."""
    near = option(market, underlying, _expiry(market, underlying, 0), moneyness=1.0, is_call=True)
    far_exp = _expiry(market, underlying, 1)
    assert near.strike_usd is not None
    far = Instrument(Kind.OPTION, underlying, None, far_exp, near.strike_usd, True)
    usd = 0.05 * size * market.index(underlying)
    return Portfolio(account, {"USDC": usd}, (Position(near, -size), Position(far, size)))


def short_straddle_delta_hedged(
    market: MarketSnapshot,
    *,
    underlying: str = "BTC",
    size: float = 1.0,
    account: str = "short_straddle_delta_hedged",
) -> Portfolio:
    """Short the ATM call and put of the nearest expiry, delta-hedged with the perpetual."""
    exp = _expiry(market, underlying, 0)
    call = option(market, underlying, exp, moneyness=1.0, is_call=True)
    assert call.strike_usd is not None
    put = Instrument(Kind.OPTION, underlying, None, exp, call.strike_usd, False)
    hedge = _hedge((delta(market, call) + delta(market, put)) * size)
    return Portfolio(
        account,
        {underlying: 0.5 * size},
        (Position(call, -size), Position(put, -size), Position(future(underlying), hedge)),
    )


def multi_asset(market: MarketSnapshot, *, size: float = 1.0, account: str = "multi_asset") -> Portfolio:
    """BTC and ETH, linear and inverse, futures with entry prices (a profit and a loss), long and short
    options, and three collateral assets."""
    btc_far = _expiry(market, "BTC", len(expiries(market, "BTC")) - 1)
    eth_near = _expiry(market, "ETH", 0)
    btc, eth = market.index("BTC"), market.index("ETH")
    return Portfolio(
        account,
        {"BTC": 0.5 * size, "ETH": 5.0 * size, "USDC": 20000.0 * size},
        (
            Position(future("BTC", linear=True), 0.5 * size, round(0.95 * btc, 2)),  # bought lower: a profit
            Position(future("ETH"), -5.0 * size, round(0.97 * eth, 2)),  # sold lower: a loss
            Position(
                option(market, "ETH", eth_near, moneyness=0.9, is_call=False, linear=True), -10.0 * size
            ),
            Position(option(market, "BTC", btc_far, moneyness=1.2, is_call=True), 2.0 * size),
        ),
    )


BUILDERS = (
    naked_short_call,
    hedged_call,
    covered_call,
    calendar_spread,
    short_straddle_delta_hedged,
    multi_asset,
)


def example_portfolios(market: MarketSnapshot | None = None) -> tuple[Portfolio, ...]:
    """One portfolio per builder (account = the builder's name) on ``market`` (default: the example)."""
    m = market if market is not None else example_market()
    return tuple(build(m) for build in BUILDERS)


def example_book(market: MarketSnapshot | None = None) -> Book:
    """``example_portfolios`` as one book, one account each."""
    return Book.from_portfolios(example_portfolios(market))
