"""``pm``: scenario portfolio margin, driven by a preset (Deribit-style by default, SPAN-style as ``pm-span``).

One computation (ARCHITECTURE.md): resolve → scenarios → ``PnL[instrument, scenario]`` → ``Q @ PnL`` per risk
group → charge. Per risk group (settlement view: settlement asset × underlying; USD view: underlying):

- **worst loss** over the standard grid (price moves × vol up/unchanged/down, × rate shifts if any), the
  extended table (Deribit: P&L at vol-up scaled by ``factor · range/|m|``, and for coin-settled groups by
  ``(1+m)/(1+sign(m)·range)``, then moved toward zero by the dampener
  ``(max(|m|/range, 1) − 1) · extended_dampener / (1 + sign(m)·range)`` (USD); this reproduces the
  per-instrument and aggregated extended vectors of Deribit's published ``private/pme/simulate`` responses,
  D2 and D3) and SPAN-style extreme moves (a fraction ``cover`` of the loss);
- **roll shock** per expiry: ``max(exp(annualised_move_risk·T) − 1, min_annualised_move) · |net delta|``
  (perpetuals: ``min_annualised_move · |delta|``), Deribit's ``roll_shock``;
- **delta shock** above a net-delta threshold (Deribit ``delta_shock``; zero below 20M USD);
- **short-option minimum**: ``per_coin · index`` per coin of net short options, added or used as a floor;
- **long options at premium** (preset ``long_options_at_premium``): the group is also charged as "all but
  its long options, plus their value" and the smaller counts, so a long option never needs more than its
  premium;
- **long options paid in full** (preset ``long_options_paid_in_full``, on in every shipped preset): the
  group's *initial* requirement is never below the mark value of its long options (their value backs no
  new risk: buying an option at mark lowers ``available`` by at least its premium, FORMATS.md), while its
  *maintenance* stays ``mm_factor`` × the risk charge (their value does back maintenance: a hedged account
  is not liquidated for holding its hedge, and a liquidation can sell them). Deribit's PM lets long
  options' value back initial margin as well: a preset with ``long_options_paid_in_full: false`` does.

Initial margin adds, per account (Deribit's ``initial_margin_details``, D2/D3):

- **open-orders margin** (``open_orders_margin``), for a book carrying resting orders: the larger rise of
  the requirement when every bid, or every ask, is filled at mark, and 0 if neither raises it. Deribit
  charges open orders under PM (KB "18 August 2022") but does not publish how; the both-sides rule is
  xmargin's choice;
- **MMP margin** (``mmp_margin``): ``mmp_margin_rate × max(MQQ, quantity limit) × index`` per MMP
  configuration (Deribit API ``private/set_mmp_config``: "MQQ × 3%"; KB "25 November 2025": "3% of
  max(MQQ, Quantity Limit)"), held whatever the orders.

Neither enters maintenance (D2: ``maintenance_margin = mm_factor × risk_matrix_margin``).

The worst loss, roll and the rest come out of one fused pass over each account's non-zero sizes
(``risk.group_scan``), i.e. ``Q @ PnL`` without materialising the (accounts × scenarios) matrix.

Across underlyings the group requirements are summed, less an optional ``correlation_offset`` share of all
but the largest (``combine``). ``initial`` = that total of the groups' initial requirements;
``maintenance = mm_factor ·`` that total of their risk charges. Amounts in USD (a group measured in coin is
converted at its coin's index).

``prepare(columns, market)`` returns everything that does not depend on sizes (the resolved table, the
scenario set, ``PnL[instrument, scenario]`` and each group's slices); a caller that margins several books on
the same columns and market (a what-if, an engine, a liquidation) holds it and passes it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.margin._collateral import CollateralPolicy
from xmargin.margin._model import MarginResult, check_prepared, register
from xmargin.margin._presets import PmPreset, load_pm_preset
from xmargin.margin._result import VOL_LABELS, ExtendedCell, PmBreakdown, PmGroup, PnlGrid, Scenario
from xmargin.market import MarketSnapshot
from xmargin.risk import (
    Book,
    Columns,
    GroupScan,
    InstrumentTable,
    Orders,
    ScenarioSet,
    equity_usd,
    group_scan,
    pin_entries,
    resolve_instruments,
    row_max,
    row_sum,
    scenario_pnl,
)

FloatArray = NDArray[np.float64]
MIN_DAYS_FOR_VOL_SHOCK = 1.0
"""Vol shocks grow as (pivot/days)^power; expiries under one day are shocked as one day (xmargin's choice)."""


@dataclass(frozen=True, slots=True, eq=False)
class _Charge:
    """One risk group's requirement per account (USD) and its parts."""

    total: FloatArray
    worst: FloatArray
    roll: FloatArray
    delta_shock: FloatArray
    som: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class _Group:
    """A risk group (underlying × settlement currency, or underlying in the USD view): its columns ``ci``,
    its scenarios ``si`` and what the charge needs, precomputed once per market."""

    underlying: str
    settlement: str
    ci: NDArray[np.intp]
    si: NDArray[np.intp]
    pnl_usd: FloatArray
    weight: FloatArray
    neg_weight: FloatArray
    damp: FloatArray
    delta: FloatArray
    exp_idx: NDArray[np.int64]
    roll_rates: FloatArray
    is_option: NDArray[np.bool_]
    option_value_usd: FloatArray
    index_usd: float | FloatArray
    """the underlying's index (per account in a stacked book: ``prepare_shifted``)"""
    col_map: NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class Prepared:
    """Size-independent state of one (columns, market) pair; see ``PortfolioMargin.prepare``."""

    market: MarketSnapshot
    columns: Columns
    table: InstrumentTable
    scenarios: ScenarioSet
    shocked: tuple[str, ...]
    groups: tuple[_Group, ...]


@dataclass(frozen=True, slots=True, eq=False)
class _GroupResult:
    group: _Group
    full: _Charge
    initial: FloatArray
    charge: FloatArray
    carved_out: NDArray[np.bool_]
    scan: GroupScan


def _table_rows(table: InstrumentTable, rows: NDArray[np.intp]) -> InstrumentTable:
    """The instrument columns ``rows`` of ``table``."""
    out = {f.name: getattr(table, f.name) for f in fields(table)}
    for name, v in out.items():
        if isinstance(v, np.ndarray):
            out[name] = v[rows]
    out["instruments"] = tuple(table.instruments[i] for i in rows.tolist())
    return InstrumentTable(**out)


def _scenario_subset(scen: ScenarioSet, si: NDArray[np.intp]) -> ScenarioSet:
    return ScenarioSet(
        scen.underlying[si],
        scen.price_move[si],
        scen.vol_dir[si],
        scen.rate_shift[si],
        scen.weight[si],
        scen.label[si],
    )


def _dense(x: Any) -> FloatArray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)


