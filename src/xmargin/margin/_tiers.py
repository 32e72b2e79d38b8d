"""Margin tiers by position notional (Binance style, B1/B2 in ``_simple``).

Tier ``n`` covers notionals from ``floor_n`` (inclusive) to ``floor_{n+1}``::

    IM = notional / max_leverage_n
    MM = notional · mmr_n − cum_n,     cum_1 = 0,  cum_n = floor_n · (mmr_n − mmr_{n−1}) + cum_{n−1}

The ``cum`` ("maintenance amount") recursion makes MM continuous in the notional; e.g. B1's
``250,000 × (1% − 0.5%) + 50 = 1,300``. A fixed-ratio preset is a single tier from 0 with ``cum = 0``.
Beyond the last floor the last tier applies (the venue would refuse the position; we do not cap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True, slots=True, eq=False)
class TierTable:
    """Margin tiers of one underlying's futures and perpetuals, by position notional (USD).

    Arrays of length n_tiers: ``floor_usd`` (increasing, first 0), ``initial`` (IM rate = 1/max leverage),
    ``maintenance`` (MMR, non-decreasing) and ``cum_usd`` (maintenance amount, derived by B1's recursion).
    """

    floor_usd: FloatArray
    initial: FloatArray
    maintenance: FloatArray
    cum_usd: FloatArray

    @classmethod
    def build(
        cls,
        floor_usd: Sequence[float],
        initial: Sequence[float],
        maintenance: Sequence[float],
        *,
        where: str = "tiers",
    ) -> TierTable:
        f = np.asarray(floor_usd, dtype=np.float64)
        im = np.asarray(initial, dtype=np.float64)
        mmr = np.asarray(maintenance, dtype=np.float64)
        if f.size == 0 or f[0] != 0.0:
            raise InputError(
                where=f"{where}[0].floor_usd",
                expected="0 (the first tier starts at 0)",
                found=float(f[0]) if f.size else "no tiers",
            )
        for i in range(1, f.size):
            if f[i] <= f[i - 1]:
                raise InputError(
                    where=f"{where}[{i}].floor_usd",
                    expected=f"> {f[i - 1]:g} (increasing floors)",
                    found=float(f[i]),
                )
            if mmr[i] < mmr[i - 1]:
                raise InputError(
                    where=f"{where}[{i}].maintenance",
                    expected=f">= {mmr[i - 1]:g} (non-decreasing)",
                    found=float(mmr[i]),
                )
        for i in range(f.size):
            if im[i] < mmr[i]:
                raise InputError(
                    where=f"{where}[{i}].initial",
                    expected=f"an IM rate >= the maintenance rate {mmr[i]:g}",
                    found=float(im[i]),
                )
        # B1: cum_n = floor_n · (mmr_n − mmr_{n−1}) + cum_{n−1}, cum_1 = 0
        cum = np.concatenate([[0.0], np.cumsum(f[1:] * np.diff(mmr))])
        return cls(f, im, mmr, cum)

    @classmethod
    def fixed(cls, initial: float, maintenance: float) -> TierTable:
        return cls.build([0.0], [initial], [maintenance])

    @property
    def n_tiers(self) -> int:
        return int(self.floor_usd.size)

    def tier(self, notional_usd: FloatArray) -> IntArray:
        """0-based tier of each notional (a floor belongs to the tier it starts)."""
        return np.asarray(np.searchsorted(self.floor_usd, notional_usd, side="right") - 1, dtype=np.intp)

    def margin(self, notional_usd: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
        """``(IM, MM, tier)`` in the notional's currency, for notionals ≥ 0."""
        t = self.tier(notional_usd)
        im = notional_usd * self.initial[t]
        mm = np.maximum(notional_usd * self.maintenance[t] - self.cum_usd[t], 0.0)
        return im, mm, t

    def as_table(self) -> dict[str, tuple[float, ...]]:
        return {
            "floor_usd": tuple(self.floor_usd.tolist()),
            "initial": tuple(self.initial.tolist()),
            "maintenance": tuple(self.maintenance.tolist()),
            "maintenance_amount_usd": tuple(self.cum_usd.tolist()),
        }
