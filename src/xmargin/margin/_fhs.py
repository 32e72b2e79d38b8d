"""``fhs``: filtered-historical-simulation expected shortfall with anti-procyclicality (dynamic PM).

The one computation (ARCHITECTURE.md) with a historical scenario set: ``risk.FilteredHistory`` turns the
history up to the valuation day into joint scenarios (every underlying moved by the same historical window,
rescaled to today's EWMA volatility), ``risk.joint_scenario_pnl`` reprices every instrument under them (USD
view: coin collateral is a risk factor like a future), ``Q @ PnL`` gives each account's P&L per scenario and
the charge is:

1. ``ES`` at ``confidence`` over the filtered scenarios of the last ``lookback_days`` (a loss over
   ``horizon_days``, the margin period of risk: EMIR RTS 153/2013 Art. 24(1) 99%, Art. 26(1) two days for
   other than OTC derivatives);
2. anti-procyclicality (EMIR RTS 153/2013 Art. 28(1)), each optional in the preset:
   (a) ``buffer`` b: the margin is held at ``(1 + b)`` × the ES at the volatility of ``reference_lag_days``
   ago, but never above ``(1 + b)·ES`` nor below ``ES`` today: when volatility rises the buffer is used up
   before the margin rises, when it falls the buffer is rebuilt (a stateless form of the buffer a CCP
   releases in stress: it needs no memory of yesterday's margin);
   (b) ``stressed_weight`` w: ``(1 − w)`` × that + ``w`` × the ES of the unfiltered returns of the most
   volatile year in the history;
   (c) ``floor_years``: never below the ES of the unfiltered returns of that many years;
   and ``vol_ratio_cap``: a historical window is never scaled up by more than this factor (xmargin's
   design, measured in docs/backtest.md: exponentiated returns scaled ×10 from calm to stress are what makes
   a plain FHS margin swing 50×);
3. add-ons: a liquidity charge, the cost of closing each underlying's net delta (USD) by the square-root
   law ``(2/3)·Y·σ_daily·√(|Q|/V)·|Q|`` (Tóth et al., Phys. Rev. X 1, 021006, 2011; the 2/3 is the
   average over the execution of an impact growing as √q), and a short-option minimum (a floor);
4. long options are paid in full (the initial requirement is never below their value, FORMATS.md), and
   ``maintenance = mm_factor × (apc margin + liquidity)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xmargin.margin._model import MarginResult, check_prepared, register, sum_parts
from xmargin.margin._presets import FhsPreset, load_fhs_preset
from xmargin.margin._result import FhsBreakdown
from xmargin.market import MarketSnapshot, PriceHistory, load_history
from xmargin.risk import (
    Book,
    Columns,
    FilteredHistory,
    HistoricalScenarios,
    InstrumentTable,
    equity_usd,
    es_scan,
    joint_scenario_pnl,
    long_option_value_usd,
    pin_entries,
    resolve_instruments,
)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class Prepared:
    """Size-independent state of one (columns, market) pair: the table, the scenarios and their P&L."""

    market: MarketSnapshot
    columns: Columns
    table: InstrumentTable
    scenarios: HistoricalScenarios | None
    pnl_usd: FloatArray
    """PnL[instrument, scenario], USD per coin of size"""
    delta_usd: FloatArray
    """USD delta per coin of size of each instrument, per underlying row of ``scenarios``"""
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class _Charge:
    """Per account (USD): the ES of each block, the margin after the APC tools, the liquidity add-on, and
    the worst filtered scenario's loss and index (−1 for an account holding nothing with a history)."""

    filtered: FloatArray
    reference: FloatArray
    lookback: FloatArray
    stressed: FloatArray
    apc: FloatArray
    liquidity: FloatArray
    worst: FloatArray
    worst_j: NDArray[np.int64]
    held: NDArray[np.int64]
    """bit b set: the account holds ``scenarios.underlyings[b]``"""
    scenarios: NDArray[np.int64]
    """filtered scenarios the account's ES is taken over"""


