"""Scenario sets and scenario repricing: the ``PnL[instrument, scenario]`` matrix.

A scenario moves one underlying's price by a relative ``price_move`` (index, forwards and marks together),
shocks implied vol by ``vol_dir`` ∈ {−1, 0, +1} times an expiry-dependent relative shock, and may shift
rates. Instruments on other underlyings do not move. Repricing is one vectorised Black-76 call over the
(instrument × scenario) grid of options.

Two views of P&L (per coin of size):
- ``settlement``: in each instrument's settlement asset (Deribit's S:PM). An inverse future of q coin makes
  ``q·(1 − 1/(1+s))`` coin; a coin balance has no risk in its own currency.
- ``usd``: everything in USD, coin collateral included (cross-collateral PM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from xmargin.instruments import Kind
from xmargin.pricing import black76_price
from xmargin.risk._resolve import KIND_CODE, InstrumentTable

FloatArray = NDArray[np.float64]
VIEWS = ("settlement", "usd")


@dataclass(frozen=True, slots=True, eq=False)
class ScenarioSet:
    """S scenarios as arrays of length S."""

    underlying: NDArray[np.str_]
    price_move: FloatArray
    vol_dir: NDArray[np.int8]
    rate_shift: FloatArray
    weight: FloatArray
    """fraction of the scenario's loss counted (1 for standard scenarios, e.g. 0.35 for SPAN's extremes)"""
    label: NDArray[np.str_]

    def __len__(self) -> int:
        return int(self.price_move.shape[0])

    @staticmethod
    def concat(sets: list[ScenarioSet]) -> ScenarioSet:
        if not sets:
            e = np.array([], dtype=np.float64)
            return ScenarioSet(
                np.array([], dtype=np.str_), e, np.array([], dtype=np.int8), e, e, np.array([], dtype=np.str_)
            )
        return ScenarioSet(
            *(
                np.concatenate([getattr(s, f) for s in sets])
                for f in ("underlying", "price_move", "vol_dir", "rate_shift", "weight", "label")
            )
        )


def scenario_pnl(
    table: InstrumentTable,
    scenarios: ScenarioSet,
    *,
    view: str,
    vol_up: FloatArray,
    vol_down: FloatArray,
    rate: float = 0.0,
) -> FloatArray:
    """``PnL[instrument, scenario]`` per coin of size, in the settlement asset or in USD (``view``).

    ``vol_up``/``vol_down``: relative vol shocks per instrument (only options use them); a scenario with
    ``vol_dir`` +1 multiplies the option's vol by ``1 + vol_up``, −1 by ``1 − vol_down`` (floored at 1%).
    """
    n, s_count = len(table.instruments), len(scenarios)
    pnl = np.zeros((n, s_count))
    if n == 0 or s_count == 0:
        return pnl
    # (n, S): the scenario moves the instrument's underlying; built per underlying (a few string compares
    # of length n and S) rather than by comparing n × S strings
    hit = np.zeros((n, s_count), dtype=np.bool_)
    for u in np.unique(scenarios.underlying):
        hit |= (table.underlying == u)[:, None] & (scenarios.underlying == u)[None, :]
    move = np.where(hit, scenarios.price_move[None, :], 0.0)
    # rate shifts move dated forwards by exp(dr·T) (carry) and discount linear options; a set without any
    # (pm-deribit's) skips them: exp(0·T) = 1 and rate + 0 = rate exactly, so the P&L is the same
    dr = np.where(hit, scenarios.rate_shift[None, :], 0.0) if scenarios.rate_shift.any() else None
    opt = table.kind == KIND_CODE[Kind.OPTION]
    vol_mult = np.ones((int(opt.sum()), s_count))
    if opt.any():
        up, down = vol_up[opt], vol_down[opt]
        vdir = np.where(hit[opt], scenarios.vol_dir[None, :], 0)
        vol_mult = np.where(
            vdir > 0, 1.0 + up[:, None], np.where(vdir < 0, np.maximum(1.0 - down[:, None], 0.01), 1.0)
        )
    return reprice(table, move, vol_mult, dr, view=view, rate=rate)


def joint_scenario_pnl(
    table: InstrumentTable,
    underlyings: tuple[str, ...],
    price_move: FloatArray,
    vol_move: FloatArray,
    *,
    view: str = "usd",
    rate: float = 0.0,
) -> FloatArray:
    """``PnL[instrument, scenario]`` for joint scenarios that move several underlyings at once (historical and
    filtered-historical sets): ``price_move[u, s]`` and ``vol_move[u, s]`` are relative moves of underlying
    ``underlyings[u]``'s price and of its options' implied vols (vol × (1 + move), floored at 1%); an
    instrument on an underlying not listed does not move (a stablecoin)."""
    n, s_count = len(table.instruments), price_move.shape[1]
    if n == 0 or s_count == 0:
        return np.zeros((n, s_count))
    where = {u: k for k, u in enumerate(underlyings)}
    row = np.array([where.get(str(u), -1) for u in table.underlying], dtype=np.intp)
    listed = row >= 0
    move = price_move[np.maximum(row, 0)]
    move[~listed] = 0.0
    opt = table.kind == KIND_CODE[Kind.OPTION]
    vmove = vol_move[np.maximum(row[opt], 0)]
    vmove[~listed[opt]] = 0.0
    vol_mult = np.maximum(1.0 + vmove, 0.01)
    return reprice(table, move, vol_mult, None, view=view, rate=rate)


def reprice(
    table: InstrumentTable,
    move: FloatArray,
    vol_mult: FloatArray,
    dr: FloatArray | None,
    *,
    view: str,
    rate: float,
) -> FloatArray:
    """The one repricing behind every scenario set: ``PnL[instrument, scenario]`` per coin of size when each
    instrument's underlying moves by ``move[i, s]`` (relative), its implied vol is multiplied by
    ``vol_mult[k, s]`` (options, in table order) and rates shift by ``dr[i, s]`` (None: no shift). Each kind
    of instrument is priced on its own rows only."""
    n, s_count = move.shape
    pnl = np.zeros((n, s_count))
    t = table.t_years
    kind = table.kind
    fwd = table.forward
    inv = table.inverse

    def shocked(rows: NDArray[np.bool_]) -> tuple[FloatArray, FloatArray]:
        """``1 + move`` and the shocked forward ``F·(1 + move)·exp(dr·T)`` of ``rows``."""
        growth = 1.0 + move[rows]
        f_new = fwd[rows, None] * growth
        if dr is not None:  # rate shifts move dated forwards by exp(dr·T) (carry)
            f_new = f_new * np.exp(dr[rows] * np.maximum(t[rows], 0.0)[:, None])
        return growth, f_new

    delta_one = (kind == KIND_CODE[Kind.FUTURE]) | (kind == KIND_CODE[Kind.PERPETUAL])
    spot = kind == KIND_CODE[Kind.SPOT]
    opt = kind == KIND_CODE[Kind.OPTION]
    # --- futures and perpetuals ------------------------------------------------------------------------
    if delta_one.any():
        d1 = delta_one
        growth, f_new = shocked(d1)
        if view == "settlement":
            lin = (f_new - fwd[d1, None]) / table.settle_usd[d1, None]
            inv_coin = 1.0 - fwd[d1, None] / f_new
            pnl[d1] = np.where(inv[d1, None], inv_coin, lin)
        else:
            # inverse: coin P&L at the shocked coin index = (1 − F/F')·S' ; linear: F' − F
            out = f_new - fwd[d1, None]
            i1 = inv[d1]
            if i1.any():
                s_new = table.index_usd[d1][i1, None] * growth[i1]
                out[i1] = (1.0 - fwd[d1][i1, None] / f_new[i1]) * s_new
            pnl[d1] = out
    # --- spot balances: no risk in their own currency; in USD they move with their index -----------------
    if spot.any() and view == "usd":
        pnl[spot] = table.index_usd[spot, None] * move[spot]
    # --- options: full Black-76 repricing on the grid ----------------------------------------------------
    if opt.any():
        growth, f_new = shocked(opt)
        vol_new = table.vol[opt, None] * vol_mult
        p_new = black76_price(
            forward=f_new,
            strike=table.strike[opt, None],
            t_years=t[opt, None],
            vol=vol_new,
            is_call=table.is_call[opt, None],
            rate=rate if dr is None else rate + dr[opt],
        )
        p_old = black76_price(
            forward=fwd[opt],
            strike=table.strike[opt],
            t_years=t[opt],
            vol=table.vol[opt],
            is_call=table.is_call[opt],
            rate=rate,
        )
        inv_o = inv[opt, None]
        if view == "settlement":
            coin = p_new / f_new - (p_old / fwd[opt])[:, None]
            lin = (p_new - p_old[:, None]) / table.settle_usd[opt, None]
            pnl[opt] = np.where(inv_o, coin, lin)
        else:
            s0 = table.index_usd[opt, None]
            s_new = s0 * growth
            usd_inv = p_new / f_new * s_new - (p_old / fwd[opt])[:, None] * s0
            pnl[opt] = np.where(inv_o, usd_inv, p_new - p_old[:, None])
    return pnl
