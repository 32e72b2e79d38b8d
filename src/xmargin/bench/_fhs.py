"""The ``fhs`` model's speed against ``pm`` measured in the same run (issue 13's targets):

- ``book``: every account of a uniform book (``bench.uniform_book``, the shipped Deribit snapshot) margined
  by ``fhs`` (≥ 1,000 historical days) and by ``pm``, best of ``repeats``; ``ratio = fhs / pm`` (target ≤ 10);
  its stages: ``fhs_prepare_seconds`` (scenarios and the PnL of every instrument in them) and
  ``fhs_charge_seconds`` (the requirement given the prepared value: ``Q @ PnL`` fused with the ES scan);
- ``whatif``: one 20-position account after a trade, the model's prepared value held (the pre-trade check),
  p50 / p99 in ms (target p99 ≤ 5 ms);
- ``backtest``: a 13-year daily backtest (horizon 1 day) of one BTC perpetual (target ≤ 10 s).
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np

from xmargin.bench._book import _best, uniform_book
from xmargin.bench._whatif import _account
from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import FhsMargin, PortfolioMargin
from xmargin.market import DEMO_SNAPSHOT, load_deribit_chain, load_history, shipped_chain_path
from xmargin.risk import Book, Trade, apply_trades
from xmargin.sim import BacktestConfig, backtest


def bench_fhs(
    accounts: int = 100_000, *, positions: int = 20, repeats: int = 2, calls: int = 1000, seed: int = 0
) -> dict[str, object]:
    """The three measures of the module docstring, with the reference ``pm`` timed in the same run."""
    market = load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)
    history = load_history("crypto-daily")
    fhs = FhsMargin(history=history)
    pm = PortfolioMargin()
    out: dict[str, object] = {"accounts": accounts, "positions_per_account": positions}
    if accounts > 0:
        book = uniform_book(market, accounts, positions, seed=seed)
        pm.requirement(book, market, detail=False)
        pm_s = _best(lambda: pm.requirement(book, market.replace(), detail=False), repeats)
        fhs_s = _best(lambda: fhs.requirement(book, market.replace(), detail=False), repeats)
        # the two stages of that time: the scenario set and its PnL (prepare), then the charge
        prepare_s = _best(lambda: fhs.prepare(book.columns, market.replace()), repeats)
        prep = fhs.prepare(book.columns, market)
        charge_s = _best(lambda: fhs.requirement(book, market, detail=False, prepared=prep), repeats)
        assert prep.scenarios is not None
        out |= {
            "historical_days": len(np.unique(prep.scenarios.end_row)),
            "scenarios": len(prep.scenarios),
            "pm_seconds": pm_s,
            "fhs_seconds": fhs_s,
            "fhs_prepare_seconds": prepare_s,
            "fhs_charge_seconds": charge_s,
            "seconds": fhs_s,
            "ratio": fhs_s / pm_s,
        }
    # what-if: the caller holds the prepared value for the account's columns on this market
    account = _account(seed)
    trade = [Trade(parse_name("BTC-PERPETUAL"), 0.5, 63_000.0)]
    columns = Book.from_portfolio(apply_trades(account, trade, market)).columns
    prepared = fhs.prepare(columns, market)
    samples = np.empty(calls)
    for i in range(-20, calls):
        start = time.perf_counter()
        after = Book.from_portfolio(apply_trades(account, trade, market), columns=columns)
        fhs.requirement(after, market, detail=False, prepared=prepared)
        if i >= 0:
            samples[i] = time.perf_counter() - start
    out["whatif_p50_ms"] = float(np.median(samples) * 1e3)
    out["whatif_p99_ms"] = float(np.quantile(samples, 0.99) * 1e3)
    # a 13-year daily backtest of one perpetual
    pf = Portfolio("bench", {"USDC": 1e6}, (Position(parse_name("BTC_USDC-PERPETUAL"), 1.0),))
    start = time.perf_counter()
    report, _ = backtest(pf, fhs, history, BacktestConfig(horizon_days=1, start=date(2013, 1, 1)))
    out["backtest_seconds"] = time.perf_counter() - start
    out["backtest_observations"] = report.observations
    if "ratio" not in out:
        out["seconds"] = out["backtest_seconds"]
        out["ratio"] = float(out["whatif_p99_ms"]) / 5.0  # type: ignore[arg-type]
    return out


__all__ = ["bench_fhs"]