@register("fhs")
class FhsMargin:
    """Filtered-historical-simulation expected shortfall with anti-procyclicality (dynamic portfolio margin).

    ``preset``: ``fhs`` (default), ``fhs-plain``, ``fhs-buffer``, ``fhs-stressed``, ``fhs-floor``, a YAML file
    or a mapping; ``history``: a ``PriceHistory`` (default: the preset's shipped history)."""

    name = "fhs"
    source = (
        "Barone-Adesi et al. 1999 (FHS); RiskMetrics 1996 (EWMA, lambda 0.94); EMIR RTS 153/2013 Art. 24, 26, "
        "28 (99%, 2-day MPOR, anti-procyclicality); docs/backtest.md"
    )
    decomposes_by_underlying = False
    decomposes_by_underlying_reason = (
        "scenarios are joint historical days: the expected shortfall of a sum is not the sum of shortfalls"
    )

    def __init__(
        self,
        preset: str | Path | Mapping[str, Any] | FhsPreset | None = None,
        *,
        history: PriceHistory | None = None,
    ) -> None:
        self.preset = load_fhs_preset(preset)
        self.preset_name = self.preset.name
        self.history = history if history is not None else load_history(self.preset.history)
        self.filtered = FilteredHistory.build(self.history, self.preset.lambda_)
        self.collateral = self.preset.collateral.policy()
        linear = self.preset.liquidity.y == 0.0
        self.scales_linearly = linear
        self.subadditive = linear
        reason = "the liquidity add-on grows as size^1.5 (square-root impact)"
        self.scales_linearly_reason = reason if not linear else "expected shortfall is positively homogeneous"
        self.subadditive_reason = reason if not linear else "expected shortfall is subadditive (coherent)"

    def __repr__(self) -> str:
        return f"FhsMargin(preset={self.preset.name!r}, history={self.history.name!r})"

    def with_horizon(self, days: int) -> FhsMargin:
        """The same model with a margin period of risk of ``days`` (a backtest's horizon is the model's MPOR)."""
        if days == self.preset.horizon_days:
            return self
        return FhsMargin(self.preset.model_copy(update={"horizon_days": days}), history=self.history)

    def with_history(self, history: PriceHistory) -> FhsMargin:
        """The same model drawing its scenarios from ``history``."""
        return FhsMargin(self.preset, history=history)

    # -- prepare ---------------------------------------------------------------------------------------------
    def prepare(self, columns: Columns, market: MarketSnapshot) -> Prepared:
        table = resolve_instruments(columns, market)
        stable = set(self.preset.stablecoins)
        unders = tuple(sorted({str(u) for u in table.underlying} - stable))
        warnings: list[str] = list(self.history.warnings_for(unders))
        if not unders:
            empty = np.zeros((len(table.instruments), 0))
            return Prepared(market, columns, table, None, empty, empty, tuple(warnings))
        p = self.preset
        asof_day = (market.valuation_time - timedelta(days=1)).date()
        last_rows = self.filtered.last_valid[self.history.columns(unders)]
        for u, row in zip(unders, last_rows.tolist(), strict=True):
            last = self.history.dates[row].astype(object)
            if row >= 0 and asof_day > last:
                warnings.append(
                    f"fhs: history {self.history.name} has {u} until {last}, {(asof_day - last).days} day(s) "
                    f"before the valuation day {asof_day}; its scenarios and volatility are as of {last}"
                )
        scen = self.filtered.scenarios(
            np.datetime64(asof_day, "D"),
            unders,
            horizon_days=p.horizon_days,
            ratio_cap=p.vol_ratio_cap,
            reference_lag=p.apc.reference_lag_days if p.apc.buffer > 0 else None,
            floor_years=p.apc.floor_years,
            floor_volatility=p.apc.floor_basis == "volatility",
            raw=p.apc.stressed_weight > 0
            or (p.apc.floor_years is not None and p.apc.floor_basis == "returns"),
            # the stressed year may lie anywhere in the history; otherwise only the lookback and the floor
            span_days=None
            if p.apc.stressed_weight > 0
            else max(p.lookback_days, round(365.25 * (p.apc.floor_years or 0.0))),
        )
        if self.history.iv is None and table.is_option.any():
            warnings.append(
                f"fhs: history {self.history.name} has no implied vols; option vols move with the EWMA "
                "volatility forecast over each window (vol-of-vol proxy)"
            )
        pnl = joint_scenario_pnl(table, unders, scen.price_move, scen.vol_move, view="usd", rate=market.rate)
        usd_delta = table.delta * table.index_usd
        delta = np.stack([np.where(table.underlying == u, usd_delta, 0.0) for u in unders])
        return Prepared(market, columns, table, scen, pnl, delta, tuple(warnings))

    # -- requirement -----------------------------------------------------------------------------------------
    def requirement(
        self, book: Book, market: MarketSnapshot, *, detail: bool = True, prepared: Prepared | None = None
    ) -> MarginResult:
        if prepared is None:
            prep = self.prepare(book.columns, market)
        else:
            check_prepared(prepared.market, prepared.columns, book, market, where="FhsMargin.requirement")
            prep = prepared
        table = prep.table
        n = book.n_accounts
        equity = equity_usd(book, table)
        haircut = self.collateral.haircut_usd(book, table, market)
        parts = self._charge(book, prep)
        p = self.preset
        if table.is_option.any():
            premium = long_option_value_usd(book, table)
            som = p.short_option_minimum * self._short_option_coin_usd(book, table)
        else:
            premium = som = np.zeros(n)
        core = np.maximum(parts.apc, som) + parts.liquidity
        im = np.maximum(core, premium) if p.long_options_paid_in_full else core
        mm = p.mm_factor * core
        breakdown: tuple[FhsBreakdown, ...] = ()
        if detail:
            breakdown = self._breakdowns(prep, parts, som, premium, haircut, n)
        return MarginResult(
            self.name,
            book.accounts,
            im,
            mm,
            equity,
            equity - haircut,
            breakdown,
            prep.warnings + table.warnings + self.collateral.warnings(table, market),
        )

    def _charge(self, book: Book, prep: Prepared) -> _Charge:
        """Per account: the ES of each block over the scenarios valid for the underlyings it holds, the APC
        margin, the liquidity add-on and the worst filtered scenario."""
        n = book.n_accounts
        es = {b: np.zeros(n) for b in ("filtered", "reference", "lookback", "stressed")}
        worst, worst_j = np.zeros(n), np.full(n, -1, dtype=np.int64)
        liquidity = np.zeros(n)
        held = np.zeros(n, dtype=np.int64)
        count = np.zeros(n, dtype=np.int64)
        scen = prep.scenarios
        if scen is None or len(scen) == 0:
            return _Charge(
                es["filtered"],
                es["reference"],
                es["lookback"],
                es["stressed"],
                np.zeros(n),
                liquidity,
                worst,
                worst_j,
                held,
                count,
            )
        p = self.preset
        q = book.q.tocsr()
        # accounts grouped by the set of underlyings they hold (a bit per underlying of the scenario set)
        u_of_col = np.array(
            [
                scen.underlyings.index(str(u)) if str(u) in scen.underlyings else -1
                for u in prep.table.underlying
            ]
        )
        rows_of = np.repeat(np.arange(n), np.diff(q.indptr))
        k = u_of_col[q.indices]
        live = (k >= 0) & (q.data != 0)
        np.bitwise_or.at(held, rows_of[live], np.left_shift(1, k[live]))
        for key in np.unique(held[held > 0]).tolist():
            accounts = np.flatnonzero(held == key)
            members = np.array([b for b in range(len(scen.underlyings)) if key >> b & 1], dtype=np.intp)
            masks = self.filtered.masks(
                scen,
                members,
                lookback_days=p.lookback_days,
                floor_years=p.apc.floor_years,
                floor_volatility=p.apc.floor_basis == "volatility",
                stressed=p.apc.stressed_weight > 0,
            )
            names = ["filtered", *[b for b in es if b != "filtered" and getattr(masks, b).any()]]
            cols = [np.flatnonzero(getattr(masks, name)) for name in names]  # scenario columns per block
            count[accounts] = cols[0].size
            if cols[0].size == 0:
                continue
            block_es, worst[accounts], worst_j[accounts] = es_scan(
                accounts, q.indptr, q.indices, q.data, prep.pnl_usd, cols, p.confidence
            )
            for b, name in enumerate(names):
                es[name][accounts] = block_es[:, b]
        m = es["filtered"].copy()
        if p.apc.buffer > 0:
            m = np.clip((1.0 + p.apc.buffer) * es["reference"], m, (1.0 + p.apc.buffer) * m)
        if p.apc.stressed_weight > 0:
            m = (1.0 - p.apc.stressed_weight) * m + p.apc.stressed_weight * es["stressed"]
        if p.apc.floor_years is not None:
            m = np.maximum(m, es["lookback"])
        if p.liquidity.y > 0:
            net = np.asarray(q @ prep.delta_usd.T)  # (accounts, underlyings) USD delta
            for b, u in enumerate(scen.underlyings):
                volume = p.liquidity.daily_volume_usd.get(u) or p.liquidity.daily_volume_usd.get("default")
                if volume is None:
                    continue
                a = np.abs(net[:, b])
                liquidity += (2.0 / 3.0) * p.liquidity.y * scen.sigma_now[b] * np.sqrt(a / volume) * a
        return _Charge(
            es["filtered"],
            es["reference"],
            es["lookback"],
            es["stressed"],
            np.maximum(m, 0.0),
            liquidity,
            worst,
            worst_j,
            held,
            count,
        )

    @staticmethod
    def _short_option_coin_usd(book: Book, table: InstrumentTable) -> FloatArray:
        """Per account: Σ over underlyings of |net short option size| × index (USD)."""
        short_q = book.q.copy()
        short_q.data = np.minimum(short_q.data, 0.0)
        return np.asarray(-(short_q @ np.where(table.is_option, table.index_usd, 0.0)), dtype=np.float64)

    def _breakdowns(
        self,
        prep: Prepared,
        parts: _Charge,
        som: FloatArray,
        premium: FloatArray,
        haircut: FloatArray,
        n: int,
    ) -> tuple[FhsBreakdown, ...]:
        p, scen = self.preset, prep.scenarios

        def opt(x: FloatArray, on: bool) -> list[float | None]:
            return [float(v) if on else None for v in x]

        ref = opt(parts.reference, p.apc.buffer > 0)
        look = opt(parts.lookback, p.apc.floor_years is not None)
        stress = opt(parts.stressed, p.apc.stressed_weight > 0)

        def held(i: int) -> list[int]:
            return [] if scen is None else [b for b in range(len(scen.underlyings)) if parts.held[i] >> b & 1]

        def sigma(i: int) -> dict[str, float]:
            assert scen is not None or not held(i)
            return {} if scen is None else {scen.underlyings[b]: float(scen.sigma_now[b]) for b in held(i)}

        def asof(i: int) -> str:
            return "" if scen is None or not held(i) else str(scen.asof[held(i)].max())

        def worst_day(i: int) -> str:
            return "" if scen is None or parts.worst_j[i] < 0 else str(scen.end_day[parts.worst_j[i]])

        return tuple(
            FhsBreakdown(
                preset=p.name,
                history=self.history.name,
                asof=asof(i),
                horizon_days=p.horizon_days,
                confidence=p.confidence,
                scenarios=int(parts.scenarios[i]),
                es_filtered_usd=float(parts.filtered[i]),
                es_reference_usd=ref[i],
                es_lookback_usd=look[i],
                es_stressed_usd=stress[i],
                apc_margin_usd=float(parts.apc[i]),
                liquidity_usd=float(parts.liquidity[i]),
                short_option_minimum_usd=float(som[i]),
                long_option_value_usd=float(premium[i]),
                haircut_usd=float(haircut[i]),
                worst_scenario_day=worst_day(i),
                worst_loss_usd=float(parts.worst[i]),
                sigma_daily=sigma(i),
            )
            for i in range(n)
        )

    def combine(self, parts: FloatArray) -> FloatArray:
        """Not decomposable by underlying (joint scenarios); the sum is offered for callers that split."""
        return sum_parts(parts)

    def pin(self, book: Book, market: MarketSnapshot) -> Book:
        return pin_entries(book, market)


__all__ = ["FhsMargin", "Prepared"]
