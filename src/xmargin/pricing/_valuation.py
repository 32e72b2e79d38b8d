"""Valuing named instruments in a ``MarketSnapshot``: the ``xmargin price`` computation.

Options: Black-76 on the expiry's forward at the option's vol (see ``MarketSnapshot.forward`` and
``.implied_vol``). The premium is quoted in the settlement asset: coin for inverse options
(``price_usd / F``), the quote coin for linear ones (``price_usd / index(quote)``). Futures and perpetuals
are valued at their mark (delta 1 per coin, no gamma, vega or theta); spot assets at their index.

An instrument expired at or before the market's time is bad input (it has no price to give); an
assumption made on the way (an interpolated forward, an option off its chain, a defaulted stablecoin
index) is named in ``warnings``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from xmargin.core import SCHEMA_VERSION, InputError, InputErrors
from xmargin.instruments import Instrument, Kind
from xmargin.market import MarketSnapshot
from xmargin.pricing._black import black76


@dataclass(frozen=True, slots=True)
class Valuation:
    """Value and Greeks of one instrument per coin of size. Greeks are of ``price_usd``."""

    price: float
    price_currency: str
    price_usd: float
    iv: float | None
    forward: float
    delta: float
    gamma: float
    vega: float
    theta: float


@dataclass(frozen=True, slots=True)
class PriceReport:
    """``xmargin price --json`` (FORMATS.md): every instrument by name, at ``valuation_time``."""

    valuation_time: datetime
    instruments: Mapping[str, Valuation]
    warnings: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION


def _check_priceable(instruments: Sequence[Instrument], market: MarketSnapshot) -> None:
    errors = []
    for inst in instruments:
        for asset in sorted({inst.base, inst.settlement_asset()}):
            if not market.has_index(asset):
                errors.append(
                    InputError(
                        where=inst.name, expected=f"an index price for {asset} in the market", found="none"
                    )
                )
        if inst.expiry is not None and inst.expiry <= market.valuation_time:
            errors.append(
                InputError(
                    where=inst.name,
                    expected=f"an instrument not expired at the market time {market.valuation_time:%Y-%m-%d %H:%M}Z",
                    found=f"expired {inst.expiry:%Y-%m-%d %H:%M}Z",
                )
            )
    if errors:
        raise InputErrors(errors)


def value_instruments(instruments: Sequence[Instrument], market: MarketSnapshot) -> PriceReport:
    """Value every instrument; options are priced in one vectorised call."""
    _check_priceable(instruments, market)
    opts = [i for i in instruments if i.kind is Kind.OPTION]
    by_option: dict[Instrument, Valuation] = {}
    notes: list[str] = market.index_notes({a for i in instruments for a in (i.base, i.settlement_asset())})
    if opts:
        f, k, t, v, c = market.option_inputs(opts)
        g = black76(forward=f, strike=k, t_years=t, vol=v, is_call=c, rate=market.rate)
        for j, inst in enumerate(opts):
            usd = float(g.price[j])
            ccy = inst.settlement_asset()
            price = usd / float(f[j]) if inst.inverse else usd / market.index(ccy)
            by_option[inst] = Valuation(
                price,
                ccy,
                usd,
                float(v[j]),
                float(f[j]),
                float(g.delta[j]),
                float(g.gamma[j]),
                float(g.vega[j]),
                float(g.theta[j]),
            )
    out: dict[str, Valuation] = {}
    for inst in instruments:
        for note in (market.forward_note(inst), market.vol_note(inst)):
            if note is not None:
                notes.append(note)
        if inst.kind is Kind.OPTION:
            out[inst.name] = by_option[inst]
            continue
        mark = market.mark(inst)
        ccy = "USD" if inst.kind is not Kind.SPOT else inst.base
        price = mark if inst.kind is not Kind.SPOT else 1.0
        out[inst.name] = Valuation(price, ccy, mark, None, mark, 1.0, 0.0, 0.0, 0.0)
    return PriceReport(market.valuation_time, out, tuple(dict.fromkeys(notes)))
