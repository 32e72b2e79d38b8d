"""fhs against pm in the same run: whole-book recompute (ratio fhs / pm), what-if latency, 13-year backtest.

Usage::

    python benchmarks/bench_fhs.py [--accounts 100000] [--calls 1000]
"""

from __future__ import annotations

import argparse
import json

from xmargin.bench import bench_fhs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    r = bench_fhs(args.accounts, calls=args.calls)
    if "pm_seconds" in r:
        print(
            f"book of {r['accounts']:,}: fhs {r['fhs_seconds']:.2f} s (prepare {r['fhs_prepare_seconds']:.2f} s, "
            f"charge {r['fhs_charge_seconds']:.2f} s), pm {r['pm_seconds']:.3f} s, fhs/pm {r['ratio']:.1f}"
        )
    print(f"what-if p50 {r['whatif_p50_ms']:.2f} ms, p99 {r['whatif_p99_ms']:.2f} ms")
    print(f"13-year daily backtest: {r['backtest_seconds']:.1f} s ({r['backtest_observations']} days)")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
