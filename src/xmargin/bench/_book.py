"""Whole-book benchmark: every account's pm margin at once, against the bare ``Q @ PnL`` product.

The book: ``accounts`` accounts × ``positions`` random distinct instruments each (Pareto sizes, random
sign) out of ~1,000 instruments of the shipped Deribit snapshot (options, futures, perpetuals of BTC and
ETH), plus USDC collateral. Measured in one run, best of ``repeats``:

- ``seconds``: a full ``pm`` recompute on a fresh market object (resolve, scenario build, Black-76
  repricing of every instrument in every scenario, the fused per-group scan, the charge);
- ``bare_seconds``: ``Q @ PnL`` alone, the sparse × dense product with the same PnL matrix;
  ``ratio = seconds / bare_seconds``;
- ``tick_seconds``: one underlying's price tick through ``BookEngine`` (only its columns repriced, only its
  holders recomputed);
- ``bytes_per_account``: the book's sparse matrices and the engine's per-account state, divided by accounts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from xmargin.engine import BookEngine, market_instruments
from xmargin.instruments import Instrument, Kind
from xmargin.margin import PortfolioMargin
from xmargin.market import DEMO_SNAPSHOT, MarketSnapshot, load_deribit_chain, shipped_chain_path
from xmargin.risk import Book

N_INSTRUMENTS = 1000


def uniform_book(
    market: MarketSnapshot,
    accounts: int,
    positions: int,
    *,
    seed: int = 0,
    n_instruments: int = N_INSTRUMENTS,
) -> Book:
    """``accounts`` × ``positions`` distinct random instruments (of ``n_instruments``) and USDC collateral."""
    rng = np.random.default_rng(seed)
    pool = market_instruments(market)
    keep = sorted(rng.choice(len(pool), min(n_instruments, len(pool)), replace=False))
    derivs: list[Instrument] = [pool[i] for i in keep]
    instruments = (*derivs, Instrument(Kind.SPOT, "USDC"))
    n, k = len(derivs), min(positions, len(derivs))
    # k distinct columns per row without a loop over accounts: start + j·stride (mod n) with the stride
    # coprime to n visits k different columns
    strides = np.array([s for s in range(1, n) if np.gcd(s, n) == 1])
    start = rng.integers(0, n, (accounts, 1))
    stride = rng.choice(strides, (accounts, 1))
    cols = np.sort((start + np.arange(k)[None, :] * stride) % n, axis=1)
    sizes = (rng.pareto(1.5, (accounts, k)) + 1.0) * rng.choice([-0.1, 0.1], (accounts, k))
    usdc = np.full((accounts, 1), len(derivs))
    all_cols = np.hstack([cols, usdc]).reshape(-1)
    data = np.hstack([sizes, rng.uniform(1e4, 1e6, (accounts, 1))]).reshape(-1)
    indptr = np.arange(0, accounts * (k + 1) + 1, k + 1)
    shape = (accounts, len(instruments))
    q = sp.csr_matrix((data, all_cols.astype(np.int32), indptr.astype(np.int64)), shape=shape)
    empty = sp.csr_matrix(shape)
    return Book(tuple(f"a{i}" for i in range(accounts)), instruments, q, empty, empty.copy())


def _best(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_book(
    accounts: int = 100_000, *, positions: int = 20, repeats: int = 3, seed: int = 0
) -> dict[str, object]:
    """Full pm recompute, bare ``Q @ PnL`` and a one-underlying tick on a uniform book (see module doc)."""
    market = load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)
    book = uniform_book(market, accounts, positions, seed=seed)
    model = PortfolioMargin()
    model.requirement(book, market, detail=False)  # compile and warm up
    seconds = _best(lambda: model.requirement(book, market.replace(), detail=False), repeats)
    prep = model.prepare(book.columns, market)
    pnl = np.zeros((len(book.instruments), len(prep.scenarios)))
    for g in prep.groups:
        pnl[np.ix_(g.ci, g.si)] = g.pnl_usd
    bare = _best(lambda: book.q @ pnl, repeats)
    engine = BookEngine(book, market, model)
    ticks = iter(np.linspace(1.001, 1.05, 100))
    tick = _best(lambda: engine.tick(engine.market.shifted("BTC", float(next(ticks))), "BTC"), repeats)
    matrices = book.matrices
    book_bytes = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in matrices)
    state_bytes = engine._im.nbytes * 4
    return {
        "accounts": accounts,
        "positions_per_account": positions,
        "instruments": len(book.instruments),
        "scenarios": len(prep.scenarios),
        "seconds": seconds,
        "bare_seconds": bare,
        "ratio": seconds / bare,
        "tick_seconds": tick,
        "tick_underlying": "BTC",
        "bytes_per_account": (book_bytes + state_bytes) / accounts,
    }
