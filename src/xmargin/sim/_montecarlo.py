"""Monte Carlo crash replay: one book replayed on K paths drawn around a real window (``sim._paths``), in
this process or as tasks on a Dask cluster, and the distribution of what the venue lost.

Every path runs the whole replay (``replay_path``) on the same seeded book, so the spread of the outcome is
the spread of the market path. Path 0 is the real window: ``paths=1`` is the plain replay. A path depends
only on (seed, index), so the report does not depend on the number of workers or on the order in which
tasks finish (tested with one and two workers).

The figures (USD):

- ``bad_debt_usd_quantiles``: p50, p95, p99 and max of the bad debt (insolvent debt: deficits of accounts
  left without positions, before the insurance fund pays them) over the paths, numpy's linear interpolation.
  **VaR** in Gauntlet's sense is the p95 of insolvent debt (Gauntlet, "VaR Deepdive", 2022-01-28: VaR
  counts insolvencies only, liquidations are reported apart as Liquidations at Risk).
- ``es99_usd``: the mean bad debt of the paths at or beyond the p99 (expected shortfall); Chaos Labs
  reports a VaR at 95% and an "extreme" VaR at 99% in its risk reports; we give the 99% quantile and the
  mean beyond it.
- ``liquidations_at_risk_usd``: the p95 of the notional liquidated (Gauntlet's LaR).
- ``insurance_fund_needed_usd``: what a fund must hold to pay the p99 bad debt without ADL or a socialized
  loss, and at least the Cover-2 figure.
- ``cover2_usd``: over the paths, the largest sum of the two largest single-account bad debts: the default
  of the two accounts that cost the most, in the worst path for them (the "Cover 2" standard of CPMI-IOSCO,
  "Principles for financial market infrastructures", 2012, Principle 4, key consideration 4, applied to a
  venue's insurance fund).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from xmargin.core import SCHEMA_VERSION, InputError
from xmargin.sim._config import ReplayConfig
from xmargin.sim._paths import PathConfig, crash_path
from xmargin.sim._replay import replay_path
from xmargin.sim._scenarios import load_path


@dataclass(frozen=True, slots=True)
class PathOutcome:
    """What one path cost (USD) and how far it fell (per underlying, from its running high)."""

    index: int
    bad_debt_usd: float
    insurance_fund_used_usd: float
    adl_usd: float
    socialized_loss_usd: float
    liquidations: int
    volume_liquidated_usd: float
    largest_bad_debts_usd: list[float]
    max_drawdown: dict[str, float]


@dataclass(frozen=True, slots=True)
class MonteCarloReport:
    """The distribution of a venue's losses over K paths around a crash window (see the module docstring)."""

    scenario: str
    title: str
    venue: str
    accounts: int
    seed: int
    model: str
    paths: int
    path_config: dict[str, Any]
    bad_debt_usd_quantiles: dict[str, float]
    var95_usd: float
    es99_usd: float
    liquidations_at_risk_usd: float
    insurance_fund_start_usd: float
    insurance_fund_needed_usd: float
    cover2_usd: float
    paths_with_bad_debt: int
    runs: list[PathOutcome]
    timing: dict[str, float] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_path(
    scenario: str,
    venue: str,
    index: int,
    *,
    accounts: int,
    seed: int,
    config: ReplayConfig,
    path_config: PathConfig,
) -> tuple[PathOutcome, float]:
    """Replay path ``index`` (a Dask task); returns its outcome and the fund at the start (USD)."""
    path = crash_path(load_path(scenario), index, seed, path_config)
    r = replay_path(path, venue, accounts=accounts, seed=seed, config=config)
    out = PathOutcome(
        index,
        r.bad_debt_usd,
        r.insurance_fund_used_usd,
        r.adl_usd,
        r.socialized_loss_usd,
        r.liquidations,
        r.volume_liquidated_usd,
        list(r.largest_bad_debts_usd),
        dict(r.max_drawdown),
    )
    return out, r.insurance_fund_start_usd


def monte_carlo(
    scenario: str,
    venue: str,
    *,
    paths: int,
    accounts: int = 1000,
    seed: int = 0,
    config: ReplayConfig | None = None,
    path_config: PathConfig | None = None,
    client: Any | None = None,
    on_done: Callable[[PathOutcome], None] | None = None,
) -> MonteCarloReport:
    """Replay ``paths`` paths around ``scenario`` (path 0 the real window) and summarise their losses.

    With a ``distributed.Client`` each path is a task on the cluster; ``on_done`` is called as paths
    finish (e.g. a progress bar)."""
    import time

    if not isinstance(paths, int) or paths < 1:
        raise InputError(where="paths", expected="an integer >= 1", found=paths)
    cfg = config or ReplayConfig()
    pcfg = path_config or PathConfig()
    path0 = load_path(scenario)
    kwargs = {"accounts": accounts, "seed": seed, "config": cfg, "path_config": pcfg}
    done: dict[int, PathOutcome] = {}
    fund = 0.0
    t0 = time.perf_counter()
    if client is None:
        for k in range(paths):
            out, fund = run_path(scenario, venue, k, **kwargs)  # type: ignore[arg-type]
            done[k] = out
            if on_done is not None:
                on_done(out)
    else:
        from distributed import as_completed

        futures = [client.submit(run_path, scenario, venue, k, **kwargs, pure=False) for k in range(paths)]
        for fut in as_completed(futures):  # type: ignore[no-untyped-call]
            out, fund = fut.result()
            done[out.index] = out
            if on_done is not None:
                on_done(out)
    runs = [done[k] for k in range(paths)]
    return summarize_paths(
        runs,
        scenario=path0.scenario.name,
        title=path0.scenario.title,
        venue=venue,
        accounts=accounts,
        seed=seed,
        model=cfg.model,
        path_config=pcfg,
        insurance_fund_start_usd=fund,
        timing={"wall_s": time.perf_counter() - t0},
    )


def quantiles(x: Sequence[float] | np.ndarray[Any, Any]) -> dict[str, float]:
    """p50, p95, p99 and max (numpy's linear interpolation between order statistics)."""
    a = np.asarray(x, dtype=np.float64)
    return {
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
    }


def summarize_paths(
    runs: list[PathOutcome],
    *,
    scenario: str,
    title: str,
    venue: str,
    accounts: int,
    seed: int,
    model: str,
    path_config: PathConfig,
    insurance_fund_start_usd: float,
    timing: dict[str, float],
) -> MonteCarloReport:
    bad = np.array([r.bad_debt_usd for r in runs])
    q = quantiles(bad)
    tail = bad[bad >= q["p99"]]
    cover2 = max(sum(sorted(r.largest_bad_debts_usd, reverse=True)[:2]) for r in runs)
    return MonteCarloReport(
        scenario=scenario,
        title=title,
        venue=venue,
        accounts=accounts,
        seed=seed,
        model=model,
        paths=len(runs),
        path_config={k: getattr(path_config, k) for k in PathConfig.__dataclass_fields__},
        bad_debt_usd_quantiles=q,
        var95_usd=q["p95"],
        es99_usd=float(tail.mean()) if tail.size else q["max"],
        liquidations_at_risk_usd=float(np.percentile([r.volume_liquidated_usd for r in runs], 95)),
        insurance_fund_start_usd=insurance_fund_start_usd,
        insurance_fund_needed_usd=max(q["p99"], cover2),
        cover2_usd=cover2,
        paths_with_bad_debt=int((bad > 0).sum()),
        runs=runs,
        timing=timing,
    )
