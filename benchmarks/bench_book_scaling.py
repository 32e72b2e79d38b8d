"""Whole-book pm margin at 10k / 100k / 1M accounts (20 positions each, ~1,000 instruments): in process, and
1M also on a local Dask cluster (2 worker processes). Writes benchmarks/results/book_scaling.{json,png}.

Usage::

    python benchmarks/bench_book_scaling.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from xmargin.bench import uniform_book
from xmargin.engine import margin_book_dask
from xmargin.margin import PortfolioMargin
from xmargin.market import DEMO_SNAPSHOT, load_deribit_chain, shipped_chain_path

OUT = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    market = load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)
    model = PortfolioMargin()
    rows: list[dict[str, object]] = []
    for n in args.sizes:
        rows.extend(measure(model, market, n))
    OUT.mkdir(exist_ok=True)
    (OUT / "book_scaling.json").write_text(json.dumps(rows, indent=2))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    inproc = [r for r in rows if r["mode"] == "in-process"]
    ax.loglog([r["accounts"] for r in inproc], [r["seconds"] for r in inproc], "o-", label="pm, in process")
    ax.loglog(
        [r["accounts"] for r in inproc],
        [r["bare_seconds"] for r in inproc],
        "s--",
        label="bare Q @ PnL (reference)",
    )
    dask_rows = [r for r in rows if r["mode"] != "in-process"]
    if dask_rows:
        ax.loglog(
            [r["accounts"] for r in dask_rows],
            [r["seconds"] for r in dask_rows],
            "^",
            markersize=10,
            label="pm, local Dask cluster (2 workers)",
        )
    ax.set_xlabel("accounts (20 positions each, ~1,000 instruments)")
    ax.set_ylabel("seconds for a full recompute")
    ax.set_title("xmargin whole-book portfolio margin, 2 cores")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "book_scaling.png", dpi=120)
    print(f"wrote {OUT / 'book_scaling.png'}")


def measure(model: PortfolioMargin, market, n: int) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    import numpy as np

    book = uniform_book(market, n, 20)
    model.requirement(book, market, detail=False)
    pnl = _pnl(model, book, market)
    bare = min(_time(lambda: book.q @ pnl) for _ in range(2))
    best = min(_time(lambda: model.requirement(book, market.replace(), detail=False)) for _ in range(2))
    rows: list[dict[str, object]] = [
        {
            "accounts": n,
            "mode": "in-process",
            "seconds": best,
            "bare_seconds": bare,
            "ratio": best / bare,
            "accounts_per_second": n / best,
        }
    ]
    print(json.dumps(rows[-1]))
    if n >= 1_000_000:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            margin_book_dask(model, book.select(np.arange(10_000)), market, client)  # warm the workers
            t = _time(lambda: margin_book_dask(model, book, market, client, chunk=100_000))
        rows.append(
            {
                "accounts": n,
                "mode": "dask local cluster (2 workers)",
                "seconds": t,
                "accounts_per_second": n / t,
            }
        )
        print(json.dumps(rows[-1]))
    return rows


def _pnl(model: PortfolioMargin, book, market):  # type: ignore[no-untyped-def]
    import numpy as np

    prep = model.prepare(book.instruments, market)
    pnl = np.zeros((len(book.instruments), len(prep.scenarios)))
    for g in prep.groups:
        pnl[np.ix_(g.ci, g.si)] = g.pnl_usd
    return pnl


def _time(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
