"""What the contagion run's losses did to the network: market-maker legs left unhedged and DebtRank on the
loss network (nodes and weights: ``_model``'s docstring, "DebtRank")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from xmargin.sim.contagion._debtrank import debtrank

if TYPE_CHECKING:
    from xmargin.sim.contagion._model import _Run, _Venue


def unhedged(run: _Run) -> float:
    """Notional (USD, at the end) of market-maker legs still open whose other leg was closed."""
    px = run.history[-1] if run.history else run.px0
    legs: dict[int, list[tuple[_Venue, int]]] = {}
    for v in run.venues:
        for i in np.flatnonzero(v.mm >= 0):
            legs.setdefault(int(v.mm[i]), []).append((v, int(i)))
    total = 0.0
    for pair in legs.values():
        open_ = [(v, i) for v, i in pair if v.size[i] != 0]
        if len(open_) == 1:
            leg, row = open_[0]
            total += abs(float(leg.size[row])) * float(px[leg.asset[row]])
    return total


def loss_debtrank(run: _Run) -> float:
    """DebtRank on the run's loss network (see the module docstring)."""
    names: list[str] = []
    value: list[float] = []
    for v in run.venues:
        names.append(f"venue:{v.spec.name}")
        value.append(max(v.fund0, 1.0))
    for v in run.venues:
        names.append(f"traders:{v.spec.name}")
        value.append(float(v.capital[v.mm < 0].sum()))
    n_mm = len(run.cfg.market_makers)
    for m in run.cfg.market_makers:
        names.append(f"mm:{m.name}")
        value.append(0.0)
    n = len(names)
    w = np.zeros((n, n))
    h0 = np.zeros(n)
    lost = np.zeros(n)
    nv = len(run.venues)
    for k, v in enumerate(run.venues):
        tr = nv + k
        traders = v.mm < 0
        w[tr, k] = float(v.debt[traders].sum()) / max(v.fund0, 1.0)
        if value[tr] > 0:
            w[k, tr] = float(v.charged[traders].sum()) / value[tr]
            lost[tr] += float(v.capital[traders & ~v.alive].sum())
        for i in np.flatnonzero(v.mm >= 0):
            node = 2 * nv + int(v.mm[i])
            value[node] += float(v.capital[i])
            w[node, k] += float(v.debt[i]) / max(v.fund0, 1.0)
            w[k, node] += float(v.charged[i])
            lost[node] += float(v.capital[i]) if not v.alive[i] else 0.0
    for node in range(2 * nv, 2 * nv + n_mm):
        if value[node] > 0:
            w[:nv, node] /= value[node]
    vals = np.array(value)
    h0 = np.where(vals > 0, np.minimum(lost / np.maximum(vals, 1e-12), 1.0), 0.0)
    if vals.sum() <= 0 or not np.any(h0 > 0):
        return 0.0
    return debtrank(w, vals, h0).debtrank


__all__ = ["loss_debtrank", "unhedged"]
