"""Collateral valuation with haircuts: static per asset, rising with the asset's implied vol, or from the
asset's own filtered-historical-simulation tail.

``margin_balance = equity − Σ_assets haircut_a · |balance_a · index_a|``: a held balance counts at
``(1 − h)`` of its value and a borrowed (negative) balance is a liability counted at ``(1 + h)``, so a
haircut can only lower the margin balance (never above equity).

Three modes (``CollateralPolicy``):

- **static**: ``h_a`` = the preset's haircut of the asset (``haircuts``, else ``default_haircut``);
- **implied** (``dynamic``): ``h_a = clip(k · σ_a · √(horizon_days / 365), floor_a, cap)``, with σ_a the
  asset's implied vol from the market (its flat ``vol``, else the nearest ATM vol of its surface). The form is
  that of a one-sided VaR over the liquidation horizon (k ≈ 2.33 for 99%), as used for collateral haircuts in
  e.g. the BIS/IOSCO margin framework for non-centrally cleared derivatives (2020), §3;
- **fhs** (``fhs``: ``FhsHaircuts``): each asset's haircut is the expected shortfall of its own h-day loss
  under filtered historical simulation, as of the last close before the valuation time, with a cap on how
  fast it may change per day (``risk/_haircut_path.py``); a held balance takes the lower tail, a borrowed
  one the upper tail. Stablecoins take a cited depeg scenario. The static haircut is the floor.

Stress raises σ in both dynamic modes, so margin tightens without a parameter change. An asset the mode
cannot cover (no vol, no history, a day outside the history) keeps its static haircut, named in
``warnings``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from xmargin.core import check
from xmargin.margin._result import CollateralLine
from xmargin.market import MarketSnapshot, PriceHistory
from xmargin.risk import (
    Book,
    FilteredHistory,
    HaircutPath,
    InstrumentTable,
    depeg_haircut,
    fhs_haircut_path,
)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FhsHaircutParams:
    """Parameters of the FHS haircuts (sources in the preset that sets them)."""

    lam: float = 0.94
    confidence: float = 0.99
    horizon_days: int = 2
    lookback_days: int = 1000
    vol_ratio_cap: float | None = 2.0
    max_daily_change: float = 0.05
    depeg: Mapping[str, float] = field(default_factory=dict)
    """stablecoin → relative loss of its depeg scenario"""

    def __post_init__(self) -> None:
        check.in_range(self.confidence, 0.5, 0.9999, where="collateral.fhs.confidence")
        check.in_range(self.max_daily_change, 0.0, 1.0, where="collateral.fhs.max_daily_change")
        for asset, loss in self.depeg.items():
            check.in_range(loss, 0.0, 1.0, where=f"collateral.fhs.depeg.{asset}")


@dataclass(frozen=True, slots=True, eq=False)
class FhsHaircuts:
    """The haircut paths of every asset of a history, computed once (``risk.fhs_haircut_path``)."""

    params: FhsHaircutParams
    history_name: str
    paths: Mapping[str, HaircutPath]

    @staticmethod
    def build(
        history: PriceHistory,
        params: FhsHaircutParams,
        *,
        floors: Mapping[str, float],
        default_floor: float,
        cap: float,
    ) -> FhsHaircuts:
        filtered = FilteredHistory.build(history, params.lam)
        paths = {
            a: fhs_haircut_path(
                filtered,
                a,
                confidence=params.confidence,
                horizon_days=params.horizon_days,
                lookback_days=params.lookback_days,
                ratio_cap=params.vol_ratio_cap,
                floor=floors.get(a, default_floor),
                cap=cap,
                max_daily_change=params.max_daily_change,
            )
            for a in history.underlyings
        }
        return FhsHaircuts(params, history.name, paths)

    def depeg(self, asset: str) -> float | None:
        loss = self.params.depeg.get(asset)
        if loss is None:
            return None
        return depeg_haircut(loss, confidence=self.params.confidence, lookback_days=self.params.lookback_days)

    def lookup(self, asset: str, market: MarketSnapshot) -> tuple[float, float, str | None] | None:
        """(held, borrowed, warning) for ``asset`` on the last close before the valuation time; None when
        the history has no haircut for it on or before that day."""
        path = self.paths.get(asset)
        if path is None:
            return None
        day = np.datetime64((market.valuation_time - timedelta(days=1)).date(), "D")
        row = min(path.row(day), path.last)
        if row < path.first:
            return None
        warning = None
        if day > path.dates[path.last]:
            stale = int((day - path.dates[path.last]).astype(int))
            warning = (
                f"collateral: the fhs haircut of {asset} is as of {path.dates[path.last]}, the last day of "
                f"history {self.history_name}, {stale} day(s) before {day}"
            )
        return float(path.held[row]), float(path.borrowed[row]), warning


Basis = Literal["static", "implied", "fhs"]


@dataclass(frozen=True, slots=True)
class _Sides:
    """One asset's haircut for a held and a borrowed balance, how it was set, and what had to be assumed."""

    held: float
    borrowed: float
    basis: Basis
    warning: str | None


