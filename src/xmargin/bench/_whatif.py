"""Latency of a single-account what-if under ``pm``: a 20-position BTC+ETH account on the shipped Deribit chain.

Measured per call, after a warm-up:
- ``warm``: the account after a proposed trade, on a market already seen (the model's prepared state, i.e.
  the PnL matrix of these columns, is cached): what a pre-trade check pays;
- ``cold``: the same with a fresh market object each time, so resolve, scenario build and Black-76 repricing
  of the whole scenario grid run again (the reference measured in the same run).
"""

from __future__ import annotations

import time

import numpy as np

from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import PortfolioMargin
from xmargin.market import DEMO_SNAPSHOT, load_deribit_chain, shipped_chain_path
from xmargin.risk import Book, Trade, apply_trades


def _account(seed: int) -> Portfolio:
    market = load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)
    btc = sorted(n for n in market.option_iv if n.startswith(("BTC-27MAR26-", "BTC-26JUN26-")))
    rng = np.random.default_rng(seed)
    names = [str(x) for x in rng.choice(btc, 15, replace=False)]
    names += ["BTC-PERPETUAL", "BTC-27MAR26", "ETH-PERPETUAL", "ETH-27MAR26-2000-C", "ETH-27MAR26-1600-P"]
    sizes = rng.normal(0.0, 2.0, len(names))
    return Portfolio(
        "bench",
        {"BTC": 2.0, "USDC": 50_000.0},
        tuple(Position(parse_name(n), float(q)) for n, q in zip(names, sizes, strict=True)),
    )


def bench_whatif(*, calls: int = 2000, seed: int = 0) -> dict[str, object]:
    """p50 / p99 latency (ms) of one what-if requirement, warm and cold, and their ratio."""
    market = load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)
    account = _account(seed)
    trade = [Trade(parse_name("BTC-PERPETUAL"), 0.5, 63_000.0)]
    model = PortfolioMargin()
    # warm: the caller holds the model's prepared value for the account's columns on this market
    columns = Book.from_portfolio(apply_trades(account, trade, market)).columns
    prepared = model.prepare(columns, market)

    def warm() -> None:
        after = Book.from_portfolio(apply_trades(account, trade, market), columns=columns)
        model.requirement(after, market, detail=False, prepared=prepared)

    def cold() -> None:
        fresh = market.replace()
        model.requirement(Book.from_portfolio(apply_trades(account, trade, fresh)), fresh, detail=False)

    out: dict[str, object] = {"positions": len(account.positions), "model": "pm", "calls": calls}
    for name, fn, n in (("warm", warm, calls), ("cold", cold, max(calls // 10, 50))):
        for _ in range(20):
            fn()
        samples = np.empty(n)
        for i in range(n):
            start = time.perf_counter()
            fn()
            samples[i] = time.perf_counter() - start
        out[f"{name}_p50_ms"] = float(np.median(samples) * 1e3)
        out[f"{name}_p99_ms"] = float(np.quantile(samples, 0.99) * 1e3)
    out["seconds"] = float(out["warm_p50_ms"]) / 1e3  # type: ignore[arg-type]
    out["ratio"] = float(out["warm_p50_ms"]) / float(out["cold_p50_ms"])  # type: ignore[arg-type]
    return out
