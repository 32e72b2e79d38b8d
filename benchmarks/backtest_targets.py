"""The targets table of docs/backtest.md: every example book under every model, at 1- and 2-day horizons,
on the shipped daily history from 2013 (a backtest sweep, on Dask when ``--scheduler`` is given).

Usage::

    python benchmarks/backtest_targets.py [--scheduler local|ADDRESS] [--models fhs,pm,...] [--out table.md]
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from xmargin.sim import SweepJob, backtest_sweep, markdown_table, target_row

BOOKS = ("long_btc", "short_btc", "long_eth", "short_eth", "btc_eth_pair")
MODELS = "fhs,fhs-plain,fhs-buffer,fhs-stressed,fhs-floor,pm,standard,cross,isolated"
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address, or 'local'")
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--horizons", default="1,2")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    jobs = [
        SweepJob(str(ROOT / "examples" / "backtest" / f"{b}.yaml"), m, int(h), start=date(2013, 1, 1))
        for m in args.models.split(",")
        for h in args.horizons.split(",")
        for b in BOOKS
    ]
    client = None
    if args.scheduler is not None:
        from xmargin.engine import connect

        client = connect(args.scheduler)
    start = time.perf_counter()
    try:
        reports = backtest_sweep(jobs, client=client)
    finally:
        if client is not None:
            client.close()
    table = markdown_table([target_row(r) for r in reports])
    print(table)
    print(f"{len(jobs)} backtests in {time.perf_counter() - start:.0f} s")
    if args.out is not None:
        args.out.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
