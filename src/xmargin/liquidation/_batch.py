"""CEX partial liquidation of many accounts at once: ``liquidate_batch``.

The same rules as ``liquidation.liquidate`` (riskiest position first, slices of ``step`` of the position as
it was when the liquidation began, at mark with the penalty capped at the margin left, a backstop beyond
``depth_usd``, collateral sold at index when flat, bad debt below ``-DUST_USD``), applied to every account of
a liquidation round in lock-step: at each step every account still being liquidated contributes its rows
("the account" and "the account without position i") to **one** book, margined by **one** model call on
**one** prepared value (the round's columns, repriced once). The per-account loop only decides and books
the slices, which is bookkeeping, not risk math.

Against ``liquidate`` run account by account (the reference, kept): the decisions and fills are the same;
amounts can differ in the last bits, because an account's margin is summed over the round's column order
instead of its own (floating-point addition is not associative). ``tests/sim/test_fast_replay.py`` compares
whole replays of both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from xmargin.core import InputError
from xmargin.instruments import Instrument, Kind, Portfolio, Position
from xmargin.liquidation._cex import (
    DUST_USD,
    CexConfig,
    Fill,
    LiquidationResult,
    _flatten_collateral,
    _notional,
)
from xmargin.margin import MarginModel
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, Columns, resolve_instruments

_DEFAULT = CexConfig()


@dataclass(slots=True)
class _State:
    """One account's liquidation in progress (the locals of ``liquidate``)."""

    pf: Portfolio
    initial: dict[Instrument, float]
    fills: list[Fill] = field(default_factory=list)
    fee_total: float = 0.0
    closed: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    balance: float = 0.0
    mm: float = 0.0
    done: bool = False


def round_columns(accounts: Sequence[Portfolio]) -> Columns:
    """The columns of a round: every collateral asset, USDC and every position's instrument, in order of
    first appearance."""
    insts: dict[Instrument, None] = {}
    for pf in accounts:
        for a in pf.collateral:
            insts.setdefault(Instrument(Kind.SPOT, a))
        insts.setdefault(Instrument(Kind.SPOT, "USDC"))
        for p in pf.positions:
            insts.setdefault(p.instrument)
    return Columns.of(tuple(insts))


class _Evaluator:
    """Margin of many portfolios on the round's columns, one model call per batch."""

    def __init__(self, model: MarginModel, columns: Columns, market: MarketSnapshot) -> None:
        self.model, self.columns, self.market = model, columns, market
        self.prepared = model.prepare(columns, market)

    def run(self, pfs: list[Portfolio]) -> tuple[np.ndarray, np.ndarray]:
        book = Book.from_portfolios(pfs, columns=self.columns)
        r = self.model.requirement(book, self.market, detail=False, prepared=self.prepared)
        return r.margin_balance, r.maintenance_margin


def liquidate_batch(
    model: MarginModel,
    accounts: Sequence[Portfolio],
    market: MarketSnapshot,
    config: CexConfig = _DEFAULT,
) -> list[LiquidationResult]:
    """``liquidate`` on every account of ``accounts`` (distinct accounts), batched; results in order."""
    for pf in accounts:
        for p in pf.positions:
            if p.avg_price_usd is not None:
                raise InputError(
                    where=f"liquidate: {p.instrument.name}",
                    expected="positions marked to market (no avg_price)",
                    found=p.avg_price_usd,
                )
    if not accounts:
        return []
    ev = _Evaluator(model, round_columns(accounts), market)
    values = resolve_instruments(ev.columns, market).value_usd
    value_of = {inst: float(v) for inst, v in zip(ev.columns.instruments, values, strict=True)}
    states = [_State(pf, {p.instrument: _notional(p, market) for p in pf.positions}) for pf in accounts]
    bal, mm = ev.run([s.pf for s in states])
    for k, s in enumerate(states):
        s.balance, s.mm = float(bal[k]), float(mm[k])
    target = 1.0 + config.buffer
    while True:
        active = [
            s
            for s in states
            if not s.done and s.balance < target * s.mm and s.pf.positions and s.steps < config.max_steps
        ]
        if not active:
            break
        rows: list[Portfolio] = []
        starts = []
        for s in active:
            s.steps += 1
            positions = list(s.pf.positions)
            starts.append(len(rows))
            rows.append(s.pf)
            rows.extend(
                Portfolio(s.pf.account, s.pf.collateral, tuple(q for q in positions if q is not p))
                for p in positions
            )
        bal, mm = ev.run(rows)
        revalue: list[_State] = []
        for s, start in zip(active, starts, strict=True):
            n = len(s.pf.positions)
            s.balance, s.mm = float(bal[start]), float(mm[start])
            if not s.balance < target * s.mm:
                s.steps -= 1
                s.done = True
                continue
            _slice(s, mm[start + 1 : start + 1 + n], value_of, market, config)
            if not s.pf.positions or s.steps >= config.max_steps:
                revalue.append(s)
        if revalue:
            bal, mm = ev.run([s.pf for s in revalue])
            for k, s in enumerate(revalue):
                s.balance, s.mm = float(bal[k]), float(mm[k])
    return _finish(ev, states, market, config)