@register("pm")
class PortfolioMargin:
    """Scenario portfolio margin: the worst loss over a grid of price moves and vol shocks, plus add-ons.

    ``preset``: ``pm-deribit`` (default), ``pm-span``, ``pm-cross-collateral``, a YAML file or a mapping."""

    name = "pm"
    source = (
        "Deribit KB 'Portfolio Margin' and the private/pme/simulate API (pm-deribit: D1-D4); CME SPAN's risk "
        "array (pm-span: C1-C4); docs/margin.md"
    )
    decomposes_by_underlying = True
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
        self.preset_name = self.preset.name
        if view is not None and view not in ("settlement", "usd"):
            raise InputError(where="view", expected="settlement or usd", found=view)
        self.view: str = view or self.preset.view
        ext = self.preset.extended
        dampened = ext is not None and any(v > 0 for v in ext.dampener_usd.values())
        self.subadditive = not self.preset.long_options_at_premium and not dampened
        self.subadditive_reason = (
            "the long-option premium cap takes the smaller of two charges per group, which a union of books "
            "may not be able to reproduce (e.g. two long calls each capped alone)"
            if self.preset.long_options_at_premium
            else "the extended-table dampener takes a fixed amount off each book's extended loss, once per book"
        )
        self.scales_linearly = not dampened
        self.scales_linearly_reason = (
            "the extended-table dampener takes a fixed USD amount off each extended loss, and the delta shock "
            "applies above a USD threshold"
            if dampened
            else type(self).scales_linearly_reason
        )
        self.collateral = collateral or self.preset.collateral.policy()

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
        names, inverse = np.unique(table.underlying, return_inverse=True)
        params = [self.preset.params(str(u)) for u in names]
        up = np.array([q.vol_up for q in params], dtype=np.float64)[inverse] * scale
        down = np.minimum(np.array([q.vol_down for q in params], dtype=np.float64)[inverse] * scale, 0.99)
        return up, down

    # -- the model ---------------------------------------------------------------------------------------
    def prepare(self, columns: Columns, market: MarketSnapshot) -> Prepared:
        """Everything that depends on the instrument columns and the market but not on sizes: the resolved
        table, the scenario set, ``PnL[instrument, scenario]`` and each risk group's slices."""
        return self._prepare(columns, resolve_instruments(columns, market), market, None)

    def prepare_shifted(
        self,
        columns: Columns,
        table: InstrumentTable,
        market: MarketSnapshot,
        row_index: dict[str, FloatArray],
    ) -> Prepared:
        """The prepared value of a stacked book (``margin._shifts``): ``table`` resolved per row on a shifted
        market, ``row_index[u]`` the index of ``u`` each row sees (the roll, delta and short-option charges
        are in USD at it); a settlement asset's index is read per column from ``table``."""
        return self._prepare(columns, table, market, row_index)

    def _prepare(
        self,
        columns: Columns,
        table: InstrumentTable,
        market: MarketSnapshot,
        row_index: dict[str, FloatArray] | None,
    ) -> Prepared:
        stable = set(self.preset.stablecoins)
        derivative = ~table.is_spot
        shocked = [str(u) for u in np.unique(table.underlying) if str(u) not in stable]
        if self.view == "settlement":
            shocked = [u for u in shocked if (derivative & (table.underlying == u)).any()]
        scen = self.scenarios(shocked)
        up, down = self.vol_shocks(table)
        # only an underlying's own scenarios move its columns: price each underlying's block on its own (the
        # rest of PnL[instrument, scenario] is zero and no group reads it)
        pnl = np.zeros((len(table.instruments), len(scen)))
        for u in shocked:
            rows = np.flatnonzero(table.underlying == u)
            si = np.flatnonzero(scen.underlying == u)
            pnl[np.ix_(rows, si)] = scenario_pnl(
                _table_rows(table, rows),
                _scenario_subset(scen, si),
                view=self.view,
                vol_up=up[rows],
                vol_down=down[rows],
                rate=market.rate,
            )
        groups: list[_Group] = []
        for u in shocked:
            in_u = table.underlying == u
            ccys = (
                ["USD"]
                if self.view == "usd"
                else [str(c) for c in np.unique(table.settle[derivative & in_u])]
            )
            for ccy in ccys:
                cols = in_u if self.view == "usd" else in_u & derivative & (table.settle == ccy)
                ci = np.flatnonzero(cols)
                if row_index is None:
                    index: float | FloatArray = float(market.index(u))
                    ccy_usd: float | FloatArray = 1.0 if self.view == "usd" else float(market.index(ccy))
                else:
                    index = row_index[u]
                    ccy_usd = 1.0 if self.view == "usd" else table.settle_usd[ci][:, None]
                groups.append(self._group(table, scen, pnl, u, ccy, ci, index, ccy_usd))
        return Prepared(market, columns, table, scen, tuple(shocked), tuple(groups))

    def _group(
        self,
        table: InstrumentTable,
        scen: ScenarioSet,
        pnl: FloatArray,
        u: str,
        ccy: str,
        ci: NDArray[np.intp],
        index_usd: float | FloatArray,
        ccy_usd: float | FloatArray,
    ) -> _Group:
        """``index_usd``: the index of ``u`` (per account for a stacked book); ``ccy_usd``: the USD value of
        one unit of the settlement currency ``ccy`` (per column, shape (columns, 1), for a stacked book)."""
        pu = self.preset.params(u)
        si = np.flatnonzero(scen.underlying == u)
        w = scen.weight[si].copy()
        ext = scen.label[si] == "extended"
        if self.view == "settlement" and ccy == u and ext.any():
            m = scen.price_move[si][ext]
            w[ext] *= (1.0 + m) / (1.0 + np.sign(m) * pu.price_range)
        damp = np.zeros(si.size)
        dampener = self.preset.extended.dampener_usd if self.preset.extended is not None else {}
        key = u if self.view == "usd" or ccy == u else ("USD" if ccy in self.preset.stablecoins else u)
        if ext.any() and dampener.get(key, 0.0) > 0.0:
            m = scen.price_move[si][ext]
            r = pu.price_range
            damp[ext] = (np.maximum(np.abs(m) / r, 1.0) - 1.0) * dampener[key] / (1.0 + np.sign(m) * r)
        pnl_usd = np.ascontiguousarray(pnl[np.ix_(ci, si)]) * ccy_usd
        dated = (table.is_linear_delta_one | table.is_option)[ci]
        delta = np.ascontiguousarray(table.delta[ci] * dated)
        t_cols = table.t_years[ci]
        expiries = np.unique(t_cols[dated])
        exp_idx = np.where(dated, np.searchsorted(expiries, t_cols), -1).astype(np.int64)
        rates = np.array(
            [
                pu.min_annualised_move
                if t <= 0
                else max(float(np.expm1(pu.annualised_move_risk * t)), pu.min_annualised_move)
                for t in expiries
            ]
        )
        col_map = np.full(len(table.instruments), -1, dtype=np.int64)
        col_map[ci] = np.arange(ci.size)
        is_opt = np.ascontiguousarray(table.is_option[ci])
        return _Group(
            u,
            ccy,
            ci,
            si,
            pnl_usd,
            w,
            np.ascontiguousarray(-w),
            damp,
            delta,
            exp_idx,
            rates,
            is_opt,
            np.ascontiguousarray(table.value_usd[ci] * is_opt),
            index_usd,
            col_map,
        )

    def _evaluate(self, q: Any, g: _Group, n_acc: int) -> _GroupResult:
        scan = group_scan(
            q.indptr,
            q.indices,
            q.data,
            g.col_map,
            g.pnl_usd,
            g.neg_weight,
            g.exp_idx,
            g.delta,
            g.is_option,
            g.option_value_usd,
            g.roll_rates,
            g.damp,
        )
        full = self._charge(scan.worst, scan.roll, scan.net_d, scan.short, g)
        charge = full.total
        carved_out = np.zeros(n_acc, dtype=np.bool_)
        if self.preset.long_options_at_premium:
            # Long options lose at most their premium: the group is also charged as "everything but its
            # long options, plus their full value", and the smaller of the two counts.
            carved = self._charge(scan.worst_c, scan.roll_c, scan.net_dc, scan.short, g)
            alt = carved.total + scan.premium
            carved_out = alt < charge
            charge = np.minimum(charge, alt)
        # long options are paid in full: the initial requirement is never below their value
        initial = np.maximum(charge, scan.premium) if self.preset.long_options_paid_in_full else charge
        return _GroupResult(g, full, initial, charge, carved_out, scan)

    def requirement(
        self, book: Book, market: MarketSnapshot, *, detail: bool = True, prepared: Prepared | None = None
    ) -> MarginResult:
        if prepared is None:
            prep = self.prepare(book.columns, market)
        else:
            check_prepared(
                prepared.market, prepared.columns, book, market, where="PortfolioMargin.requirement"
            )
            prep = prepared
        table = prep.table
        n_acc = book.n_accounts
        equity = equity_usd(book, table)
        haircut = self.collateral.haircut_usd(book, table, market)
        results, initial_u, charge_u = self._run(book.q, prep)
        im = self.combine(self._parts(initial_u, prep, n_acc))
        mm = self.preset.mm_factor * self.combine(self._parts(charge_u, prep, n_acc))
        open_orders = np.zeros(n_acc)
        mmp = np.zeros(n_acc)
        if book.orders is not None and not book.orders.empty:
            open_orders = self.open_orders_margin(book.q, book.orders, prep, im)
            mmp = self.mmp_margin(book.orders, market)
        breakdown: tuple[PmBreakdown, ...] = ()
        if detail:
            breakdown = self._breakdowns(book, prep, results, initial_u, haircut, open_orders, mmp)
        im = im + open_orders + mmp
        return MarginResult(
            self.name,
            book.accounts,
            im,
            mm,
            equity,
            equity - haircut,
            breakdown,
            table.warnings + self.collateral.warnings(table, market),
        )

    def _run(
        self, q_in: Any, prep: Prepared
    ) -> tuple[list[_GroupResult], dict[str, FloatArray], dict[str, FloatArray]]:
        """Every risk group evaluated on sizes ``q_in``: the results, and per underlying the initial
        requirement and the risk charge."""
        n_acc = q_in.shape[0]
        initial_u: dict[str, FloatArray] = {u: np.zeros(n_acc) for u in prep.shocked}
        charge_u: dict[str, FloatArray] = {u: np.zeros(n_acc) for u in prep.shocked}
        q = q_in if q_in.has_canonical_format else q_in.copy()
        q.sum_duplicates()
        results: list[_GroupResult] = []
        for g in prep.groups:
            res = self._evaluate(q, g, n_acc)
            initial_u[g.underlying] += res.initial
            charge_u[g.underlying] += res.charge
            results.append(res)
        return results, initial_u, charge_u

    @staticmethod
    def _parts(by_u: dict[str, FloatArray], prep: Prepared, n_acc: int) -> FloatArray:
        if not prep.shocked:
            return np.zeros((n_acc, 0))
        return np.stack([by_u[u] for u in prep.shocked], axis=1)

    def open_orders_margin(self, q: Any, orders: Orders, prep: Prepared, im: FloatArray) -> FloatArray:
        """Per account: ``max(IM(q + bids), IM(q + asks)) − IM(q)``, at least 0 (xmargin's rule; Deribit
        charges open orders under PM without publishing how). ``im``: the accounts' IM on ``q``."""
        n_acc = q.shape[0]
        worst = np.array(im, dtype=np.float64, copy=True)
        for side in (orders.bid, orders.ask):
            if side.nnz == 0:
                continue
            _, initial_u, _ = self._run((q + side).tocsr(), prep)
            worst = np.maximum(worst, self.combine(self._parts(initial_u, prep, n_acc)))
        return np.maximum(worst - im, 0.0)

    def mmp_margin(self, orders: Orders, market: MarketSnapshot) -> FloatArray:
        """Per account: ``mmp_margin_rate · Σ max(MQQ, quantity limit) · index`` over its MMP configurations
        (Deribit API ``private/set_mmp_config``; KB "25 November 2025")."""
        rate = self.preset.mmp_margin_rate
        return np.array(
            [rate * sum(m.reserved_coin * market.index(m.underlying) for m in cfgs) for cfgs in orders.mmp],
            dtype=np.float64,
        )

    def pin(self, book: Book, market: MarketSnapshot) -> Book:
        """Futures held without an entry price entered at today's mark (``risk.pin_entries``)."""
        return pin_entries(book, market)

    def combine(self, parts: FloatArray) -> FloatArray:
        """Per-account requirement from per-underlying parts ``(accounts, underlyings)``: the sum, less
        ``correlation_offset`` × (sum − largest part)."""
        total = row_sum(parts)
        off = self.preset.combine.correlation_offset
        if off > 0 and parts.shape[1] > 1:
            total = total - off * (total - row_max(parts))
        return np.asarray(total, dtype=np.float64)

    def _charge(
        self,
        worst: FloatArray,
        roll_coin: FloatArray,
        net_delta: FloatArray,
        short: FloatArray,
        g: _Group,
    ) -> _Charge:
        """A group's requirement (USD) from the scan's worst loss, net deltas and short option sizes."""
        p = self.preset
        roll = roll_coin * g.index_usd  # Deribit roll_shock: Σ_expiry rate · |net delta|
        net = np.abs(net_delta)
        ds = p.delta_shock
        delta_usd = net * g.index_usd
        delta_shock = np.minimum(
            np.maximum(delta_usd - ds.threshold_usd, 0.0) * net * ds.slope, ds.max_fraction * delta_usd
        )
        som = p.short_option_minimum.per_coin * short * g.index_usd
        core = worst + roll + delta_shock
        total = core + som if p.short_option_minimum.mode == "add" else np.maximum(core, som)
        return _Charge(total, worst, roll, delta_shock, som)

    # -- detail ------------------------------------------------------------------------------------------
    def _breakdowns(
        self,
        book: Book,
        prep: Prepared,
        results: list[_GroupResult],
        initial_u: dict[str, FloatArray],
        haircut: FloatArray,
        open_orders: FloatArray,
        mmp: FloatArray,
    ) -> tuple[PmBreakdown, ...]:
        n_acc = book.n_accounts
        table, scen = prep.table, prep.scenarios
        groups: list[list[PmGroup]] = [[] for _ in range(n_acc)]
        for res in results:
            g, scan, full = res.group, res.scan, res.full
            rows = np.flatnonzero(scan.held)  # accounts holding a column of the group
            pnl_rows = _dense(book.q[rows][:, g.ci] @ g.pnl_usd)
            for k, i in enumerate(rows.tolist()):
                j = int(scan.worst_j[i])
                vol = int(scen.vol_dir[g.si][j])
                groups[i].append(
                    PmGroup(
                        underlying=g.underlying,
                        settlement=g.settlement,
                        requirement_usd=float(res.initial[i]),
                        worst_loss_usd=float(full.worst[i]),
                        worst_scenario=Scenario(
                            price_move=float(scen.price_move[g.si][j]),
                            vol_shock=vol,
                            vol_shock_label=VOL_LABELS[vol],
                            rate_shift=float(scen.rate_shift[g.si][j]),
                            kind=str(scen.label[g.si][j]),  # type: ignore[arg-type]
                            weight=float(g.weight[j]),
                        ),
                        roll_shock_usd=float(full.roll[i]),
                        delta_shock_usd=float(full.delta_shock[i]),
                        short_option_minimum_usd=float(full.som[i]),
                        long_options_at_premium=bool(res.carved_out[i]),
                        long_option_value_usd=float(scan.premium[i]),
                        maintenance_usd=float(self.preset.mm_factor * res.charge[i]),
                        pnl_grid=self._grid(pnl_rows[k], g, scen),
                    )
                )
        held = {
            u: _dense(abs(book.q[:, np.flatnonzero(table.underlying == u)]).sum(axis=1)).reshape(-1) > 0
            for u in prep.shocked
        }
        view: Literal["settlement", "usd"] = "usd" if self.view == "usd" else "settlement"
        return tuple(
            PmBreakdown(
                preset=self.preset.name,
                view=view,
                mm_factor=self.preset.mm_factor,
                haircut_usd=float(haircut[i]),
                per_underlying_usd={u: float(initial_u[u][i]) for u in prep.shocked if held[u][i]},
                groups=tuple(groups[i]),
                open_orders_margin_usd=float(open_orders[i]),
                mmp_margin_usd=float(mmp[i]),
            )
            for i in range(n_acc)
        )

    def _grid(self, row: FloatArray, g: _Group, scen: ScenarioSet) -> PnlGrid:
        """The standard table's P&L (USD) of one account as vol shock × price move, at no rate shift, and
        the extended moves with the loss each adds after its weight."""
        si = g.si
        label = scen.label[si]
        std = (label == "standard") & (scen.rate_shift[si] == 0.0)
        moves = sorted({float(x) for x in scen.price_move[si][std]})
        vols = sorted({int(x) for x in scen.vol_dir[si][std]}, reverse=True)
        grid = [[0.0] * len(moves) for _ in vols]
        for j in np.flatnonzero(std):
            grid[vols.index(int(scen.vol_dir[si][j]))][moves.index(float(scen.price_move[si][j]))] = float(
                row[j]
            )
        extended = tuple(
            ExtendedCell(
                price_move=float(scen.price_move[si][j]),
                pnl_usd=float(row[j]),
                weight=float(g.weight[j]),
                weighted_loss_usd=float(max(-row[j] * g.weight[j] - g.damp[j], 0.0)),
                dampener_usd=float(min(g.damp[j], max(-row[j] * g.weight[j], 0.0))),
            )
            for j in np.flatnonzero(label == "extended")
        )
        return PnlGrid(
            price_moves=tuple(moves),
            vol_shocks=tuple(vols),
            vol_shock_labels=tuple(VOL_LABELS[v] for v in vols),
            pnl_usd=tuple(tuple(r) for r in grid),
            extended=extended,
        )


__all__ = ["PortfolioMargin", "Prepared"]
