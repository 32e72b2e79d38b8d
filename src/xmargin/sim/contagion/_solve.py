"""Bad debt against bridge latency, and the haircut a bridged asset needs to keep its bad debt under a target
(``xmargin contagion --latency-sweep``, ``--haircut-target``; docs/contagion.md, "Latency and haircut").

**Sweep.** The same file run at each latency (every bridge's delay set to it, ``Overrides``), with and
without feedback; each point keeps the venues' and the bridges' outcomes. ``monotone`` says whether the
system's bad debt never fell as the latency grew: it need not (docs/contagion.md explains why), so it is
reported, not assumed.

**Haircut.** A venue values the bridged asset at ``(1 - h)`` × its price for margin, and an account posts
``1 / (1 - h)`` times the coins for the same leverage (``BridgeSpec.haircut``). The quantity solved for is
the bad debt left by the accounts holding that asset (``BridgeOutcome.bad_debt_usd``): the haircut acts on
them. The solver first evaluates a grid of ``grid_points`` haircuts on ``[0, max_haircut]`` and checks that
the bad debt never rises with the haircut there (``monotone``); it then takes the last grid interval where
the target starts to hold for good (every grid point above it meets the target) and bisects it to
``tolerance``: the answer ``haircut`` meets the target and ``haircut_below`` (at most ``tolerance`` lower)
does not. Bisection needs monotonicity only inside that interval; every point evaluated is reported, and
``monotone`` is false if any of them breaks it. When no haircut is needed the answer is 0; when
``max_haircut`` still misses the target, None.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from xmargin.core import SCHEMA_VERSION, InputError
from xmargin.sim.contagion._config import ContagionFile, Overrides
from xmargin.sim.contagion._model import BridgeOutcome, VenueOutcome, bad_debt, contagion


@dataclass(frozen=True, slots=True)
class HaircutPoint:
    haircut: float
    bad_debt_usd: float
    """The bridged asset's holders' bad debt (USD)."""
    system_bad_debt_usd: float


@dataclass(frozen=True, slots=True)
class HaircutSolution:
    """The smallest haircut (to ``tolerance``) that keeps the bridged asset's bad debt at or under the target."""

    bridge: str
    latency_minutes: float
    target_usd: float
    haircut: float | None
    """None when even ``max_haircut`` misses the target."""
    bad_debt_usd: float | None
    haircut_below: float | None
    """A haircut at most ``tolerance`` lower that misses the target (None when 0 already meets it)."""
    bad_debt_below_usd: float | None
    tolerance: float
    max_haircut: float
    monotone: bool
    evaluations: list[HaircutPoint]
    schema_version: int = SCHEMA_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    latency_minutes: float
    bad_debt_usd: float
    """The system's (every venue's) bad debt, USD."""
    amplification: float
    venues: dict[str, VenueOutcome]
    bridges: dict[str, BridgeOutcome]
    haircut_needed: HaircutSolution | None = None


@dataclass(frozen=True, slots=True)
class LatencySweep:
    scenario: str
    impact_scale: float
    points: list[LatencyPoint]
    monotone: bool
    """True when the system's bad debt never fell as the latency grew."""
    haircut_target_usd: float | None = None
    schema_version: int = SCHEMA_VERSION
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _non_increasing(points: list[HaircutPoint], slack: float) -> bool:
    ordered = sorted(points, key=lambda p: p.haircut)
    debt = np.array([p.bad_debt_usd for p in ordered])
    return bool(np.all(np.diff(debt) <= slack))


def pick_bridge(cfg: ContagionFile, name: str | None) -> str:
    """``name``, checked against the file's bridges; the only bridge when ``name`` is None."""
    names = [b.name for b in cfg.bridges]
    if name is None:
        if len(names) != 1:
            raise InputError(where="--haircut-bridge", expected=f"one of {names}", found="none given")
        return names[0]
    if name not in names:
        raise InputError(where="--haircut-bridge", expected=f"one of {names}", found=name)
    return name


