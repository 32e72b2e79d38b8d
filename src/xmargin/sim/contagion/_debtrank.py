"""DebtRank: how much of a system's economic value is put in distress by an initial set of failures.

Battiston, Puliga, Kaushik, Tasca and Caldarelli, "DebtRank: Too Central to Fail? Financial Networks, the
FED and Systemic Risk", Scientific Reports 2, 541 (2012), Methods. Each node ``i`` has a relative economic
value ``v_i`` (Σ v = 1) and a distress ``h_i ∈ [0, 1]`` (0: undistressed, 1: default); ``W[i, j]`` is the
impact of ``i``'s default on ``j`` (``j``'s exposure to ``i`` over ``j``'s capital, capped at 1). Each node
is Undistressed, Distressed or Inactive. At t = 1 the initially distressed set has ``h = ψ`` and state D.
Then, every step:

    h_j(t) = min(1, h_j(t−1) + Σ_{i : s_i(t−1) = D} W[i, j] · h_i(t−1))
    s_j(t) = D if h_j(t) > 0 and s_j(t−1) ≠ I;  I if s_j(t−1) = D;  else s_j(t−1)

so a node propagates its distress once (a walk through a cycle is not counted twice, the paper's reason
for the states). When no node is distressed the process stops at T, and

    R = Σ_j h_j(T) · v_j − Σ_j h_j(1) · v_j

is the value lost beyond the initial shock (the DebtRank of the initial set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError

FloatArray = NDArray[np.float64]
_U, _D, _I = 0, 1, 2


@dataclass(frozen=True, slots=True)
class DebtRankResult:
    """``debtrank`` (R), the final distress of each node and the number of propagation steps."""

    debtrank: float
    distress: FloatArray
    steps: int


def debtrank(
    impact: FloatArray, value: FloatArray, initial: FloatArray, *, max_steps: int = 10_000
) -> DebtRankResult:
    """DebtRank of the initial distress ``initial`` (h at t = 1; nodes with h > 0 start Distressed).

    ``impact``: (n, n), ``impact[i, j]`` = impact of node i on node j, clipped to [0, 1]; ``value``:
    (n,) relative economic values, normalised here to sum to 1."""
    w = np.asarray(impact, dtype=np.float64)
    v = np.asarray(value, dtype=np.float64)
    h = np.asarray(initial, dtype=np.float64).copy()
    n = v.size
    if w.shape != (n, n) or h.shape != (n,):
        raise InputError(where="debtrank", expected=f"impact ({n}, {n}) and initial ({n},)", found=w.shape)
    if np.any(v < 0) or v.sum() <= 0:
        raise InputError(where="debtrank.value", expected="values >= 0, not all 0", found=v.tolist())
    if np.any((h < 0) | (h > 1)):
        raise InputError(where="debtrank.initial", expected="distress in [0, 1]", found=h.tolist())
    w = np.clip(w, 0.0, 1.0)
    v = v / v.sum()
    h1 = h.copy()
    s = np.where(h > 0, _D, _U)
    steps = 0
    while np.any(s == _D) and steps < max_steps:
        steps += 1
        active = s == _D
        h_new = np.minimum(1.0, h + (h * active) @ w)
        s_new = s.copy()
        s_new[active] = _I
        s_new[(h_new > 0) & (s == _U)] = _D
        h, s = h_new, s_new
    return DebtRankResult(float(h @ v - h1 @ v), h, steps)
