"""The ``derive`` model kind (preset ``derive-pmrm``): Derive v2's PMRM_2 (``_derive``) on an xmargin book.

The mapping (every assumption is also named in ``warnings``):

- **managers**: PMRM_2 margins one base asset per manager; an account is taken as one Derive subaccount per
  underlying it holds, and its figures are the sums (cash and collateral only add to the mark-to-market, so
  where they sit does not change the total);
- **options** (linear or inverse; an inverse option's USD payoff is the same, it is margined as a USDC one)
  are grouped by underlying and expiry; an expiry's forward is the market's forward for it, its rate the
  market's rate floored at 0 (Derive's discount ``exp(−r·τ)``), its time to expiry the market's in whole
  seconds. **Vols**: each option's vol is the market's implied vol at its strike (its chain IV, or the
  market's surface), used directly: Derive reads an SVI fit per expiry and evaluates it at the strike, and
  PMRM_2 prices every scenario at that strike vol (times the shock), so giving the strike vols is giving what
  Derive uses of the fit; no SVI is fitted here;
- **perpetuals and dated futures** (linear or inverse) are the manager's perp: position = net size, perp
  price = the market's mark (index without one), value = the unrealised P&L xmargin marks (funding settled);
- **coins**: the preset's ``cash`` coin (USDC) is Derive's cash, at face value; any other coin is a
  collateral at ``amount × index / stable index`` with the preset's haircuts (``default`` for an unlisted
  coin), risk-cancelling in the manager of its ``underlying`` when the preset says so;
- **confidences** are 1 (a snapshot has no oracle confidences), so no confidence charge; the stable price is
  the cash coin's index (1 without one).

Results (USD, the cash coin at face value): ``equity = margin_balance`` = Derive's mark-to-market plus cash
(``E``); ``MM = E − Derive's MM`` (its loss factor × the worst scenario or basis loss, plus the MM
contingencies); ``IM = E − Derive's IM`` (the IM factor, peg-loss raised, plus both contingencies), plus the
long options' Derive value when the preset pays long options in full (docs/margin.md). So the account is
liquidatable exactly when Derive's MM is negative, and without ``long_options_paid_in_full`` ``available`` is
Derive's IM. Vectorised: per (underlying, expiry), a sparse (accounts × options) by dense (options ×
scenarios) product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from xmargin.core import InputError
from xmargin.instruments import Kind
from xmargin.margin._model import FloatArray, MarginResult, check_prepared, register, sum_parts
from xmargin.margin._presets import PresetSource, load_preset
from xmargin.margin._result import MarginPair, VenueBreakdown
from xmargin.margin.venues._derive import (
    SECONDS_PER_YEAR,
    Expiry,
    Option,
    Params,
    Scenario,
    VolShock,
    expiry_shocks,
    option_prices,
)
from xmargin.margin.venues._derive_case import FORWARD_BLEND_SEC, read_params
from xmargin.margin.venues._params import DeriveCollateralParams, DerivePreset
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, Columns, InstrumentTable, equity_usd, pin_entries, resolve_instruments

SOURCE = (
    "derivexyz/v2-core @ 7736900d395703c4f675376caa4c315402943831: src/risk-managers/PMRMLib_2.sol, "
    "PMRM_2.sol (re-implemented in venues/_derive.py; reproduces its PMRM_2 portfolio cases); "
    "docs/margin.md#derive-pmrm"
)
IntArray = NDArray[np.intp]


@dataclass(frozen=True, slots=True, eq=False)
class ExpiryGroup:
    """One (underlying, expiry): its option columns, their prices per scenario (columns: today, basis up,
    basis down, each scenario), static discounts, basis scale, and the strike of each column (naked shorts)."""

    underlying: str
    cols: IntArray
    prices: FloatArray
    discount_pos: float
    discount_neg: float
    basis_scale: float
    strikes: sparse.csr_matrix
    """(columns of the group × distinct strikes) indicator"""


@dataclass(frozen=True, slots=True, eq=False)
class DerivePrepared:
    """What the model needs of (columns, market)."""

    market: MarketSnapshot
    columns: Columns
    underlyings: tuple[str, ...]
    spot: FloatArray
    """per underlying: its index (0 where it has no index and needs none)"""
    expiries: tuple[ExpiryGroup, ...]
    perp: sparse.csr_matrix
    """(columns × underlyings): a perp's or future's coin size in its manager"""
    perp_price: FloatArray
    """per column: the perp price (0 elsewhere)"""
    risk_cancelling: sparse.csr_matrix
    """(columns × underlyings): a risk-cancelling coin's value (USD per unit) in its manager"""
    value: FloatArray
    """per column: Derive's value per unit (cash 1, collateral index/stable, option today's price, perp 0)"""
    im_haircut: FloatArray
    mm_haircut: FloatArray
    is_option: NDArray[np.bool_]
    is_collateral: NDArray[np.bool_]
    table: InstrumentTable
    """xmargin's resolved columns (its equity gives the futures' unrealised P&L)"""
    stable_price: float
    warnings: tuple[str, ...] = field(default=())