def _slice(
    s: _State,
    mm_without: np.ndarray,
    value_of: dict[Instrument, float],
    market: MarketSnapshot,
    config: CexConfig,
) -> None:
    """One step of ``liquidate`` on ``s``: close a slice of the riskiest position (or of all of them)."""
    positions = list(s.pf.positions)
    relief = (s.mm - mm_without) / np.maximum([_notional(p, market) for p in positions], 1e-12)
    targets = [positions[int(np.argmax(relief))]] if relief.max() > 0 else positions
    collateral = dict(s.pf.collateral)
    closing: dict[int, float] = {}
    step_fees = 0.0
    for pos in targets:
        inst = pos.instrument
        notional = _notional(pos, market)
        close_usd = min(max(config.step * s.initial.get(inst, notional), config.min_close_usd), notional)
        size = pos.size_coin * close_usd / notional
        u = inst.base
        backstop = s.closed.get(u, 0.0) + close_usd > config.depth_usd
        penalty = 0.0 if backstop else min(config.penalty * close_usd, max(s.balance - step_fees, 0.0))
        s.closed[u] = s.closed.get(u, 0.0) + close_usd
        slice_value = size * value_of[inst] if inst.kind is Kind.OPTION else 0.0
        collateral["USDC"] = collateral.get("USDC", 0.0) + slice_value - penalty
        closing[id(pos)] = size
        s.fee_total += penalty
        step_fees += penalty
        price = market.mark(inst) if inst.kind is not Kind.OPTION else slice_value / size if size else 0.0
        s.fills.append(Fill(inst, -size, float(price), close_usd, penalty, backstop))
    new_positions = []
    for q in positions:
        if id(q) in closing:
            remaining = q.size_coin - closing[id(q)]
            if abs(remaining) > 1e-12 * max(1.0, abs(q.size_coin)):
                new_positions.append(Position(q.instrument, remaining))
        else:
            new_positions.append(q)
    s.pf = Portfolio(s.pf.account, collateral, tuple(new_positions))


def _finish(
    ev: _Evaluator, states: list[_State], market: MarketSnapshot, config: CexConfig
) -> list[LiquidationResult]:
    """Flat accounts with a deficit sell their collateral at index; what is still negative is bad debt."""
    flat = [k for k, s in enumerate(states) if not s.pf.positions and s.balance < -DUST_USD]
    bad = dict.fromkeys(range(len(states)), 0.0)
    notes: dict[int, tuple[str, ...]] = {}
    if flat:
        for k in flat:
            states[k].pf = _flatten_collateral(states[k].pf, market)
        bal, mm = ev.run([states[k].pf for k in flat])
        for j, k in enumerate(flat):
            s = states[k]
            s.balance, s.mm = float(bal[j]), float(mm[j])
            if s.balance < -DUST_USD:
                bad[k] = -s.balance
                s.pf = Portfolio(s.pf.account, {"USDC": 0.0}, ())
                notes[k] = (f"bad debt {bad[k]:,.2f} USD passed to the waterfall",)
    out = []
    for k, s in enumerate(states):
        restored = s.balance >= (1.0 + config.buffer) * s.mm or not s.pf.positions
        out.append(
            LiquidationResult(s.pf, tuple(s.fills), s.fee_total, bad[k], restored, s.steps, notes.get(k, ()))
        )
    return out
