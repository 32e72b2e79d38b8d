"""The shared state of a crash replay: the book and its engine, the market prices, the insurance fund and the
bankruptcy waterfall, keeper incentives, the running totals, the timeline and the report.

Both venues (``sim.cex``, ``sim.dex``) start from the same seeded book (``engine.generate_book`` on the
shipped Deribit snapshot), the same margin model (``pm`` by default) and the same price path
(``sim.load_path``: the crash's relative moves applied to today's market). Liquidation flow moves the price
by the square-root law (``sim._impact``), so large liquidations can cascade.

The book starts as a venue would hold it: accounts below initial margin at the start are topped up with
USDC to their initial margin (a venue does not let an account open below it).

An account left with a deficit and no positions is bad debt, covered by the bankruptcy waterfall
(``liquidation.waterfall``, ``Venue.cover``): the insurance fund, then auto-deleveraging of profitable
accounts on the other side (ranked by profit × leverage; each pays its share out of its profit and its
futures and perpetuals on that side are reduced at mark by the same share of the bankrupt account's closed
notional) or a socialized loss (pro rata over positive equity).

Accounting: every liquidation's penalty goes to the insurance fund; every bad debt is split by the
waterfall so that ``bad_debt = insurance_fund_used + adl + socialized_loss`` holds exactly (asserted).
Everything is a function of (scenario, venue, accounts, seed, config): timings are reported apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xmargin.engine import BookEngine, generate_book
from xmargin.instruments import Kind, Portfolio, Position
from xmargin.liquidation import WaterfallResult, waterfall
from xmargin.margin import MarginResult, resolve_model
from xmargin.market import DEMO_SNAPSHOT, MarketSnapshot, load_deribit_chain, shipped_chain_path
from xmargin.risk import pin_portfolio, realize_entries
from xmargin.sim._config import ReplayConfig
from xmargin.sim._impact import SqrtImpact
from xmargin.sim._report import ReplayReport
from xmargin.sim._scenarios import PricePath

FloatArray = NDArray[np.float64]
Debt = tuple[str, float, str, float, float]
"""A bad debt for the waterfall: (account, bad debt USD, underlying, side, notional closed USD)."""


class Venue:
    """One replay's state, shared by the CEX and DEX loops: they move it through its methods and counters."""

    def __init__(self, path: PricePath, accounts: int, seed: int, config: ReplayConfig) -> None:
        self.path, self.config, self.seed = path, config, seed
        market = load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)
        self.base = {u: market.index(u) for u in path.underlyings}
        self.iv0, self.vol0 = dict(market.option_iv), dict(market.vol)
        self.iv_names = {
            u: [k for k in self.iv0 if k.startswith((f"{u}-", f"{u}_"))] for u in path.underlyings
        }
        self.model = resolve_model(config.model)
        book = generate_book(market, accounts, seed)
        self.engine = BookEngine(book, market, self.model)
        self.engine.pin_entries()
        self.accounts = self.engine.book.accounts
        self.topped_up = self._top_up()
        r = self.engine.result()
        self.equity_start = r.equity.copy()
        self.insurance_start = config.insurance_fraction * float(np.maximum(r.equity, 0.0).sum())
        self.insurance = self.insurance_start
        self.impact = SqrtImpact(config.impact, _daily_vol(path), self._open_interest(market))
        self.used = self.adl = self.social = self.bad_debt = 0.0
        self.penalties = self.backstop = self.volume = self.adl_closed = 0.0
        self.unallocated = self.incentives = self.incentive_paid = self.system_socialized = 0.0
        self.liquidations = 0
        self.liquidated: set[str] = set()
        self.bankrupt: set[str] = set()
        self.debt_of: dict[str, float] = {}  # bad debt per account (USD), for the Cover-2 figure
        self.timeline: dict[str, list[float]] = {k: [] for k in _timeline_columns(path)}
        self.oracle_px: dict[str, float] = {}
        """The price each underlying's liquidations are triggered on, where it is not the market's (the
        DEX's push oracle); recorded as ``oracle_U`` (the market price where absent: the CEX's mark)."""
        self._step_liq = 0
        self._step_volume = 0.0
        self._next_point = 0

    # -- set-up ---------------------------------------------------------------------------------------
    def _top_up(self) -> int:
        r = self.engine.result()
        short = r.initial_margin - r.margin_balance
        rows = np.flatnonzero(short > 0)
        pfs = []
        for i in rows:
            pf = self.engine.book.portfolio(int(i))
            c = dict(pf.collateral)
            c["USDC"] = c.get("USDC", 0.0) + float(short[i]) * 1.001
            pfs.append(Portfolio(pf.account, c, pf.positions))
        self.engine.replace_accounts(pfs)
        return int(rows.size)

    def _open_interest(self, market: MarketSnapshot) -> dict[str, float]:
        """ADV per underlying = adv_to_oi × open interest (gross derivative notional / 2, USD)."""
        book = self.engine.book
        out = {}
        for u in self.path.underlyings:
            cols = [c for c, i in enumerate(book.instruments) if i.base == u and i.kind is not Kind.SPOT]
            gross = float(abs(book.q[:, cols]).sum()) * market.index(u) if cols else 0.0
            out[u] = self.config.impact.adv_to_oi * gross / 2.0
        return out

    # -- prices ---------------------------------------------------------------------------------------
    def price(self, u: str, log_factor: float) -> float:
        """The market price of ``u``: its start index moved by the path's log factor and the impact."""
        return self.base[u] * math.exp(log_factor + self.impact.log_impact(u))

    def grid(self) -> tuple[FloatArray, dict[str, FloatArray]]:
        """The simulation clock (every ``clock_s`` from the window's start) and each underlying's log price
        factor on it (log-linear between the path's points)."""
        ts = self.path.ts_s
        n = int((ts[-1] - ts[0]) // self.config.clock_s) + 1
        t = ts[0] + np.arange(n) * self.config.clock_s
        return t, {u: np.interp(t, ts, np.log(f)) for u, f in self.path.factors.items()}

    def move_engine(self, prices: Mapping[str, float]) -> None:
        """Tick the engine to these index prices (only the underlyings that moved); with ``vol_beta`` the
        underlying's implied vols move too: × clip((S / S0)^−β, 1/cap, cap) from the start's vols."""
        beta = self.config.vol_beta
        for u, p in prices.items():
            m = self.engine.market
            cur = m.index(u)
            if p == cur:
                continue
            moved = m.shifted(u, p / cur)
            if beta:
                cap = self.config.vol_cap
                f = min(max((p / self.base[u]) ** (-beta), 1.0 / cap), cap)
                iv = dict(moved.option_iv)
                for k in self.iv_names.get(u, ()):
                    iv[k] = self.iv0[k] * f
                vol = dict(moved.vol)
                if u in self.vol0:
                    vol[u] = self.vol0[u] * f
                moved = moved.replace(option_iv=iv, vol=vol)
            self.engine.tick(moved, u)

    def liquidatable(self) -> NDArray[np.intp]:
        r = self.engine.result()
        below = (r.margin_balance < r.maintenance_margin) & (r.maintenance_margin > 0)
        return np.flatnonzero(below | (r.margin_balance < -1e-6))

    # -- running totals ---------------------------------------------------------------------------------
    def count_liquidation(self, account: str) -> None:
        """One liquidation event of ``account`` (a CEX account liquidated on several ticks counts each time)."""
        self.liquidations += 1
        self._step_liq += 1
        self.liquidated.add(account)

    def add_volume(self, usd: float) -> None:
        """Notional liquidated (USD), in the total and in the current timeline row."""
        self.volume += usd
        self._step_volume += usd

    def collect_penalty(self, usd: float) -> None:
        """A liquidation penalty (USD), paid to the insurance fund (the DEX's surplus buffer)."""
        self.penalties += usd
        self.insurance += usd

    # -- the bankruptcy waterfall -----------------------------------------------------------------------
    def cover(self, debts: list[Debt], mode: str, *, system_debt: bool = False) -> None:
        """Cover each (account, bad debt USD, underlying, side, notional closed USD) by the waterfall.

        ADL: each chosen account pays its share of the debt out of its profit and has its delta-one
        positions on the other side of ``underlying`` reduced (at mark) by the same share of the bankrupt
        account's closed notional: the positions that took the other side of the loss are deleveraged.
        Socialized loss: a debit pro rata to positive equity, never more than that equity (the rest is
        carried by the venue: ``socialized_unallocated_usd``). ``system_debt``: a protocol cost (unpaid
        keeper incentives), socialized the same way but not an account's bad debt."""
        if not debts:
            return
        r = self.engine.result()
        # ADL candidates hold futures or perpetuals on the other side (what the bankrupt's closes traded with)
        delta_one = self._delta_one({d[2] for d in debts}) if mode == "adl" else {}
        profit = r.equity - self.equity_start
        debit = np.zeros(self.engine.book.n_accounts)
        reduce: dict[int, list[tuple[str, float, float]]] = {}
        for acc, amount, u, side, notional in debts:
            if not system_debt:
                self.debt_of[acc] = self.debt_of.get(acc, 0.0) + amount
            profits: dict[str, float] = {}
            leverage: dict[str, float] = {}
            if u in delta_one:
                profits, leverage = self._adl_ranking(r, profit - debit, delta_one[u], side)
            w = waterfall(
                amount,
                0.0 if system_debt else self.insurance,
                mode=mode,
                profits_usd=profits,
                leverage=leverage,
            )
            self._book(w, amount, system_debt=system_debt)
            for a, x in w.adl_by_account.items():
                row = self.engine._row_of[a]
                debit[row] += x
                if w.adl_usd > 0 and notional > 0:
                    reduce.setdefault(row, []).append((u, -side, notional * x / w.adl_usd))
            if w.socialized_usd > 0:
                self._socialize(w.socialized_usd, r.equity, debit)
        self._charge(debit, reduce)

    def _delta_one(self, underlyings: set[str]) -> dict[str, FloatArray]:
        """Each account's net size (coin) of futures and perpetuals on each of ``underlyings``."""
        book = self.engine.book
        return {
            u: np.asarray(
                book.q[
                    :,
                    [
                        c
                        for c, i in enumerate(book.instruments)
                        if i.base == u and i.kind in (Kind.FUTURE, Kind.PERPETUAL)
                    ],
                ].sum(axis=1)
            ).reshape(-1)
            for u in underlyings
        }

    def _adl_ranking(
        self, r: MarginResult, free: FloatArray, d: FloatArray, side: float
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Profit not yet debited and leverage of the accounts with delta-one size ``d`` opposite ``side``."""
        profits: dict[str, float] = {}
        leverage: dict[str, float] = {}
        cand = np.flatnonzero((free > 0) & (np.sign(d) == -side) & (d != 0))
        for i in cand:
            profits[self.accounts[i]] = float(free[i])
            leverage[self.accounts[i]] = float(r.initial_margin[i] / max(r.margin_balance[i], 1e-9))
        return profits, leverage

    def _book(self, w: WaterfallResult, amount: float, *, system_debt: bool) -> None:
        """Add one waterfall's split to the totals (a system debt only to ``system_socialized``)."""
        if system_debt:
            self.system_socialized += w.socialized_usd
        else:
            self.bad_debt += amount
            self.insurance = w.insurance_left_usd
            self.used += w.insurance_used_usd
            self.adl += w.adl_usd
            self.social += w.socialized_usd

    def _socialize(self, usd: float, equity: FloatArray, debit: FloatArray) -> None:
        """Add ``usd`` to ``debit`` (in place) pro rata to the equity left after it, never more than all of
        it; what is left over is carried by the venue (``unallocated``)."""
        eq = np.maximum(equity - debit, 0.0)
        charged = min(usd, float(eq.sum()))
        if charged > 0:
            debit += charged * eq / eq.sum()
        self.unallocated += usd - charged  # more than all equity: the venue carries it

    def _charge(self, debit: FloatArray, reduce: dict[int, list[tuple[str, float, float]]]) -> None:
        """Debit the accounts' USDC and deleverage the ADL'd ones (entries realised at mark, re-pinned)."""
        market = self.engine.market
        book = self.engine.book
        rows = np.union1d(np.flatnonzero(debit > 0), np.array(sorted(reduce), dtype=np.intp))
        pfs = []
        for i in rows:
            pf = book.portfolio(int(i))
            if i in reduce:
                pf = realize_entries(pf, market)
                for u, sign, usd in reduce[int(i)]:
                    pf, closed = _deleverage(pf, u, sign, usd, market)
                    self.adl_closed += closed
                pf = pin_portfolio(pf, market)
            c = dict(pf.collateral)
            c["USDC"] = c.get("USDC", 0.0) - float(debit[i])
            pfs.append(Portfolio(pf.account, c, pf.positions))
        self.engine.replace_accounts(pfs)

    def pay_incentive(self, usd: float, u: str) -> None:
        """Keeper incentives (kick, redo) are paid by the surplus buffer; what it cannot pay is system debt,
        socialized (Maker mints DAI for them, the ``vow`` carries it)."""
        if usd <= 0:
            return
        self.incentives += usd
        paid = min(usd, max(self.insurance, 0.0))
        self.insurance -= paid
        self.incentive_paid += paid
        if usd - paid > 0:
            self.cover([("~protocol", usd - paid, u, 1.0, 0.0)], "socialize", system_debt=True)

    # -- recording --------------------------------------------------------------------------------------
    def record_due(self, t: float, prices: Mapping[str, float]) -> None:
        """Record every path point not recorded yet up to the clock time ``t``."""
        ts = self.path.ts_s
        while self._next_point < ts.size and ts[self._next_point] <= t:
            self.record(float(ts[self._next_point]), self._next_point, prices)
            self._next_point += 1

    def record(self, ts: float, k: int, prices: Mapping[str, float]) -> None:
        r = self.engine.result()
        t = self.timeline
        t["ts_s"].append(ts)
        for u in self.path.underlyings:
            t[f"price_{u}"].append(prices[u])
            t[f"path_{u}"].append(self.base[u] * float(self.path.factors[u][k]))
            t[f"oracle_{u}"].append(self.oracle_px.get(u, prices[u]))
        t["margin_balance_usd"].append(float(r.margin_balance.sum()))
        t["maintenance_margin_usd"].append(float(r.maintenance_margin.sum()))
        t["liquidations"].append(float(self._step_liq))
        t["volume_usd"].append(self._step_volume)
        t["insurance_fund_usd"].append(self.insurance)
        t["bad_debt_usd"].append(self.bad_debt)
        self._step_liq, self._step_volume = 0, 0.0

    def restate_last_point(self) -> None:
        """Show the final fund and bad debt on the last point (for what happened after it was recorded)."""
        if self.timeline["ts_s"]:
            self.timeline["insurance_fund_usd"][-1] = self.insurance
            self.timeline["bad_debt_usd"][-1] = self.bad_debt

    def report(self, venue: str, detail: dict[str, Any], timing: dict[str, float]) -> ReplayReport:
        total = self.used + self.adl + self.social
        if abs(total - self.bad_debt) > 1e-6 * max(1.0, self.bad_debt):
            raise AssertionError(f"bad debt {self.bad_debt} != covered {total}")
        return ReplayReport(
            scenario=self.path.scenario.name,
            title=self.path.scenario.title,
            venue=venue,
            accounts=len(self.accounts),
            seed=self.seed,
            model=self.model.name,
            liquidations=self.liquidations,
            accounts_liquidated=len(self.liquidated),
            volume_liquidated_usd=self.volume,
            bad_debt_usd=self.bad_debt,
            insurance_fund_used_usd=self.used,
            adl_usd=self.adl,
            socialized_loss_usd=self.social,
            insurance_fund_start_usd=self.insurance_start,
            insurance_fund_end_usd=self.insurance,
            penalties_usd=self.penalties,
            backstop_usd=self.backstop,
            accounts_bankrupt=len(self.bankrupt),
            negative_balance_end_usd=float(np.maximum(-self.engine.result().margin_balance, 0.0).sum()),
            topped_up_accounts=self.topped_up,
            max_drawdown=self.path.worst(),
            max_impact={u: math.expm1(self.impact.peak.get(u, 0.0)) for u in self.path.underlyings},
            venue_detail={**detail, "socialized_unallocated_usd": self.unallocated},
            largest_bad_debts_usd=sorted(self.debt_of.values(), reverse=True)[:2],
            timeline=self.timeline,
            timing=timing,
        )


def _daily_vol(path: PricePath) -> dict[str, float]:
    """Each underlying's realised volatility over the window (bar closes' log returns), scaled to a day."""
    bar = path.bar_seconds
    sigma = {}
    for u, f in path.factors.items():
        closes = f[3::4]
        lr = np.diff(np.log(closes))
        sigma[u] = float(np.std(lr) * math.sqrt(86_400.0 / bar)) if lr.size > 1 else 0.0
    return sigma


def _timeline_columns(path: PricePath) -> tuple[str, ...]:
    return (
        "ts_s",
        *(f"price_{u}" for u in path.underlyings),
        *(f"path_{u}" for u in path.underlyings),
        *(f"oracle_{u}" for u in path.underlyings),
        "margin_balance_usd",
        "maintenance_margin_usd",
        "liquidations",
        "volume_usd",
        "insurance_fund_usd",
        "bad_debt_usd",
    )


def _deleverage(
    pf: Portfolio, u: str, sign: float, usd: float, market: MarketSnapshot
) -> tuple[Portfolio, float]:
    """Reduce ``pf``'s futures and perpetuals on ``u`` held with ``sign`` by ``usd`` of notional in total
    (pro rata, at mark; entries already realised). Returns the account and the notional closed."""
    held = [
        p
        for p in pf.positions
        if p.instrument.base == u
        and p.instrument.kind in (Kind.FUTURE, Kind.PERPETUAL)
        and np.sign(p.size_coin) == sign
    ]
    total = sum(abs(p.size_coin) for p in held) * market.index(u)
    if total <= 0 or usd <= 0:
        return pf, 0.0
    keep = 1.0 - min(usd / total, 1.0)
    positions = tuple(
        Position(p.instrument, p.size_coin * keep) if p in held else p
        for p in pf.positions
        if not (p in held and keep == 0.0)
    )
    return Portfolio(pf.account, pf.collateral, positions), total * (1.0 - keep)
