"""Valuing named instruments in a ``MarketSnapshot``: the ``xmargin price`` computation.

Options: Black-76 on the expiry's forward at the option's vol (see ``MarketSnapshot.implied_vol``). The
premium is quoted in the settlement asset: coin for inverse options (``price_usd / F``), the quote coin
for linear ones (``price_usd / index(quote)``). Futures and perpetuals are valued at their mark
(delta 1 per coin, no gamma, vega or theta); spot assets at their index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xmargin.instruments import Instrument, Kind
from xmargin.market import MarketSnapshot
from xmargin.pricing._black import black76


@dataclass(frozen=True, slots=True)
class Valuation:
    """Value and Greeks of one instrument per coin of size. Greeks are of ``price_usd``."""

    instrument: Instrument
    price: float
    price_currency: str
    price_usd: float
    iv: float | None
    forward: float
    delta: float
    gamma: float
    vega: float
    theta: float

    def as_dict(self) -> dict[str, float | str | None]:
        return {
            "price": self.price,
            "price_currency": self.price_currency,
            "price_usd": self.price_usd,
            "iv": self.iv,
            "forward": self.forward,
            "delta": self.delta,
            "gamma": self.gamma,
            "vega": self.vega,
            "theta": self.theta,
        }


def value_instruments(instruments: Sequence[Instrument], market: MarketSnapshot) -> list[Valuation]:
    """Value every instrument; options are priced in one vectorised call."""
    opts = [i for i in instruments if i.kind is Kind.OPTION]
    by_option: dict[Instrument, Valuation] = {}
    if opts:
        f, k, t, v, c = market.option_inputs(opts)
        g = black76(forward=f, strike=k, t_years=t, vol=v, is_call=c, rate=market.rate)
        for j, inst in enumerate(opts):
            usd = float(g.price[j])
            ccy = inst.settlement_asset()
            price = usd / float(f[j]) if inst.inverse else usd / market.index_usd.get(ccy, 1.0)
            by_option[inst] = Valuation(
                inst,
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
    out: list[Valuation] = []
    for inst in instruments:
        if inst.kind is Kind.OPTION:
            out.append(by_option[inst])
            continue
        mark = market.mark(inst)
        ccy = "USD" if inst.kind is not Kind.SPOT else inst.base
        price = mark if inst.kind is not Kind.SPOT else 1.0
        out.append(Valuation(inst, price, ccy, mark, None, mark, 1.0, 0.0, 0.0, 0.0))
    return out