def solve_haircut(
    cfg: ContagionFile,
    bridge: str,
    target_usd: float,
    overrides: Overrides = Overrides(),  # noqa: B008
    *,
    tolerance: float = 0.005,
    max_haircut: float = 0.95,
    grid_points: int = 11,
) -> HaircutSolution:
    """The haircut ``bridge`` needs for its holders' bad debt to stay at or under ``target_usd`` (see the
    module docstring); ``overrides`` fix the latency and impact scale."""
    if not (math.isfinite(target_usd) and target_usd >= 0.0):
        raise InputError(where="--haircut-target", expected="USD >= 0", found=target_usd)
    if not (0.0 < tolerance < max_haircut < 1.0) or grid_points < 2:
        raise InputError(
            where="solve_haircut",
            expected="0 < tolerance < max_haircut < 1 and grid_points >= 2",
            found=(tolerance, max_haircut, grid_points),
        )
    name = pick_bridge(cfg, bridge)
    seen: dict[float, HaircutPoint] = {}

    def f(h: float) -> float:
        if h not in seen:
            system, by_bridge = bad_debt(cfg, replace(overrides, haircuts={**overrides.haircuts, name: h}))
            seen[h] = HaircutPoint(h, by_bridge[name], system)
        return seen[h].bad_debt_usd

    grid = np.linspace(0.0, max_haircut, grid_points).tolist()
    debts = [f(h) for h in grid]
    ok = [d <= target_usd for d in debts]
    hi: float | None = None
    lo: float | None = None
    if ok[0]:
        hi = 0.0
    elif ok[-1]:
        j = max(i for i, good in enumerate(ok) if not good)  # the target holds for good above grid[j]
        lo, hi = grid[j], grid[j + 1]
        while hi - lo > tolerance:
            mid = 0.5 * (lo + hi)
            if f(mid) <= target_usd:
                hi = mid
            else:
                lo = mid
    slack = 1e-9 * max(1.0, max(p.bad_debt_usd for p in seen.values()))
    lat = overrides.bridge_latency_minutes
    spec = next(b for b in cfg.bridges if b.name == name)
    return HaircutSolution(
        bridge=name,
        latency_minutes=spec.latency_minutes if lat is None else lat,
        target_usd=target_usd,
        haircut=hi,
        bad_debt_usd=None if hi is None else seen[hi].bad_debt_usd,
        haircut_below=lo,
        bad_debt_below_usd=None if lo is None else seen[lo].bad_debt_usd,
        tolerance=tolerance,
        max_haircut=max_haircut,
        monotone=_non_increasing(list(seen.values()), slack),
        evaluations=sorted(seen.values(), key=lambda p: p.haircut),
    )


def latency_sweep(
    cfg: ContagionFile,
    latencies: list[float],
    overrides: Overrides = Overrides(),  # noqa: B008
    *,
    haircut_target_usd: float | None = None,
    bridge: str | None = None,
) -> LatencySweep:
    """Run ``cfg`` at every latency of ``latencies`` (minutes, every bridge); with ``haircut_target_usd``
    solve at each the haircut ``bridge`` needs."""
    if not latencies or any(not (math.isfinite(x) and x >= 0.0) for x in latencies):
        raise InputError(where="--latency-sweep", expected="minutes >= 0, comma-separated", found=latencies)
    if not cfg.bridges:
        raise InputError(where="--latency-sweep", expected="a file with at least one bridge", found="none")
    name = pick_bridge(cfg, bridge) if haircut_target_usd is not None else None
    points = []
    for lat in sorted(latencies):
        over = replace(overrides, bridge_latency_minutes=lat)
        r = contagion(cfg, over)
        solved = None
        if name is not None and haircut_target_usd is not None:
            solved = solve_haircut(cfg, name, haircut_target_usd, over)
        points.append(
            LatencyPoint(lat, r.system.bad_debt_usd, r.system.amplification, r.venues, r.bridges, solved)
        )
    debt = np.array([p.bad_debt_usd for p in points])
    slack = 1e-9 * max(1.0, float(debt.max()))
    return LatencySweep(
        scenario=cfg.scenario,
        impact_scale=overrides.impact_scale,
        points=points,
        monotone=bool(np.all(np.diff(debt) >= -slack)),
        haircut_target_usd=haircut_target_usd,
    )


__all__ = [
    "HaircutPoint",
    "HaircutSolution",
    "LatencyPoint",
    "LatencySweep",
    "latency_sweep",
    "pick_bridge",
    "solve_haircut",
]
