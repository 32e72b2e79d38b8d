"""Sweeps: one crash replayed over many seeded books, in this process or as tasks on a Dask cluster.

A single replay is one draw of a synthetic book; a risk team or a researcher wants the distribution: how
often and how badly margin was breached over many books. ``sweep`` runs ``replay`` once per seed (each run
is independent and deterministic, so the result does not depend on where or in which order runs execute)
and ``summarize`` gives mean, median, 95th percentile and maximum of the outcome figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from xmargin.core import InputError
from xmargin.sim._replay import OUTCOME_FIELDS, ReplayConfig, ReplayReport, replay


def sweep(
    scenario: str,
    venue: str,
    seeds: Sequence[int],
    *,
    accounts: int = 1000,
    config: ReplayConfig | None = None,
    client: Any | None = None,
    on_done: Callable[[ReplayReport], None] | None = None,
) -> list[ReplayReport]:
    """``replay`` for every seed (in seed order). With a ``distributed.Client`` each run is a task on the
    cluster; ``on_done`` is called as runs finish (e.g. a progress bar)."""
    if not seeds:
        raise InputError(where="seeds", expected="at least one seed", found="none")
    if len(set(seeds)) != len(seeds):
        raise InputError(where="seeds", expected="distinct seeds", found=list(seeds))
    cfg = config or ReplayConfig()
    done: dict[int, ReplayReport] = {}
    if client is None:
        for s in seeds:
            r = replay(scenario, venue, accounts=accounts, seed=s, config=cfg)
            done[s] = r
            if on_done is not None:
                on_done(r)
    else:
        from distributed import as_completed

        futures = [
            client.submit(replay, scenario, venue, accounts=accounts, seed=s, config=cfg, pure=False)
            for s in seeds
        ]
        for fut in as_completed(futures):
            r = fut.result()
            done[r.seed] = r
            if on_done is not None:
                on_done(r)
    return [done[s] for s in seeds]


def summarize(reports: Sequence[ReplayReport]) -> dict[str, dict[str, float]]:
    """Per outcome field: mean, p50, p95 and max over the runs."""
    out: dict[str, dict[str, float]] = {}
    for f in OUTCOME_FIELDS:
        x = np.array([float(getattr(r, f)) for r in reports])
        out[f] = {
            "mean": float(x.mean()),
            "p50": float(np.percentile(x, 50)),
            "p95": float(np.percentile(x, 95)),
            "max": float(x.max()),
        }
    return out
