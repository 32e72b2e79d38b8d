"""Real-time risk loop on a generated 100k-account book, driven by the 2020-03-12 (Black Thursday) crash.

1. **Ticks per second through ``RiskLoop.apply``.** The BTC and ETH hourly mark-price closes of
   ``2020-03-12_covid_black_thursday_1h.csv`` (source ``binance_usdm_mark_price``) are applied as relative
   moves to the demo market's index (tick price = demo index × close_t / close_0), alternating BTC and ETH.
   Each tick is one underlying's new index: ``BookEngine.tick`` (its columns repriced, its holders
   recomputed), then every account's status and the alerts. Reported: ticks/s, p50/p99 per tick, the
   alerts, and a full recompute (``model.requirement`` on the whole book, on the loop's current market as a
   new object, so nothing is cached) measured every 24 ticks during the same replays, outside the ticks'
   timing, so that tick / full compares the two under the same machine load.
2. **Liquidation decision latency.** Of the accounts flagged ``liquidation`` during the replay, up to
   ``--liquidations`` (evenly spread over the order in which they were flagged) are taken at the tick
   they were first flagged: the account's row of the engine's book as a ``Portfolio`` with its futures'
   unrealised P&L settled into collateral at that tick's marks (``liquidate`` takes positions marked to
   market, without an entry price), then ``liquidate(model, portfolio, market)`` timed per account.
   Reference in the same run: one ``model.requirement`` call on a one-row book of the same account, cold
   (first call on that market and columns) and warm (cached prepared state).

Writes ``benchmarks/results/risk_loop.json``.

Usage::

    python benchmarks/bench_risk_loop.py [--accounts 100000] [--seed 0] [--repeats 3]
                                         [--liquidations 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmargin.engine import BookEngine, account_portfolio, generate_book
from xmargin.instruments import Portfolio
from xmargin.liquidation import RiskLoop, Tick, liquidate, realize_entries, ticks_from_bars
from xmargin.margin import PortfolioMargin
from xmargin.market import DEMO_SNAPSHOT, MarketSnapshot, load_deribit_chain, shipped_chain_path
from xmargin.risk import Book

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results"
CRASH = ROOT.parent / "shared" / "data" / "crashes" / "2020-03-12_covid_black_thursday_1h.csv"
SOURCE = "binance_usdm_mark_price"
SYMBOLS = {"BTC": "BTCUSDT", "ETH": "ETHUSDT"}
FULL_EVERY = 24  # ticks between two full-recompute samples


def crash_ticks(path: Path, market: MarketSnapshot) -> list[Tick]:
    """BTC and ETH closes as relative moves of the demo index, alternating BTC, ETH bar by bar."""
    series = {u: ticks_from_bars(path, symbol=s, underlying=u, source=SOURCE) for u, s in SYMBOLS.items()}
    btc, eth = series["BTC"], series["ETH"]
    if [t.ts_s for t in btc] != [t.ts_s for t in eth]:
        raise SystemExit(f"{path}: BTC and ETH bars are not on the same timestamps")
    out: list[Tick] = []
    for pair in zip(btc, eth, strict=True):
        for t in pair:
            first = series[t.underlying][0].price_usd
            out.append(Tick(t.ts_s, t.underlying, market.index(t.underlying) * t.price_usd / first))
    return out


def holders(book: Book) -> dict[str, int]:
    """Accounts holding any column of each underlying (the rows a tick on it recomputes)."""
    out = {}
    for u in SYMBOLS:
        cols = np.array([i.base == u for i in book.instruments])
        out[u] = int(np.count_nonzero(np.diff(book.q[:, np.flatnonzero(cols)].tocsr().indptr)))
    return out


@dataclass(frozen=True)
class Flag:
    """An account's first ``liquidation`` alert."""

    tick: int
    market: MarketSnapshot  # the loop's market after that tick
    margin_balance: float
    maintenance_margin: float


@dataclass
class Replay:
    """One pass of the ticks through a fresh loop."""

    seconds: np.ndarray  # per tick
    alerts: dict[str, int]  # by status
    flagged: dict[str, Flag]  # each account's first ``liquidation`` alert
    start_below_maintenance: int
    book: Book  # the engine's book (futures pinned at the start marks)
    full_seconds: np.ndarray  # full recomputes interleaved with the ticks


