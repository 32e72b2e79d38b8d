"""CEX liquidation: partial, riskiest position first, at mark ± a penalty, with a bankruptcy waterfall.

An account below maintenance margin is brought back, one slice at a time, until its margin balance covers
maintenance margin with a buffer (``target = (1 + buffer) · MM``):

1. **Which position.** Every candidate "the account without position i" is margined at once (a book whose
   rows are those candidates: one model call, the same vectorised path as a whole book); the position whose
   removal lowers maintenance margin the most per USD of notional goes first (the riskiest).
2. **How much.** A ``step`` fraction of the position as it was when the liquidation began (at least
   ``min_close_usd``; so a position is gone in at most ``1 / step`` slices), closed at mark ∓ ``penalty``: the
   penalty (a fraction of the notional closed, e.g. Deribit's 0.75% BTC liquidation fee) is taken from the
   account's collateral and paid to the insurance fund.
3. **What the market cannot absorb.** Closing more than ``depth_usd`` of one underlying in one liquidation
   goes to the backstop (a liquidity provider taking it at mark, without penalty), recorded as such.

If the account is empty of positions and its margin balance is still negative, the deficit is **bad debt**,
covered by the waterfall: the insurance fund first, then auto-deleveraging (profitable opposite positions,
ranked by profit × leverage) or, if configured, a socialized loss spread over all accounts. Every unit of
loss is accounted for: ``bad_debt = insurance_used + adl + socialized``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xmargin.core import InputError, check
from xmargin.instruments import Instrument, Kind, Portfolio, Position
from xmargin.margin import MarginModel, MarginResult
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, Columns, resolve_instruments


@dataclass(frozen=True, slots=True)
class CexConfig:
    """Liquidation parameters (fractions of notional; USD)."""

    penalty: float = 0.0075
    """Deribit's BTC liquidation fee since 2022-01-11 (docs/research/margin_methodology.md §2.1)."""
    buffer: float = 0.1
    step: float = 0.25
    min_close_usd: float = 100.0
    depth_usd: float = 5_000_000.0
    max_steps: int = 200

    def __post_init__(self) -> None:
        check.in_range(self.penalty, 0.0, 0.5, where="CexConfig.penalty")
        check.in_range(self.buffer, 0.0, 10.0, where="CexConfig.buffer")
        check.in_range(self.step, 1e-3, 1.0, where="CexConfig.step")
        check.non_negative(self.min_close_usd, where="CexConfig.min_close_usd")
        check.positive(self.depth_usd, where="CexConfig.depth_usd")


@dataclass(frozen=True, slots=True)
class Fill:
    """One liquidation slice: ``size_coin`` traded against the position (opposite sign), at ``price_usd``."""

    instrument: Instrument
    size_coin: float
    price_usd: float
    notional_usd: float
    penalty_usd: float
    backstop: bool


@dataclass(frozen=True, slots=True)
class LiquidationResult:
    """What a liquidation did to one account."""

    account: Portfolio
    fills: tuple[Fill, ...]
    insurance_fee_usd: float
    bad_debt_usd: float
    restored: bool
    steps: int = 0
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True, eq=False)
class _Account:
    """The columns of one liquidation (the account's instruments and USDC, fixed while positions shrink) and
    the model's prepared value for them: every evaluation of the liquidation reuses it."""

    columns: Columns
    prepared: Any

    @classmethod
    def of(cls, model: MarginModel, pf: Portfolio, market: MarketSnapshot) -> _Account:
        insts = dict.fromkeys(
            (
                *(Instrument(Kind.SPOT, a) for a in pf.collateral),
                Instrument(Kind.SPOT, "USDC"),
                *(p.instrument for p in pf.positions),
            )
        )
        columns = Columns.of(tuple(insts))
        return cls(columns, model.prepare(columns, market))

    def run(self, model: MarginModel, pfs: list[Portfolio], market: MarketSnapshot) -> MarginResult:
        book = Book.from_portfolios(pfs, columns=self.columns)
        return model.requirement(book, market, detail=False, prepared=self.prepared)


