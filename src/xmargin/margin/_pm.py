"""``pm``: scenario portfolio margin, driven by a preset (Deribit-style by default, SPAN-style as ``pm-span``).

One computation (ARCHITECTURE.md): resolve → scenarios → ``PnL[instrument, scenario]`` → ``Q @ PnL`` per risk
group → charge. Per risk group (settlement view: settlement asset × underlying; USD view: underlying):

- **worst loss** over the standard grid (price moves × vol up/unchanged/down, × rate shifts if any), the
  extended table (Deribit: P&L at vol-up scaled by ``factor · range/|m|``, and for coin-settled groups by
  ``(1+m)/(1+sign(m)·range)``, which reproduces Deribit's published examples) and SPAN-style extreme moves
  (a fraction ``cover`` of the loss);
- **roll shock** per expiry: ``max(exp(annualised_move_risk·T) − 1, min_annualised_move) · |net delta|``
  (perpetuals: ``min_annualised_move · |delta|``), Deribit's ``roll_shock``;
- **delta shock** above a net-delta threshold (Deribit ``delta_shock``; zero below 20M USD);
- **short-option minimum**: ``per_coin · index`` per coin of net short options, added or used as a floor.

Across underlyings the group requirements are summed, less an optional ``correlation_offset`` share of all
but the largest. ``initial = that total``; ``maintenance = mm_factor · initial``. Amounts in USD (a group
measured in coin is converted at its coin's index).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xmargin.margin._collateral import CollateralPolicy
from xmargin.margin._model import MarginResult, register
from xmargin.margin._pm_preset import PmPreset, load_pm_preset
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, InstrumentTable, ScenarioSet, equity_usd, resolve, scenario_pnl

FloatArray = NDArray[np.float64]
MIN_DAYS_FOR_VOL_SHOCK = 1.0
"""Vol shocks grow as (pivot/days)^power; expiries under one day are shocked as one day (xmargin's choice)."""


@dataclass(frozen=True, slots=True, eq=False)
class _Charge:
    """One risk group's requirement per account (USD) and its parts."""

    total: FloatArray
    worst: FloatArray
    worst_j: NDArray[np.intp]
    roll: FloatArray
    delta_shock: FloatArray
    som: FloatArray
    pnl: FloatArray
    weight: FloatArray


def _dense(x: Any) -> FloatArray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)