@dataclass(frozen=True, slots=True)
class CollateralPolicy:
    """Haircuts per asset (fraction of value): static; ``dynamic`` turns on implied-vol haircuts, ``fhs``
    haircuts from each asset's historical tail (module docstring)."""

    haircuts: Mapping[str, float] = field(default_factory=dict)
    default_haircut: float = 0.0
    dynamic: bool = False
    k: float = 2.33
    horizon_days: float = 1.0
    cap: float = 0.5
    fhs: FhsHaircuts | None = None

    def __post_init__(self) -> None:
        for asset, h in self.haircuts.items():
            check.in_range(h, 0.0, 1.0, where=f"collateral.haircuts.{asset}")
        check.in_range(self.default_haircut, 0.0, 1.0, where="collateral.default_haircut")
        check.in_range(self.k, 0.0, 10.0, where="collateral.k")
        check.in_range(self.horizon_days, 0.0, 365.0, where="collateral.horizon_days")
        check.in_range(self.cap, 0.0, 1.0, where="collateral.cap")

    @property
    def mode(self) -> Basis:
        return "fhs" if self.fhs is not None else "implied" if self.dynamic else "static"

    def lines(self, collateral: Mapping[str, float], market: MarketSnapshot) -> dict[str, CollateralLine]:
        """Each balance of ``collateral`` with its haircut (an account report's ``collateral``). An asset the
        dynamic mode had no data for shows the static haircut it fell back to, with basis ``static``."""
        out: dict[str, CollateralLine] = {}
        for asset, balance in collateral.items():
            if not market.has_index(asset):
                continue
            side = self._sides(asset, market)
            h = side.held if balance >= 0 else side.borrowed
            value = balance * market.index(asset)
            out[asset] = CollateralLine(balance, market.index(asset), value, h, abs(value) * h, side.basis)
        return out

    def floor(self, asset: str) -> float:
        return self.haircuts.get(asset, self.default_haircut)

    def haircut(self, asset: str, market: MarketSnapshot) -> float:
        """The haircut of a held balance of ``asset`` in ``market``."""
        return self._sides(asset, market).held

    def haircut_borrowed(self, asset: str, market: MarketSnapshot) -> float:
        """The add-on of a borrowed balance of ``asset`` in ``market``."""
        return self._sides(asset, market).borrowed

    def _sides(self, asset: str, market: MarketSnapshot) -> _Sides:
        floor = self.floor(asset)
        static = _Sides(floor, floor, "static", None)
        if self.fhs is not None:
            depeg = self.fhs.depeg(asset)
            if depeg is not None:
                h = min(max(depeg, floor), max(self.cap, floor))
                return _Sides(h, h, "fhs", None)
            found = self.fhs.lookup(asset, market)
            if found is None:
                why = (
                    f"collateral: no fhs haircut for {asset} on {market.valuation_time.date()} "
                    f"(history {self.fhs.history_name}): its static haircut {floor:g} is used"
                )
                return _Sides(floor, floor, "static", why)
            held, borrowed, stale = found
            return _Sides(held, borrowed, "fhs", stale)
        if not self.dynamic:
            return static
        sigma = asset_vol(asset, market)
        if sigma is None:
            return static
        h = float(
            min(max(self.k * sigma * math.sqrt(self.horizon_days / 365.0), floor), max(self.cap, floor))
        )
        return _Sides(h, h, "implied", None)

    def _spot_assets(self, table: InstrumentTable) -> list[tuple[int, str]]:
        insts = table.instruments
        return [(j, insts[j].base) for j in np.flatnonzero(table.is_spot).tolist()]

    def warnings(self, table: InstrumentTable, market: MarketSnapshot) -> tuple[str, ...]:
        """What the policy had to assume for the collateral assets of ``table`` (e.g. a static haircut where
        the dynamic mode has no data)."""
        assets = dict.fromkeys(a for _, a in self._spot_assets(table))  # each asset once, in column order
        out = dict.fromkeys(w for a in assets if (w := self._sides(a, market).warning) is not None)
        return tuple(out)

    def haircut_usd(self, book: Book, table: InstrumentTable, market: MarketSnapshot) -> FloatArray:
        """Per account: the USD amount the haircuts take off equity (≥ 0)."""
        held = np.zeros(len(table.instruments))
        borrowed = np.zeros(len(table.instruments))
        sides: dict[str, _Sides] = {}  # each asset's once (a stacked book holds one asset in many columns)
        for j, asset in self._spot_assets(table):
            side = sides.get(asset)
            if side is None:
                side = sides[asset] = self._sides(asset, market)
            held[j], borrowed[j] = side.held, side.borrowed
        if not held.any() and not borrowed.any():
            return np.zeros(book.n_accounts)
        q = book.q
        long_value = q.maximum(0.0).multiply(held * table.index_usd)  # balance·index·h, element-wise
        short_value = (-q).maximum(0.0).multiply(borrowed * table.index_usd)
        values = long_value + short_value
        return np.asarray(values.sum(axis=1), dtype=np.float64).reshape(-1)


def asset_vol(asset: str, market: MarketSnapshot) -> float | None:
    """An asset's annualised vol: its flat ``vol`` if given, else the shortest-expiry ATM vol of its surface."""
    if asset in market.vol:
        return market.vol[asset]
    surface = market.surfaces.get(asset)
    if surface is None:
        return None
    smile = surface.smiles[0]
    return float(smile.vol_at(0.0))
