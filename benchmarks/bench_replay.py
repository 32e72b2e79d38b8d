"""Crash replay speed: the fast path against the reference (today's code before it), in the same run.

For each venue, the same replay (scenario, accounts, seed, defaults: 12 s clock, ``pm``) runs twice in this
process, alternating: ``ReplayConfig(reference=True)`` (``liquidate`` account by account, one kernel call
per account, numba's own thread count: the code as it was) and the default fast path (a round's accounts
liquidated together in one book evaluation per step, the DEX's seized accounts' deltas from one
resolution, the pricing kernels on one thread). Reported: wall seconds of each (the whole ``replay`` call,
book generation included), the ratio, and whether the two reports are equal (every field but ``timing``).

``--accounts 100000 --only fast`` times one large replay on the fast path alone.

Writes ``benchmarks/results/replay.json``.

Usage::

    python benchmarks/bench_replay.py [--scenario 2020-03-12] [--accounts 1000] [--seed 0]
                                      [--venues cex,dex] [--only fast|reference] [--clock 12]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from xmargin.sim import ReplayConfig, replay

OUT = Path(__file__).parent / "results"


def _run(
    scenario: str, venue: str, accounts: int, seed: int, cfg: ReplayConfig
) -> tuple[float, dict[str, Any]]:
    s = time.perf_counter()
    r = replay(scenario, venue, accounts=accounts, seed=seed, config=cfg)
    wall = time.perf_counter() - s
    d = r.as_dict()
    d.pop("timing")
    return wall, d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="2020-03-12")
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--venues", default="cex,dex")
    ap.add_argument("--only", choices=("fast", "reference"), default=None)
    ap.add_argument("--clock", type=float, default=12.0, help="simulation clock, s (default 12: the CLI's)")
    ap.add_argument("--out", default=str(OUT / "replay.json"))
    a = ap.parse_args()
    base = ReplayConfig(clock_s=a.clock)
    ref_cfg, fast_cfg = replace(base, reference=True), base
    # warm the compiled kernels once, so neither side pays numba's compilation
    replay("2025-10-10", "cex", accounts=20, seed=0, config=replace(base, clock_s=600.0))
    rows = []
    for venue in a.venues.split(","):
        row: dict[str, Any] = {"scenario": a.scenario, "venue": venue, "accounts": a.accounts, "seed": a.seed}
        reports = {}
        for name, cfg in (("reference", ref_cfg), ("fast", fast_cfg)):
            if a.only not in (None, name):
                continue
            wall, d = _run(a.scenario, venue, a.accounts, a.seed, cfg)
            row[f"{name}_s"] = round(wall, 2)
            reports[name] = d
            row["liquidations"] = d["liquidations"]
            row["bad_debt_usd"] = d["bad_debt_usd"]
            print(f"{a.scenario} {venue} {a.accounts:,} accounts: {name} {wall:,.1f} s", flush=True)
        if len(reports) == 2:
            row["speedup"] = round(row["reference_s"] / row["fast_s"], 2)
            row["reports_equal"] = reports["reference"] == reports["fast"]
            print(f"  speed-up x{row['speedup']}, reports equal: {row['reports_equal']}", flush=True)
        rows.append(row)
    out = {
        "benchmark": "replay",
        "cpus": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "clock_s": a.clock,
        "runs": rows,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
