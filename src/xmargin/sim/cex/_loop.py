"""The CEX's clock: the market on every ``clock_s``, an engine tick when a mark has moved enough, then
liquidation rounds at the impacted price until no account is below maintenance or ``max_rounds`` is reached
(the cascade)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from xmargin.sim._report import ReplayReport
from xmargin.sim._venue import Venue
from xmargin.sim.cex._liquidation import liquidate_round


def replay_cex(v: Venue) -> ReplayReport:
    """Run the CEX through the whole path on ``v`` and report."""
    t_blocks, logf = v.grid()
    us = v.path.underlyings
    run = _Cascade(v)
    t0 = time.perf_counter()
    for b in range(t_blocks.size):
        t = float(t_blocks[b])
        v.impact.decay_to(t)
        px = run.step({u: float(logf[u][b]) for u in us})
        v.record_due(t, px)
    return v.report("cex", run.detail(), run.timing(time.perf_counter() - t0))


class _Cascade:
    """The CEX engine's ticks and liquidation rounds, with what they measured."""

    def __init__(self, v: Venue) -> None:
        self.v, self.cfg = v, v.config
        self.seen = {u: v.engine.market.index(u) for u in v.path.underlyings}  # prices at the last tick
        self.latencies: list[float] = []
        self.rounds_max = 0
        self.ticks = 0

    def prices(self, log_factors: Mapping[str, float]) -> dict[str, float]:
        return {u: self.v.price(u, log_factors[u]) for u in self.v.path.underlyings}

    def step(self, log_factors: Mapping[str, float]) -> dict[str, float]:
        """One clock step at the path's ``log_factors``: if a mark moved enough since the last tick, tick the
        engine and liquidate, round after round. Returns the market prices after it."""
        v, cfg = self.v, self.cfg
        px = self.prices(log_factors)
        moved = {u: p for u, p in px.items() if abs(p / self.seen[u] - 1.0) >= cfg.cex_tick_move}
        if not moved:
            return px
        self.ticks += 1
        v.move_engine(moved)
        self.seen.update(moved)
        rounds = 0
        while rounds < cfg.max_rounds:
            rows = v.liquidatable()
            if rows.size == 0:
                break
            rounds += 1
            self.latencies.extend(liquidate_round(v, rows))
            px = self.prices(log_factors)  # the liquidations moved the price: the next round sees it
            v.move_engine(px)
            self.seen.update(px)
        self.rounds_max = max(self.rounds_max, rounds)
        return px

    def detail(self) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "clock_s": cfg.clock_s,
            "engine_ticks": self.ticks,
            "tick_move": cfg.cex_tick_move,
            "max_cascade_rounds": self.rounds_max,
            "adl_closed_usd": self.v.adl_closed,
            "penalty": cfg.cex.penalty,
            "buffer": cfg.cex.buffer,
        }

    def timing(self, wall_s: float) -> dict[str, float]:
        lat = np.array(self.latencies) * 1e3
        return {
            "wall_s": wall_s,
            "decision_latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else 0.0,
            "decision_latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else 0.0,
            "decision_latency_max_ms": float(lat.max()) if lat.size else 0.0,
        }