def _value(model: MarginModel, acc: _Account, pf: Portfolio, market: MarketSnapshot) -> tuple[float, float]:
    r = acc.run(model, [pf], market)
    return float(r.margin_balance[0]), float(r.maintenance_margin[0])


def _notional(p: Position, market: MarketSnapshot) -> float:
    return abs(p.size_coin) * market.index(p.instrument.base)


DUST_USD = 1e-6
"""A balance within this of zero is rounding, not bad debt (a penalty capped at the margin left ends there)."""


def _flatten_collateral(pf: Portfolio, market: MarketSnapshot) -> Portfolio:
    """An account without positions: every collateral asset sold at its index into USDC (a coin held
    against a USDC loan is price exposure a flat account must not keep)."""
    usd = sum(v * market.index(a) for a, v in pf.collateral.items())
    return Portfolio(pf.account, {"USDC": usd / market.index("USDC")}, ())


def liquidate(
    model: MarginModel, account: Portfolio, market: MarketSnapshot, config: CexConfig = CexConfig()
) -> LiquidationResult:
    """Partially liquidate ``account`` until margin balance ≥ (1 + buffer) · MM, or nothing is left.

    Positions are marked to market (futures at their mark, options at their mark value) and closing one moves
    its mark value into USDC collateral, less the penalty. The penalty is taken only from margin that is
    left (a venue does not charge a fee that its insurance fund would pay back as bad debt). When no
    position's removal lowers MM (hedges), every position is closed by a slice at once. An account left
    without positions and with a negative balance has its collateral sold at index into USDC; what is
    still negative then is bad debt.
    Returns the account after, the fills, the fee paid to the insurance fund and any bad debt.
    """
    for p in account.positions:
        if p.avg_price_usd is not None:
            raise InputError(
                where=f"liquidate: {p.instrument.name}",
                expected="positions marked to market (no avg_price)",
                found=p.avg_price_usd,
            )
    pf = account
    acc = _Account.of(model, pf, market)
    fills: list[Fill] = []
    fee_total = 0.0
    closed_per_underlying: dict[str, float] = {}
    initial = {p.instrument: _notional(p, market) for p in account.positions}
    values = resolve_instruments(acc.columns, market).value_usd
    value_of = {inst: float(v) for inst, v in zip(acc.columns.instruments, values, strict=True)}
    steps = 0
    balance, mm = _value(model, acc, pf, market)
    while balance < (1.0 + config.buffer) * mm and pf.positions and steps < config.max_steps:
        steps += 1
        # the riskiest position: the largest drop in MM per USD of notional when it is removed. Row 0 is
        # the account itself, so the candidates share its column order (the model's prepared columns)
        positions = list(pf.positions)
        candidates = [pf] + [
            Portfolio(pf.account, pf.collateral, tuple(q for q in positions if q is not p)) for p in positions
        ]
        r = acc.run(model, candidates, market)
        balance, mm = float(r.margin_balance[0]), float(r.maintenance_margin[0])
        if not balance < (1.0 + config.buffer) * mm:
            steps -= 1
            break
        relief = (mm - r.maintenance_margin[1:]) / np.maximum(
            [_notional(p, market) for p in positions], 1e-12
        )
        targets = [positions[int(np.argmax(relief))]] if relief.max() > 0 else positions
        collateral = dict(pf.collateral)
        closing: dict[int, float] = {}
        step_fees = 0.0
        for pos in targets:
            inst = pos.instrument
            notional = _notional(pos, market)
            close_usd = min(max(config.step * initial.get(inst, notional), config.min_close_usd), notional)
            size = pos.size_coin * close_usd / notional  # the part of the position closed (same sign)
            u = inst.base
            backstop = closed_per_underlying.get(u, 0.0) + close_usd > config.depth_usd
            penalty = 0.0 if backstop else min(config.penalty * close_usd, max(balance - step_fees, 0.0))
            closed_per_underlying[u] = closed_per_underlying.get(u, 0.0) + close_usd
            # the slice's value moves to USDC (options: their mark value; futures: marked, nothing)
            slice_value = 0.0
            if inst.kind is Kind.OPTION:
                slice_value = size * value_of[inst]
            collateral["USDC"] = collateral.get("USDC", 0.0) + slice_value - penalty
            closing[id(pos)] = size
            fee_total += penalty
            step_fees += penalty
            price = market.mark(inst) if inst.kind is not Kind.OPTION else slice_value / size if size else 0.0
            fills.append(Fill(inst, -size, float(price), close_usd, penalty, backstop))
        new_positions = []
        for q in positions:
            if id(q) in closing:
                remaining = q.size_coin - closing[id(q)]
                if abs(remaining) > 1e-12 * max(1.0, abs(q.size_coin)):
                    new_positions.append(Position(q.instrument, remaining))
            else:
                new_positions.append(q)
        pf = Portfolio(pf.account, collateral, tuple(new_positions))
        if not pf.positions or steps >= config.max_steps:  # the loop ends here: value the account after
            balance, mm = _value(model, acc, pf, market)
    bad_debt = 0.0
    notes: list[str] = []
    if not pf.positions and balance < -DUST_USD:
        pf = _flatten_collateral(pf, market)
        balance, mm = _value(model, acc, pf, market)
        if balance < -DUST_USD:
            bad_debt = -balance
            pf = Portfolio(pf.account, {"USDC": 0.0}, ())  # the deficit is taken over by the waterfall
            notes.append(f"bad debt {bad_debt:,.2f} USD passed to the waterfall")
    restored = balance >= (1.0 + config.buffer) * mm or not pf.positions
    return LiquidationResult(pf, tuple(fills), fee_total, bad_debt, restored, steps, tuple(notes))


