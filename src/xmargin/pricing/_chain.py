"""How well Black-76 reproduces a venue's option marks: the check behind ``xmargin demo``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from xmargin.instruments import parse_name
from xmargin.market import DeribitChain
from xmargin.pricing._black import black76_price

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True)
class ChainFit:
    """Per-option model coin price next to the venue's mark, and a per-expiry summary."""

    options: pd.DataFrame
    """columns: currency, expiry_key, instrument_name, t_years, mark_price_coin, model_price_coin,
    abs_err_coin"""
    by_expiry: pd.DataFrame
    """columns: currency, expiry_key, t_years, count, median_abs_err_coin, max_abs_err_coin"""


def fit_chain(chain: DeribitChain) -> ChainFit:
    """Price every option of the chain from its own mark IV and its expiry's forward; compare in coin."""
    import pandas as pd

    market = chain.market
    rows = chain.rows[chain.rows["mark_iv"] > 0]
    insts = [parse_name(str(n)) for n in rows["instrument_name"]]
    f, k, t, v, c = market.option_inputs(insts)
    usd = black76_price(forward=f, strike=k, t_years=t, vol=v, is_call=c, rate=market.rate)
    model = usd / f
    mark = rows["mark_price_coin"].to_numpy(dtype=np.float64)
    options = pd.DataFrame(
        {
            "currency": rows["currency"].to_numpy(),
            "expiry_key": rows["expiry_key"].to_numpy(),
            "instrument_name": rows["instrument_name"].to_numpy(),
            "t_years": t,
            "mark_price_coin": mark,
            "model_price_coin": model,
            "abs_err_coin": np.abs(model - mark),
        }
    )
    grouped = options.groupby(["currency", "expiry_key"], sort=False)
    by_expiry = grouped.agg(
        t_years=("t_years", "first"),
        count=("abs_err_coin", "size"),
        median_abs_err_coin=("abs_err_coin", "median"),
        max_abs_err_coin=("abs_err_coin", "max"),
    ).reset_index()
    by_expiry = by_expiry.sort_values(["currency", "t_years"]).reset_index(drop=True)
    return ChainFit(options=options, by_expiry=by_expiry)