@register("derive", preset_kinds=("derive",))
class DeriveMargin:
    """Derive v2 PMRM_2: scenario margin with vol and skew shocks, basis and option contingencies, haircuts."""

    name = "derive"
    source = SOURCE
    decomposes_by_underlying = False
    decomposes_by_underlying_reason = "not declared: non-risk-cancelling collateral sits in no manager"
    scales_linearly = False
    scales_linearly_reason = "the static discount of an expiry's value depends on its sign"
    subadditive = False
    subadditive_reason = "the worst scenario is taken per manager; the static discount is sign-dependent"
    conformance_skips: ClassVar[dict[str, str]] = {}

    def __init__(self, preset: PresetSource | DerivePreset = None) -> None:
        p = load_preset(preset, kinds=("derive",), default="derive-pmrm")
        assert isinstance(p, DerivePreset)
        self.preset = p
        self.preset_name = p.name
        self.params, self.scenarios = read_params({"Parameters": p.parameters})

    def __repr__(self) -> str:
        return f"DeriveMargin(preset={self.preset_name!r})"

    def _collateral(self, coin: str) -> tuple[DeriveCollateralParams, bool]:
        c = self.preset.collateral
        if coin in c:
            return c[coin], False
        if "default" in c:
            return c["default"], True
        raise InputError(
            where=f"{coin} balance",
            expected=f"a collateral coin of preset {self.preset_name} ({', '.join(c) or 'none'})",
            found=coin,
        )

    def prepare(self, columns: Columns, market: MarketSnapshot) -> DerivePrepared:
        p, pre = self.params, self.preset
        table = resolve_instruments(columns, market)
        insts = columns.instruments
        n = len(insts)
        stable = float(market.index_usd.get(pre.cash, 1.0))
        rate = max(float(market.rate), 0.0)
        managers: dict[str, int] = {}
        value = np.zeros(n)
        im_h, mm_h, perp_price = np.zeros(n), np.zeros(n), np.zeros(n)
        is_coll = np.zeros(n, dtype=np.bool_)
        perp_rows: list[tuple[int, int]] = []
        rc_rows: list[tuple[int, int, float]] = []
        by_expiry: dict[tuple[str, int], list[int]] = {}
        inverse, dated, defaulted = [], [], []
        for c, inst in enumerate(insts):
            if inst.kind is Kind.SPOT:
                if inst.base == pre.cash:
                    value[c] = 1.0
                    continue
                is_coll[c] = True
                spec, was_default = self._collateral(inst.base)
                if was_default:
                    defaulted.append(inst.base)
                value[c] = float(table.index_usd[c]) / stable
                im_h[c], mm_h[c] = spec.im_haircut, spec.mm_haircut
                if spec.risk_cancelling:
                    u = managers.setdefault(spec.underlying or inst.base, len(managers))
                    rc_rows.append((c, u, value[c]))
                continue
            u = managers.setdefault(inst.base, len(managers))
            if inst.inverse:
                inverse.append(inst.name)
            if inst.kind is Kind.OPTION:
                sec = round(float(table.t_years[c]) * SECONDS_PER_YEAR)
                by_expiry.setdefault((inst.base, sec), []).append(c)
                continue
            if inst.kind is Kind.FUTURE:
                dated.append(inst.name)
            perp_rows.append((c, u))
            perp_price[c] = float(market.marks_usd.get(inst.name, table.index_usd[c]))
        underlyings = tuple(managers)
        spot = np.array([float(market.index_usd.get(u, 0.0)) for u in underlyings])
        groups = []
        for (base, sec), cols in by_expiry.items():
            fwd = float(table.forward[cols[0]])
            fixed, variable = (
                (fwd * (FORWARD_BLEND_SEC - sec) / FORWARD_BLEND_SEC, fwd * sec / FORWARD_BLEND_SEC)
                if sec < FORWARD_BLEND_SEC
                else (0.0, fwd)
            )
            e = Expiry(sec, fixed, variable, rate, math.exp(-rate * sec / SECONDS_PER_YEAR), 1.0)
            e.options = [
                Option(float(table.strike[c]), bool(table.is_call[c]), 1.0, float(table.vol[c])) for c in cols
            ]
            expiry_shocks(e, p)
            prices = np.array(option_prices(e, self.scenarios, p), dtype=np.float64)
            value[cols] = prices[:, 0]
            strikes = sorted({o.strike for o in e.options})
            pos = {k: i for i, k in enumerate(strikes)}
            ind = sparse.csr_matrix(
                (np.ones(len(cols)), (np.arange(len(cols)), [pos[o.strike] for o in e.options])),
                shape=(len(cols), len(strikes)),
            )
            groups.append(
                ExpiryGroup(
                    base,
                    np.asarray(cols, dtype=np.intp),
                    prices,
                    e.static_discount_pos,
                    e.static_discount_neg,
                    p.basis_add_factor + p.basis_mult_factor * e.tau,
                    ind,
                )
            )
        k = len(underlyings)
        perp = _indicator(n, k, [(c, u, 1.0) for c, u in perp_rows])
        rc = _indicator(n, k, rc_rows)
        warnings = [
            "derive: each option's vol is the market's implied vol at its strike, used directly (no SVI fit); "
            "confidences taken as 1 (no confidence charge); one Derive manager per underlying; rate = the "
            f"market's rate floored at 0; stable price = the {pre.cash} index"
        ]
        if inverse:
            warnings.append(
                f"derive: inverse contracts margined as USDC-settled ones: {', '.join(sorted(inverse))}"
            )
        if dated:
            warnings.append(
                f"derive: dated futures margined as the manager's perp: {', '.join(sorted(dated))}"
            )
        if defaulted:
            warnings.append(
                f"derive: collateral haircuts of the preset's default used for {', '.join(sorted(set(defaulted)))}"
            )
        return DerivePrepared(
            market,
            columns,
            underlyings,
            spot,
            tuple(groups),
            perp,
            perp_price,
            rc,
            value,
            im_h,
            mm_h,
            np.asarray(table.is_option, dtype=np.bool_),
            is_coll,
            table,
            stable,
            tuple(warnings) + tuple(table.warnings),
        )

    def requirement(
        self,
        book: Book,
        market: MarketSnapshot,
        *,
        detail: bool = True,
        prepared: DerivePrepared | None = None,
    ) -> MarginResult:
        """IM, MM, equity and margin balance (USD) of every account (module docstring)."""
        if prepared is None:
            prep = self.prepare(book.columns, market)
        else:
            check_prepared(prepared.market, prepared.columns, book, market, where="derive.requirement")
            prep = prepared
        p = self.params
        q = sparse.csr_matrix(book.q)
        n, k, s = book.n_accounts, len(prep.underlyings), len(self.scenarios)
        shock = np.array([sc.spot_shock - 1.0 for sc in self.scenarios])
        damp = np.array([sc.dampening for sc in self.scenarios])
        skew = np.array([sc.vol_shock in (VolShock.LINEAR, VolShock.ABS) for sc in self.scenarios])
        pnl = np.zeros((k, n, s))
        basis = np.zeros((k, n))
        naked = np.zeros((k, n))
        pos = {u: i for i, u in enumerate(prep.underlyings)}
        for g in prep.expiries:
            u = pos[g.underlying]
            qg = q[:, g.cols]
            v = np.asarray(qg @ g.prices)
            mtm = v[:, 0]
            basis[u] += np.minimum(np.minimum(v[:, 1] - mtm, v[:, 2] - mtm), 0.0) * g.basis_scale
            shocked = v[:, 3:]
            shocked = shocked * np.where(shocked >= 0, g.discount_pos, g.discount_neg)
            e_pnl = (shocked - mtm[:, None]) * damp[None, :]
            pnl[u] += np.where(skew[None, :], -np.abs(e_pnl), e_pnl)
            net = np.asarray((qg @ g.strikes).todense())
            naked[u] += np.maximum(-net, 0.0).sum(axis=1)
        perp_pos = np.asarray((q @ prep.perp).todense()).reshape(n, k)
        perp_move = np.asarray((q @ sparse.diags(prep.perp_price) @ prep.perp).todense()).reshape(n, k)
        rc_value = np.asarray((q @ prep.risk_cancelling).todense()).reshape(n, k)
        for u in range(k):
            linear = perp_move[:, u] + rc_value[:, u]
            pnl[u] += linear[:, None] * (shock * damp)[None, :]
        worst = np.minimum(basis, pnl.min(axis=2)) if s else basis
        notional_perp = np.abs(perp_pos) * prep.spot[None, :]
        notional_naked = naked.T * prep.spot[None, :]
        mm_cont = (notional_perp * p.mm_perp_percent + notional_naked * p.mm_option_percent).sum(axis=1)
        im_cont = (notional_perp * p.im_perp_percent + notional_naked * p.im_option_percent).sum(axis=1)
        coll = np.where(prep.is_collateral, prep.value, 0.0)
        coll_value = q @ coll
        held = q.maximum(0.0)  # haircuts on balances held (Derive has no negative collateral)
        mm_cont = mm_cont + held @ (coll * prep.mm_haircut)
        im_cont = im_cont + held @ (coll * prep.im_haircut)
        im_factor = _im_factor(p, prep.stable_price)
        loss = -worst.sum(axis=0)
        mm = p.mm_factor * loss + mm_cont
        im_derive = im_factor * loss + im_cont + mm_cont
        option_mtm = q @ np.where(prep.is_option, prep.value, 0.0)
        futures_pnl = equity_usd(book, prep.table) - q @ prep.table.value_usd
        equity = np.asarray(q @ prep.value + futures_pnl, dtype=np.float64)
        long_value = np.zeros(n)
        if self.preset.long_options_paid_in_full:
            long_q = q.copy()
            long_q.data = np.maximum(long_q.data, 0.0)
            long_value = long_q @ np.where(prep.is_option, prep.value, 0.0)
        im = np.maximum(im_derive + long_value, mm)
        breakdowns: list[VenueBreakdown] = []
        if detail:
            for r in range(n):
                breakdowns.append(
                    VenueBreakdown(
                        model="derive",
                        preset=self.preset_name,
                        source=SOURCE,
                        weighted_collateral=MarginPair(float(equity[r]), float(equity[r])),
                        requirement=MarginPair(float(im_derive[r]), float(mm[r])),
                        health={
                            "initial_margin": float(equity[r] - im_derive[r]),
                            "maintenance_margin": float(equity[r] - mm[r]),
                            "option_mtm": float(option_mtm[r]),
                            "collateral_mtm": float(coll_value[r]),
                            "worst_loss": float(loss[r]),
                            "long_options_value": float(long_value[r]),
                        },
                    )
                )
        return MarginResult(
            self.name, book.accounts, im, mm, equity, equity.copy(), tuple(breakdowns), prep.warnings
        )

    def combine(self, parts: FloatArray) -> FloatArray:
        return sum_parts(parts)

    def pin(self, book: Book, market: MarketSnapshot) -> Book:
        """Perps and futures held without an entry price entered at today's mark (``risk.pin_entries``)."""
        return pin_entries(book, market)


def _indicator(n: int, k: int, rows: list[tuple[int, int, float]]) -> sparse.csr_matrix:
    if not rows:
        return sparse.csr_matrix((n, k))
    c, u, v = zip(*rows, strict=True)
    return sparse.csr_matrix((np.array(v, dtype=np.float64), (np.array(c), np.array(u))), shape=(n, k))


def _im_factor(p: Params, stable: float) -> float:
    """The IM loss factor, raised by the peg loss when the stable coin is below its threshold."""
    if stable < p.peg_loss_threshold:
        return p.im_factor + (p.peg_loss_threshold - stable) * p.peg_loss_factor
    return p.im_factor


__all__ = ["DeriveMargin", "DerivePrepared", "Scenario"]