@register("pm")
class PortfolioMargin:
    """Scenario portfolio margin. ``preset``: ``pm-deribit`` (default), ``pm-span``, a YAML file or a mapping."""

    name = "pm"
    scales_linearly = True
    scales_linearly_reason = (
        "linear while the delta shock is not triggered (net delta under its USD threshold, 20M by default)"
    )

    def __init__(
        self,
        preset: str | Path | Mapping[str, Any] | PmPreset | None = None,
        *,
        view: str | None = None,
        collateral: CollateralPolicy | None = None,
    ) -> None:
        self.preset = load_pm_preset(preset)
        if view is not None and view not in ("settlement", "usd"):
            from xmargin.core import InputError

            raise InputError(where="view", expected="settlement or usd", found=view)
        self.view: str = view or self.preset.view
        self.subadditive = not self.preset.long_options_at_premium
        self.subadditive_reason = (
            "the long-option premium cap takes the smaller of two charges per group, which a union of books "
            "may not be able to reproduce (e.g. two long calls each capped alone)"
        )
        self.collateral = collateral or CollateralPolicy.from_mapping(
            self.preset.collateral, where=f"{self.preset.name}.collateral"
        )

    def __repr__(self) -> str:
        return f"PortfolioMargin(preset={self.preset.name!r}, view={self.view!r})"

    # -- scenarios ---------------------------------------------------------------------------------------
    def scenarios(self, underlyings: list[str]) -> ScenarioSet:
        """The scenario set of the preset for these underlyings (standard, extended, extreme)."""
        p = self.preset
        sets: list[ScenarioSet] = []
        dr = [0.0] + ([p.rate_shift, -p.rate_shift] if p.rate_shift > 0 else [])
        for u in underlyings:
            rng = p.params(u).price_range
            moves, vols, rates, weights, labels = [], [], [], [], []
            for r in dr:
                for m in p.grid.multiples():
                    for v in p.grid.vol_dirs:
                        moves.append(m * rng)
                        vols.append(v)
                        rates.append(r)
                        weights.append(1.0)
                        labels.append("standard")
            if p.extended is not None:
                for m in p.extended.moves:
                    moves.append(m)
                    vols.append(1)
                    rates.append(0.0)
                    weights.append(p.extended.factor * rng / abs(m))
                    labels.append("extended")
            if p.extreme is not None:
                for sign in (1.0, -1.0):
                    moves.append(sign * p.extreme.multiple * rng)
                    vols.append(0)
                    rates.append(0.0)
                    weights.append(p.extreme.cover)
                    labels.append("extreme")
            k = len(moves)
            sets.append(
                ScenarioSet(
                    np.array([u] * k, dtype=np.str_),
                    np.array(moves),
                    np.array(vols, dtype=np.int8),
                    np.array(rates),
                    np.array(weights),
                    np.array(labels, dtype=np.str_),
                )
            )
        return ScenarioSet.concat(sets)

    def vol_shocks(self, table: InstrumentTable) -> tuple[FloatArray, FloatArray]:
        """Relative vol-up and vol-down shock per instrument: ``range · (pivot/days)^power``."""
        vs = self.preset.vol_shock
        days = np.maximum(table.t_years * 365.0, MIN_DAYS_FOR_VOL_SHOCK)
        power = np.where(days < vs.pivot_days, vs.short_term_power, vs.long_term_power)
        scale = (vs.pivot_days / days) ** power
        up = np.array([self.preset.params(str(u)).vol_up for u in table.underlying]) * scale
        down = np.minimum(
            np.array([self.preset.params(str(u)).vol_down for u in table.underlying]) * scale, 0.99
        )
        return up, down

    # -- the model ---------------------------------------------------------------------------------------
    def requirement(self, book: Book, market: MarketSnapshot, *, detail: bool = True) -> MarginResult:
        table = resolve(book, market)
        n_acc = book.n_accounts
        equity = equity_usd(book, table)
        balance = equity - self.collateral.haircut_usd(book, table, market)
        p = self.preset
        stable = set(p.stablecoins)
        derivative = ~table.is_spot
        shocked = [str(u) for u in np.unique(table.underlying) if str(u) not in stable]
        if self.view == "settlement":
            shocked = [u for u in shocked if (derivative & (table.underlying == u)).any()]
        scen = self.scenarios(shocked)
        up, down = self.vol_shocks(table)
        pnl = scenario_pnl(table, scen, view=self.view, vol_up=up, vol_down=down, rate=market.rate)
        groups: list[tuple[str, str]] = []
        for u in shocked:
            if self.view == "usd":
                groups.append((u, "USD"))
            else:
                for ccy in np.unique(table.settle[derivative & (table.underlying == u)]):
                    groups.append((u, str(ccy)))
        per_underlying: dict[str, FloatArray] = {u: np.zeros(n_acc) for u in shocked}
        details: list[list[dict[str, Any]]] = [[] for _ in range(n_acc)]
        for u, ccy in groups:
            in_u = table.underlying == u
            cols = in_u if self.view == "usd" else in_u & derivative & (table.settle == ccy)
            ci = np.flatnonzero(cols)
            si = np.flatnonzero(scen.underlying == u)
            q = book.q[:, ci].tocsr()
            full = self._charge(q, table, ci, scen, si, pnl, u, ccy, market)
            # Long options can lose at most their premium: the group is also charged as "everything but its
            # long options, plus their full value", and the smaller of the two counts.
            alt_total = np.full(n_acc, np.inf)
            if p.long_options_at_premium:
                long_opt = q.multiply((q > 0).multiply(table.is_option[ci][None, :])).tocsr()
                if long_opt.nnz:
                    carved = self._charge((q - long_opt).tocsr(), table, ci, scen, si, pnl, u, ccy, market)
                    alt_total = carved.total + _dense(long_opt @ table.value_usd[ci]).reshape(-1)
            total = np.minimum(full.total, alt_total)
            per_underlying[u] += total
            if detail:
                ccy_usd = 1.0 if self.view == "usd" else float(market.index(ccy))
                for i in np.flatnonzero(_dense(abs(q).sum(axis=1)).reshape(-1) > 0):
                    j = int(full.worst_j[i])
                    details[i].append(
                        {
                            "underlying": u,
                            "settlement": ccy,
                            "requirement_usd": float(total[i]),
                            "worst_loss_usd": float(full.worst[i]),
                            "worst_scenario": {
                                "price_move": float(scen.price_move[si][j]),
                                "vol_shock": int(scen.vol_dir[si][j]),
                                "rate_shift": float(scen.rate_shift[si][j]),
                                "kind": str(scen.label[si][j]),
                                "weight": float(full.weight[j]),
                            },
                            "roll_shock_usd": float(full.roll[i]),
                            "delta_shock_usd": float(full.delta_shock[i]),
                            "short_option_minimum_usd": float(full.som[i]),
                            "long_options_at_premium": bool(alt_total[i] < full.total[i]),
                            "pnl_grid": self._grid(full.pnl[i], si, scen, ccy_usd),
                        }
                    )
        if shocked:
            stack = np.stack([per_underlying[u] for u in shocked])
            total_req = stack.sum(axis=0)
            off = p.combine.correlation_offset
            if off > 0 and len(shocked) > 1:
                total_req = total_req - off * (total_req - stack.max(axis=0))
        else:
            total_req = np.zeros(n_acc)
        im = total_req
        mm = p.mm_factor * im
        breakdown: tuple[dict[str, Any], ...] = ()
        if detail:
            held = {
                u: _dense(abs(book.q[:, np.flatnonzero(table.underlying == u)]).sum(axis=1)).reshape(-1) > 0
                for u in shocked
            }
            breakdown = tuple(
                {
                    "preset": p.name,
                    "view": self.view,
                    "mm_factor": p.mm_factor,
                    "per_underlying_usd": {u: float(per_underlying[u][i]) for u in shocked if held[u][i]},
                    "groups": details[i],
                }
                for i in range(n_acc)
            )
        return MarginResult(self.name, book.accounts, im, mm, equity, balance, breakdown)

    def _charge(
        self,
        q: Any,
        table: InstrumentTable,
        ci: NDArray[np.intp],
        scen: ScenarioSet,
        si: NDArray[np.intp],
        pnl: FloatArray,
        u: str,
        ccy: str,
        market: MarketSnapshot,
    ) -> _Charge:
        """Worst loss and add-ons of one risk group for the sizes ``q`` (accounts × the group's columns)."""
        p = self.preset
        n_acc = q.shape[0]
        a = _dense(q @ pnl[np.ix_(ci, si)])  # (accounts, scenarios of u), group units
        ccy_usd = 1.0 if self.view == "usd" else float(market.index(ccy))
        index_u = float(market.index(u))
        pu = p.params(u)
        w = scen.weight[si].copy()
        ext = scen.label[si] == "extended"
        if self.view == "settlement" and ccy == u and ext.any():
            m = scen.price_move[si][ext]
            w[ext] *= (1.0 + m) / (1.0 + np.sign(m) * pu.price_range)
        loss = -a * w[None, :]
        worst_j = np.argmax(loss, axis=1) if loss.shape[1] else np.zeros(n_acc, dtype=np.intp)
        worst = (
            np.maximum(loss[np.arange(n_acc), worst_j], 0.0) if loss.shape[1] else np.zeros(n_acc)
        ) * ccy_usd
        # roll shock per expiry on net delta (coin), Deribit roll_shock
        kinds_dated = (table.is_linear_delta_one | table.is_option)[ci]
        t_cols = table.t_years[ci]
        delta = table.delta[ci] * kinds_dated
        roll = np.zeros(n_acc)
        for t in np.unique(t_cols[kinds_dated]):
            e = (t_cols == t) & kinds_dated
            net = np.abs(_dense(q @ (delta * e)).reshape(-1))
            rate = (
                pu.min_annualised_move
                if t <= 0
                else max(float(np.expm1(pu.annualised_move_risk * t)), pu.min_annualised_move)
            )
            roll += rate * net * index_u
        net_delta = np.abs(_dense(q @ delta).reshape(-1))
        ds = p.delta_shock
        delta_usd = net_delta * index_u
        delta_shock = np.minimum(
            np.maximum(delta_usd - ds.threshold_usd, 0.0) * net_delta * ds.slope, ds.max_fraction * delta_usd
        )
        short_opt = _dense((-q.minimum(0.0)) @ table.is_option[ci].astype(np.float64)).reshape(-1)
        som = p.short_option_minimum.per_coin * short_opt * index_u
        core = worst + roll + delta_shock
        total = core + som if p.short_option_minimum.mode == "add" else np.maximum(core, som)
        return _Charge(total, worst, worst_j, roll, delta_shock, som, a, w)

    def _grid(
        self, row: FloatArray, si: NDArray[np.intp], scen: ScenarioSet, ccy_usd: float
    ) -> dict[str, Any]:
        """The standard-table P&L (USD) of one account as price move × vol shock, at no rate shift."""
        std = (scen.label[si] == "standard") & (scen.rate_shift[si] == 0.0)
        moves = sorted({float(x) for x in scen.price_move[si][std]})
        vols = sorted({int(x) for x in scen.vol_dir[si][std]}, reverse=True)
        grid = [[0.0] * len(moves) for _ in vols]
        for j in np.flatnonzero(std):
            grid[vols.index(int(scen.vol_dir[si][j]))][moves.index(float(scen.price_move[si][j]))] = float(
                row[j] * ccy_usd
            )
        return {"price_moves": moves, "vol_shocks": vols, "pnl_usd": grid}


__all__ = ["PortfolioMargin"]
