"""The DEX replay through the contracts against the Python DEX replay (issue 16; docs/chain.md, "The DEX
replay on the contract").

Same scenario, book (``--accounts``, seed), model (``cross``) and window in both: ``xmargin.sim.dex``'s
``replay_dex`` and ``xmargin.onchain.replay_onchain`` (MarginVault + AuctionHouse on titanoboa). Reported:
accounts liquidated by each, whether the sets are equal (and which accounts differ), bad debt per account,
gas per operation, wall seconds. ``--no-impact`` sets the square-root impact to zero in both
(``ImpactConfig(y=0)``), which separates what the two liquidation mechanisms do to the market path from
what they decide.

Writes ``benchmarks/results/onchain_vs_python_<accounts>[_noimpact].json``. 200 accounts take about 5-7
minutes on this project's 2-core machine (the oracle's ~3,600 updates, two transactions each).

Usage::

    python benchmarks/onchain_vs_python.py [--accounts 200] [--seed 0] [--scenario 2020-03-12] [--no-impact]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from xmargin.onchain import replay_onchain
from xmargin.sim import ReplayConfig, Venue, load_path
from xmargin.sim._impact import ImpactConfig
from xmargin.sim.dex import replay_dex

OUT = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenario", default="2020-03-12")
    ap.add_argument("--no-impact", action="store_true")
    a = ap.parse_args()
    cfg = ReplayConfig(model="cross")
    if a.no_impact:
        cfg = replace(cfg, impact=ImpactConfig(y=0.0))
    path = load_path(a.scenario)

    s = time.perf_counter()
    py_venue = Venue(path, a.accounts, a.seed, cfg)
    py = replay_dex(py_venue)
    t_py = time.perf_counter() - s
    s = time.perf_counter()
    chain_venue = Venue(path, a.accounts, a.seed, cfg)
    chain = replay_onchain(chain_venue)
    t_chain = time.perf_counter() - s

    py_set, chain_set = set(py_venue.liquidated), set(chain.onchain["accounts_liquidated_list"])
    doc: dict[str, Any] = {
        "scenario": a.scenario,
        "accounts": a.accounts,
        "seed": a.seed,
        "impact": not a.no_impact,
        "liquidated": {"python": len(py_set), "chain": len(chain_set)},
        "same_set": py_set == chain_set,
        "only_python": sorted(py_set - chain_set),
        "only_chain": sorted(chain_set - py_set),
        "bad_debt_usd": {"python": py.bad_debt_usd, "chain": chain.bad_debt_usd},
        "bad_debt_by_account": {"python": dict(py_venue.debt_of), "chain": dict(chain_venue.debt_of)},
        "gas": chain.onchain["operations"],
        "cost_total_usd": chain.onchain["cost_total_usd"],
        "wall_s": {"python": t_py, "chain": t_chain},
    }
    OUT.mkdir(exist_ok=True)
    name = f"onchain_vs_python_{a.accounts}{'_noimpact' if a.no_impact else ''}.json"
    (OUT / name).write_text(json.dumps(doc, indent=1) + "\n")
    print(
        json.dumps(
            {
                k: doc[k]
                for k in ("liquidated", "same_set", "only_chain", "only_python", "bad_debt_usd", "wall_s")
            }
        )
    )


if __name__ == "__main__":
    main()