def replay(
    model: PortfolioMargin, book: Book, market: MarketSnapshot, ticks: list[Tick], full_every: int = 0
) -> Replay:
    """The ticks through a fresh loop; every ``full_every`` ticks (0: never), outside the tick's timing, a
    full recompute of the whole book on the loop's current market as a new object (nothing cached), so
    that both are measured under the same machine load."""
    loop = RiskLoop(BookEngine(book, market, model))
    start = int(np.count_nonzero(loop.status == 2))
    seconds = np.empty(len(ticks))
    alerts: dict[str, int] = {}
    flagged: dict[str, Flag] = {}
    full: list[float] = []
    for k, tick in enumerate(ticks):
        t0 = time.perf_counter()
        out = loop.apply(tick)
        seconds[k] = time.perf_counter() - t0
        for a in out:
            alerts[a.status] = alerts.get(a.status, 0) + 1
            if a.status == "liquidation" and a.account not in flagged:
                flagged[a.account] = Flag(k, loop.engine.market, a.margin_balance, a.maintenance_margin)
        if full_every and k % full_every == full_every - 1:
            fresh = loop.engine.market.replace()
            t0 = time.perf_counter()
            model.requirement(loop.engine.book, fresh, detail=False)
            full.append(time.perf_counter() - t0)
    return Replay(seconds, alerts, flagged, start, loop.engine.book, np.asarray(full))


def _one_row(model: PortfolioMargin, pf: Portfolio, market: MarketSnapshot) -> tuple[float, float, float]:
    start = time.perf_counter()
    r = model.requirement(Book.from_portfolio(pf), market, detail=False)
    return time.perf_counter() - start, float(r.margin_balance[0]), float(r.maintenance_margin[0])


def liquidations(
    model: PortfolioMargin,
    book: Book,
    flagged: dict[str, Flag],
    limit: int,
) -> dict[str, Any]:
    """Time ``liquidate`` on up to ``limit`` flagged accounts, each at the market of its first flag (with
    ``model``, the loop's: what it has cached is what a live loop would have)."""
    names = list(flagged)
    pick = np.unique(np.linspace(0, len(names) - 1, min(limit, len(names))).round().astype(int))
    chosen = [names[i] for i in pick] if names else []
    lat, steps, fills, cold, warm, gap = [], [], [], [], [], []
    restored = bad_debt = 0
    positions = []
    reference = PortfolioMargin()
    for acct in chosen:
        flag = flagged[acct]
        market, balance, mm = flag.market, flag.margin_balance, flag.maintenance_margin
        pf = realize_entries(account_portfolio(book, acct), market)
        positions.append(len(pf.positions))
        start = time.perf_counter()
        res = liquidate(model, pf, market)
        lat.append(time.perf_counter() - start)
        # the reference, on its own model so that neither warms the other's cache: a one-row requirement
        # cold (these columns new on this market), then warm (prepared state cached)
        t_cold, b1, m1 = _one_row(reference, pf, market)
        t_warm, _, _ = _one_row(reference, pf, market)
        cold.append(t_cold)
        warm.append(t_warm)
        gap.append(max(abs(b1 - balance), abs(m1 - mm)))
        steps.append(res.steps)
        fills.append(len(res.fills))
        restored += bool(res.restored)
        bad_debt += res.bad_debt_usd > 0
    ms = np.asarray(lat) * 1e3
    n = len(chosen)

    def pct(x: list[float], q: float) -> float | None:
        return float(np.quantile(np.asarray(x) * 1e3, q)) if x else None

    return {
        "liq_flagged_accounts": len(names),
        "liq_measured_accounts": n,
        "liq_p50_ms": pct(lat, 0.5),
        "liq_p99_ms": pct(lat, 0.99),
        "liq_max_ms": float(ms.max()) if n else None,
        "liq_mean_ms": float(ms.mean()) if n else None,
        "liq_mean_steps": float(np.mean(steps)) if n else None,
        "liq_max_steps": int(np.max(steps)) if n else None,
        "liq_mean_fills": float(np.mean(fills)) if n else None,
        "liq_mean_positions": float(np.mean(positions)) if n else None,
        "liq_restored": restored,
        "liq_bad_debt_accounts": bad_debt,
        "one_row_requirement_cold_p50_ms": pct(cold, 0.5),
        "one_row_requirement_warm_p50_ms": pct(warm, 0.5),
        "liq_over_one_row_cold": (pct(lat, 0.5) or 0.0) / pct(cold, 0.5) if n else None,
        # the settled portfolio re-margined alone vs the engine's values in the alert (USD)
        "check_max_abs_diff_usd": float(max(gap)) if n else None,
    }