@dataclass(frozen=True, slots=True)
class WaterfallResult:
    """How a bad debt was covered: insurance fund, then ADL or socialized loss. ``adl_usd`` per account."""

    bad_debt_usd: float
    insurance_used_usd: float
    insurance_left_usd: float
    adl_usd: float
    socialized_usd: float
    adl_by_account: dict[str, float]

    def __post_init__(self) -> None:
        total = self.insurance_used_usd + self.adl_usd + self.socialized_usd
        if abs(total - self.bad_debt_usd) > 1e-6 * max(1.0, self.bad_debt_usd):
            raise AssertionError(f"waterfall does not add up: {total} != {self.bad_debt_usd}")


def waterfall(
    bad_debt_usd: float,
    insurance_fund_usd: float,
    *,
    mode: str = "adl",
    profits_usd: dict[str, float] | None = None,
    leverage: dict[str, float] | None = None,
    equity_usd: dict[str, float] | None = None,
) -> WaterfallResult:
    """Cover ``bad_debt_usd``: the insurance fund first; the rest by auto-deleveraging the profitable
    opposite side (``mode="adl"``: ranked by profit × leverage, each giving up at most its profit) or by a
    loss socialized over all accounts' equity (``mode="socialize"``). What ADL cannot cover is socialized."""
    check.non_negative(bad_debt_usd, where="waterfall.bad_debt_usd")
    check.non_negative(insurance_fund_usd, where="waterfall.insurance_fund_usd")
    if mode not in ("adl", "socialize"):
        raise InputError(where="waterfall.mode", expected="adl or socialize", found=mode)
    used = min(bad_debt_usd, insurance_fund_usd)
    rest = bad_debt_usd - used
    adl_by: dict[str, float] = {}
    if rest > 0 and mode == "adl" and profits_usd:
        lev = leverage or {}
        ranked = sorted(
            (a for a, p in profits_usd.items() if p > 0),
            key=lambda a: profits_usd[a] * lev.get(a, 1.0),
            reverse=True,
        )
        for a in ranked:
            if rest <= 0:
                break
            take = min(profits_usd[a], rest)
            adl_by[a] = take
            rest -= take
    adl = sum(adl_by.values())
    socialized = rest
    if socialized > 0 and equity_usd is not None and sum(max(e, 0.0) for e in equity_usd.values()) <= 0:
        raise InputError(
            where="waterfall.equity_usd", expected="some positive equity to socialize over", found="none"
        )
    return WaterfallResult(bad_debt_usd, used, insurance_fund_usd - used, adl, socialized, adl_by)