def run(accounts: int, seed: int, repeats: int, limit: int, crash: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    market = load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)
    book = generate_book(market, accounts, seed)
    ticks = crash_ticks(crash, market)
    model = PortfolioMargin()
    print(f"book: {accounts:,} accounts, {book.q.nnz:,} entries, {len(book.instruments):,} columns", end="")
    print(f" ({time.perf_counter() - t0:.1f} s to load and generate); {len(ticks)} ticks")
    replay(model, book, market, ticks[:10])  # warm-up: compile and load the kernels, touch the arrays
    runs = [replay(model, book, market, ticks, FULL_EVERY) for _ in range(repeats)]
    first = runs[0]
    if any(r.alerts != first.alerts for r in runs[1:]):
        print("warning: the alerts differ between replays")
    per_tick = np.concatenate([r.seconds for r in runs]) * 1e3
    pinned = first.book
    full = np.concatenate([r.full_seconds for r in runs]) * 1e3
    out: dict[str, Any] = {
        "accounts": accounts,
        "seed": seed,
        "book_entries": int(book.q.nnz),
        "instruments": len(book.instruments),
        "holders": holders(book),
        "crash_file": crash.name,
        "source": SOURCE,
        "ticks_per_replay": len(ticks),
        "replays": repeats,
        "ticks_per_second": float(per_tick.size / (per_tick.sum() / 1e3)),
        "tick_p50_ms": float(np.quantile(per_tick, 0.5)),
        "tick_p99_ms": float(np.quantile(per_tick, 0.99)),
        "tick_max_ms": float(per_tick.max()),
        "tick_mean_ms": float(per_tick.mean()),
        "alerts_per_replay": int(sum(first.alerts.values())),
        "alerts_by_status": first.alerts,
        "start_below_maintenance": first.start_below_maintenance,
        "full_recompute_p50_ms": float(np.median(full)),
        "full_recompute_min_ms": float(full.min()),
        "full_recompute_samples": int(full.size),
        "tick_p50_over_full_p50": float(np.quantile(per_tick, 0.5) / np.median(full)),
    }
    out.update(liquidations(model, pinned, first.flagged, limit))
    out["wall_seconds"] = time.perf_counter() - t0
    out["cpus"] = os.cpu_count()
    out["load_average_1min_start_end"] = [load0, os.getloadavg()[0]]
    return out


def summary(r: dict[str, Any]) -> str:
    def f(key: str, fmt: str = ".2f") -> str:
        v = r.get(key)
        return "n/a" if v is None else format(v, fmt)

    return "\n".join(
        [
            f"risk loop, {r['accounts']:,} accounts ({r['book_entries']:,} entries), "
            f"{r['crash_file']} ({r['source']}), {r['ticks_per_replay']} ticks x {r['replays']} replays",
            f"  ticks/s            {r['ticks_per_second']:10.1f}",
            f"  tick p50 / p99     {r['tick_p50_ms']:10.2f} / {r['tick_p99_ms']:.2f} ms  (max {r['tick_max_ms']:.2f})",
            f"  full recompute     {r['full_recompute_p50_ms']:10.2f} ms p50 (min {r['full_recompute_min_ms']:.2f})",
            f"  tick / full        {r['tick_p50_over_full_p50']:10.2f}",
            f"  alerts per replay  {r['alerts_per_replay']:10,}  {r['alerts_by_status']}",
            f"liquidation of {f('liq_measured_accounts', 'd')} of {f('liq_flagged_accounts', ',')} flagged accounts, "
            "at the tick first flagged",
            f"  p50 / p99 / max    {f('liq_p50_ms')} / {f('liq_p99_ms')} / {f('liq_max_ms')} ms",
            f"  steps, fills       {f('liq_mean_steps')} mean (max {f('liq_max_steps', 'd')}), "
            f"{f('liq_mean_fills')} mean fills; {f('liq_mean_positions')} positions per account",
            f"  restored           {f('liq_restored', 'd')}, bad debt {f('liq_bad_debt_accounts', 'd')}",
            f"  one-row requirement {f('one_row_requirement_cold_p50_ms', '.3f')} ms cold, "
            f"{f('one_row_requirement_warm_p50_ms', '.3f')} ms warm (p50); "
            f"liquidate / cold call {f('liq_over_one_row_cold')}",
            f"  check (settled row vs engine) max |diff| {f('check_max_abs_diff_usd', '.2e')} USD",
            f"wall {r['wall_seconds']:.1f} s",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="measured replays of the crash")
    parser.add_argument("--liquidations", type=int, default=200, help="flagged accounts liquidated")
    parser.add_argument("--crash-file", type=Path, default=CRASH)
    parser.add_argument("--json", action="store_true", help="also print the result as JSON")
    args = parser.parse_args()
    result = run(args.accounts, args.seed, max(args.repeats, 1), args.liquidations, args.crash_file)
    OUT.mkdir(exist_ok=True)
    (OUT / "risk_loop.json").write_text(json.dumps(result, indent=2) + "\n")
    print(summary(result))
    print(f"wrote {OUT / 'risk_loop.json'}")
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
