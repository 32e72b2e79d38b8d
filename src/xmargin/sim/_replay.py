"""Crash replay: one generated book through a real crash, under a CEX and under a DEX.

Both venues start from the same seeded book (``engine.generate_book`` on the shipped Deribit snapshot), the
same margin model (``pm`` by default) and the same price path (``sim.load_path``: the crash's relative moves
applied to today's market). Liquidation flow moves the price by the square-root law (``sim._impact``), so
large liquidations can cascade. What differs is how each venue sees prices and liquidates:

**CEX** (``venue="cex"``). The engine recomputes the whole book at every point of the path (four per bar)
at the market price, and after each liquidation round at the impacted price (up to ``max_rounds`` rounds per
point: the cascade). Accounts below maintenance are liquidated partially by ``liquidation.liquidate``
(riskiest position first, slices at mark with the penalty to the insurance fund, a backstop beyond market
depth) until they are back above ``(1 + buffer) × MM``. Futures are settled at mark first
(``realize_entries``) and what is left is re-entered at mark. The wall time of each account's liquidation
decision is measured. An account left with a deficit and no positions is bad debt, covered by the
bankruptcy waterfall (``liquidation.waterfall``): the insurance fund, then auto-deleveraging of profitable
accounts on the other side (ranked by profit × leverage; each pays its share out of its profit and its
futures and perpetuals on that side are reduced at mark by the same share of the bankrupt account's closed
notional) or a socialized loss (pro rata over positive equity).

**DEX** (``venue="dex"``). Time runs in blocks (``block_s``, 12 s: Ethereum's slot time since the Merge).
Each underlying has a push oracle (``oracle.PushOracle``: deviation / heartbeat, optional OSM-style
delay); the engine only sees the oracle, and only when it updates. An account below maintenance at the
oracle is *kicked*: its positions are taken over at the oracle price and converted to their delta (gamma
and vega are dropped: an on-chain vault holds collateral, not options), so that it becomes a vault in the
MakerDAO sense: ``lot`` coins of each underlying it was long (delta, including coin collateral) and a USD
debt ``D = Σ lot × oracle − equity``. Net short delta is bought back at once at the market (with impact).
Each lot is sold by a Clipper Dutch auction (``liquidation.DutchAuction``) for ``tab = D × chop``, starting
at ``oracle × buf`` and falling on the Stairstep curve, reset on ``tail`` or ``cusp``; keepers (a seeded
set, each with a gas cost, a latency in blocks and limited capital: partial fills) take when profitable
after gas at the market price and resell what they buy into the market (impact); a take is sized so that it
never leaves less than ``chost``. An account's sales are netted when all are over: proceeds beyond the
debts (the penalty) go to the surplus buffer (the insurance fund here); a shortfall is paid first from the
lots that came back unsold, the rest is bad debt, covered by the buffer and then socialized (Maker's answer
is to mint MKR in a debt auction: a loss spread over others). Keeper incentives (``tip + chip × tab`` on
kick and redo) are paid by the buffer apart from bad debt. A debt below ``dust`` cannot be a vault: its
lots are sold at the market at once. Auctions still running at the end of the window are closed out at the
market.

Default auction parameters: MakerDAO's WBTC-C vault type (forum "Proposed Risk Parameters for WBTC-C Vault
Type", Risk Core Unit, 2021-11): StairstepExponentialDecrease ``cut`` 0.99 per ``step`` 90 s, ``buf`` 1.2,
``cusp`` 0.4, ``tail`` 90 min, ``chip`` 0.1%, ``tip`` 300 DAI, ``chop`` 13%, ``dust`` 7,500 DAI (``chost
= dust × chop``). Keepers: ASSUMED (3 keepers, gas 50 USD per transaction, 1-3 blocks latency, 1M USD of
capital each).

Accounting: every liquidation's penalty goes to the insurance fund; every bad debt is split by the
waterfall so that ``bad_debt = insurance_fund_used + adl + socialized_loss`` holds exactly (asserted).
Everything is a function of (scenario, venue, accounts, seed, config): timings are reported apart.

The book starts as a venue would hold it: accounts below initial margin at the start are topped up with
USDC to their initial margin (a venue does not let an account open below it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xmargin.core import SCHEMA_VERSION, InputError, check
from xmargin.engine import BookEngine, generate_book
from xmargin.instruments import Instrument, Kind, Portfolio, Position
from xmargin.liquidation import (
    AuctionError,
    CexConfig,
    DutchAuction,
    StairstepExponentialDecrease,
    keeper_bids,
    liquidate,
    waterfall,
)
from xmargin.margin import resolve_model
from xmargin.market import DEMO_SNAPSHOT, MarketSnapshot, load_deribit_chain, shipped_chain_path
from xmargin.oracle import PushOracle, PushOracleConfig
from xmargin.risk import Book, pin_portfolio, portfolio_greeks, realize_entries, resolve, resolve_instruments
from xmargin.sim._impact import ImpactConfig, SqrtImpact
from xmargin.sim._scenarios import PricePath, load_path

FloatArray = NDArray[np.float64]
VENUES = ("cex", "dex")
ETH_BLOCK_S = 12.0
"""Ethereum's slot time since the Merge: keeper latencies are counted in these blocks."""


@dataclass(frozen=True, slots=True)
class DexConfig:
    """DEX parameters (sources in the module docstring)."""

    oracle: PushOracleConfig = field(default_factory=PushOracleConfig)
    buf: float = 1.2
    tail_s: float = 5400.0
    cusp: float = 0.4
    chip: float = 0.001
    tip_usd: float = 300.0
    chop: float = 1.13
    dust_usd: float = 7500.0
    step_s: float = 90.0
    cut: float = 0.99
    keepers: int = 3
    keeper_gas_usd: float = 50.0
    keeper_latency_blocks: tuple[int, int] = (1, 3)
    keeper_capital_usd: float = 1_000_000.0

    def __post_init__(self) -> None:
        check.in_range(self.chop, 1.0, 2.0, where="DexConfig.chop")
        check.positive(self.keeper_capital_usd, where="DexConfig.keeper_capital_usd")
        if self.keepers < 0:
            raise InputError(where="DexConfig.keepers", expected="a number >= 0", found=self.keepers)


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """What is held fixed in a replay: model, insurance fund, waterfall, impact, venue parameters."""

    model: str = "pm"
    """A model kind, a preset name or a preset file (``xmargin.margin.resolve_model``)."""
    insurance_fraction: float = 0.02
    """Insurance fund at the start as a share of the book's total equity (ASSUMED; Binance's fund was of
    the order of 1-5% of its futures open interest in 2021-2022)."""
    waterfall: str = "adl"
    cex: CexConfig = field(default_factory=CexConfig)
    dex: DexConfig = field(default_factory=DexConfig)
    impact: ImpactConfig = field(default_factory=ImpactConfig)
    max_rounds: int = 6
    clock_s: float = 12.0
    """The simulation clock: one DEX block (Ethereum's 12 s slot); the CEX samples the market as often."""
    vol_beta: float = 0.0
    """Implied vols × (S / S0)^−β as the crash moves (0: vols held, sticky strike). The 2026-02 sell-off in
    the shipped Deribit snapshots (shared/data/crashes/2026-02-05_selloff_deribit_snapshots.csv: 30-day ATM
    IV against the index, 38 snapshots, log-levels regression) gives β ≈ 2.25 for BTC and 1.41 for ETH."""
    vol_cap: float = 3.0
    """The vol factor is kept within [1/cap, cap] (ASSUMED: BTC 30-day IV roughly tripled at most in the
    crashes replayed here)."""
    cex_tick_move: float = 0.002
    """The CEX engine recomputes the book whenever a mark has moved this much since its last tick (a real
    engine recomputes on every mark update; 0.2%, below the DEX oracle's 0.5% band, keeps a week-long replay to a few thousand ticks)."""

    def __post_init__(self) -> None:
        check.positive(self.clock_s, where="ReplayConfig.clock_s")
        check.in_range(self.vol_beta, 0.0, 10.0, where="ReplayConfig.vol_beta")
        check.in_range(self.vol_cap, 1.0, 100.0, where="ReplayConfig.vol_cap")
        check.in_range(self.cex_tick_move, 0.0, 0.05, where="ReplayConfig.cex_tick_move")
        check.in_range(self.insurance_fraction, 0.0, 1.0, where="ReplayConfig.insurance_fraction")
        if self.waterfall not in ("adl", "socialize"):
            raise InputError(
                where="ReplayConfig.waterfall", expected="adl or socialize", found=self.waterfall
            )


OUTCOME_FIELDS = (
    "liquidations",
    "accounts_liquidated",
    "volume_liquidated_usd",
    "bad_debt_usd",
    "insurance_fund_used_usd",
    "adl_usd",
    "socialized_loss_usd",
    "penalties_usd",
)
"""The report's outcome figures (summaries, charts, sweeps)."""


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """The outcome of one replay. ``timeline`` has one row per path point (dict of equal-length lists)."""

    scenario: str
    title: str
    venue: str
    accounts: int
    seed: int
    model: str
    liquidations: int
    accounts_liquidated: int
    volume_liquidated_usd: float
    bad_debt_usd: float
    insurance_fund_used_usd: float
    adl_usd: float
    socialized_loss_usd: float
    insurance_fund_start_usd: float
    insurance_fund_end_usd: float
    penalties_usd: float
    backstop_usd: float
    accounts_bankrupt: int
    negative_balance_end_usd: float
    """Σ of negative margin balances left at the end (0 unless an account went under after the last tick)."""
    topped_up_accounts: int
    max_drawdown: dict[str, float]
    max_impact: dict[str, float]
    venue_detail: dict[str, Any]
    timeline: dict[str, list[float]] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def as_dict(self, *, timeline: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not timeline:
            d.pop("timeline")
        return d


# ----------------------------------------------------------------------------------------------------------
# the shared state of a replay
# ----------------------------------------------------------------------------------------------------------


class _Venue:
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
        bar = path.bar_seconds
        sigma = {}
        for u, f in path.factors.items():
            closes = f[3::4]
            lr = np.diff(np.log(closes))
            sigma[u] = float(np.std(lr) * math.sqrt(86_400.0 / bar)) if lr.size > 1 else 0.0
        self.impact = SqrtImpact(config.impact, sigma, self._open_interest(market))
        self.used = self.adl = self.social = self.bad_debt = 0.0
        self.penalties = self.backstop = self.volume = self.adl_closed = 0.0
        self.unallocated = self.incentives = self.incentive_paid = self.system_socialized = 0.0
        self.liquidations = 0
        self.liquidated: set[str] = set()
        self.bankrupt: set[str] = set()
        self.timeline: dict[str, list[float]] = {
            k: []
            for k in (
                "ts_s",
                *(f"price_{u}" for u in path.underlyings),
                *(f"path_{u}" for u in path.underlyings),
                "margin_balance_usd",
                "maintenance_margin_usd",
                "liquidations",
                "volume_usd",
                "insurance_fund_usd",
                "bad_debt_usd",
            )
        }
        self._step_liq = 0
        self._step_volume = 0.0

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

    # -- the bankruptcy waterfall -----------------------------------------------------------------------
    def cover(
        self, debts: list[tuple[str, float, str, float, float]], mode: str, *, system_debt: bool = False
    ) -> None:
        """Cover each (account, bad debt USD, underlying, side, notional closed USD) by the waterfall.

        ADL: each chosen account pays its share of the debt out of its profit and has its delta-one
        positions on the other side of ``underlying`` reduced (at mark) by the same share of the bankrupt
        account's closed notional: the positions that took the other side of the loss are deleveraged.
        Socialized loss: a debit pro rata to positive equity, never more than that equity (the rest is
        carried by the venue: ``socialized_unallocated_usd``). ``system_debt``: a protocol cost (unpaid
        keeper incentives), socialized the same way but not an account's bad debt."""
        if not debts:
            return
        market = self.engine.market
        r = self.engine.result()
        book = self.engine.book
        # ADL candidates hold futures or perpetuals on the other side (what the bankrupt's closes traded with)
        delta_one = (
            {
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
                for u in {d[2] for d in debts}
            }
            if mode == "adl"
            else {}
        )
        profit = r.equity - self.equity_start
        debit = np.zeros(book.n_accounts)
        reduce: dict[int, list[tuple[str, float, float]]] = {}
        for _acc, amount, u, side, notional in debts:
            profits: dict[str, float] = {}
            leverage: dict[str, float] = {}
            if mode == "adl" and u in delta_one:
                d = delta_one[u]
                free = profit - debit
                cand = np.flatnonzero((free > 0) & (np.sign(d) == -side) & (d != 0))
                for i in cand:
                    profits[self.accounts[i]] = float(free[i])
                    leverage[self.accounts[i]] = float(r.initial_margin[i] / max(r.margin_balance[i], 1e-9))
            w = waterfall(
                amount,
                0.0 if system_debt else self.insurance,
                mode=mode,
                profits_usd=profits,
                leverage=leverage,
            )
            if system_debt:
                self.system_socialized += w.socialized_usd
            else:
                self.bad_debt += amount
                self.insurance = w.insurance_left_usd
                self.used += w.insurance_used_usd
                self.adl += w.adl_usd
                self.social += w.socialized_usd
            for a, x in w.adl_by_account.items():
                row = self.engine._row_of[a]
                debit[row] += x
                if w.adl_usd > 0 and notional > 0:
                    reduce.setdefault(row, []).append((u, -side, notional * x / w.adl_usd))
            if w.socialized_usd > 0:
                eq = np.maximum(r.equity - debit, 0.0)
                charged = min(w.socialized_usd, float(eq.sum()))
                if charged > 0:
                    debit += charged * eq / eq.sum()
                self.unallocated += w.socialized_usd - charged  # more than all equity: the venue carries it
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
    def record(self, ts: float, k: int, prices: Mapping[str, float]) -> None:
        r = self.engine.result()
        t = self.timeline
        t["ts_s"].append(ts)
        for u in self.path.underlyings:
            t[f"price_{u}"].append(prices[u])
            t[f"path_{u}"].append(self.base[u] * float(self.path.factors[u][k]))
        t["margin_balance_usd"].append(float(r.margin_balance.sum()))
        t["maintenance_margin_usd"].append(float(r.maintenance_margin.sum()))
        t["liquidations"].append(float(self._step_liq))
        t["volume_usd"].append(self._step_volume)
        t["insurance_fund_usd"].append(self.insurance)
        t["bad_debt_usd"].append(self.bad_debt)
        self._step_liq, self._step_volume = 0, 0.0

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
            timeline=self.timeline,
            timing=timing,
        )


# ----------------------------------------------------------------------------------------------------------
# CEX
# ----------------------------------------------------------------------------------------------------------


def _replay_cex(v: _Venue) -> ReplayReport:
    cfg = v.config
    latencies: list[float] = []
    rounds_max = 0
    ticks = 0
    t_blocks, logf = v.grid()
    us = v.path.underlyings
    seen = {u: v.engine.market.index(u) for u in us}
    t0 = time.perf_counter()
    next_point = 0
    px: dict[str, float] = {}
    for b in range(t_blocks.size):
        t = float(t_blocks[b])
        v.impact.decay_to(t)
        px = {u: v.price(u, float(logf[u][b])) for u in us}
        moved = {u: p for u, p in px.items() if abs(p / seen[u] - 1.0) >= cfg.cex_tick_move}
        if moved:
            ticks += 1
            v.move_engine(moved)
            seen.update(moved)
            rounds = 0
            while rounds < cfg.max_rounds:
                rows = v.liquidatable()
                if rows.size == 0:
                    break
                rounds += 1
                latencies.extend(_liquidate_cex(v, rows))
                px = {u: v.price(u, float(logf[u][b])) for u in us}
                v.move_engine(px)
                seen.update(px)
            rounds_max = max(rounds_max, rounds)
        while next_point < v.path.ts_s.size and v.path.ts_s[next_point] <= t:
            v.record(float(v.path.ts_s[next_point]), next_point, px)
            next_point += 1
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1e3
    timing = {
        "wall_s": wall,
        "decision_latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else 0.0,
        "decision_latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else 0.0,
        "decision_latency_max_ms": float(lat.max()) if lat.size else 0.0,
    }
    detail = {
        "clock_s": cfg.clock_s,
        "engine_ticks": ticks,
        "tick_move": cfg.cex_tick_move,
        "max_cascade_rounds": rounds_max,
        "adl_closed_usd": v.adl_closed,
        "penalty": cfg.cex.penalty,
        "buffer": cfg.cex.buffer,
    }
    return v.report("cex", detail, timing)


def _liquidate_cex(v: _Venue, rows: NDArray[np.intp]) -> list[float]:
    """One liquidation round over the accounts ``rows``; returns each account's decision time (s)."""
    cfg = v.config
    market = v.engine.market
    replaced = []
    debts = []
    latencies = []
    for i in rows:
        acc = v.accounts[i]
        s = time.perf_counter()
        pf = realize_entries(v.engine.portfolio(acc), market)
        res = liquidate(v.model, pf, market, cfg.cex)
        latencies.append(time.perf_counter() - s)
        v.liquidations += 1
        v._step_liq += 1
        v.liquidated.add(acc)
        v.penalties += res.insurance_fee_usd
        v.insurance += res.insurance_fee_usd
        for f in res.fills:
            v.volume += f.notional_usd
            v._step_volume += f.notional_usd
            if f.backstop:
                v.backstop += f.notional_usd
            else:  # the market takes the slice's delta (options: size × Black delta)
                u = f.instrument.base
                v.impact.add(u, f.size_coin * _delta(f.instrument, market) * market.index(u))
        if res.bad_debt_usd > 0:
            v.bankrupt.add(acc)
            u_main = _main_underlying(res)
            fills_u = [f for f in res.fills if f.instrument.base == u_main]
            closed = sum(f.notional_usd for f in fills_u)
            # the side of the derivatives closed (a fill trades against the position: -size is its sign)
            held = sum(-f.size_coin * _delta(f.instrument, market) for f in fills_u)
            debts.append((acc, res.bad_debt_usd, u_main, float(np.sign(held)), closed))
        replaced.append(pin_portfolio(res.account, market))
    v.engine.replace_accounts(replaced)
    v.cover(debts, cfg.waterfall)
    return latencies


def _delta(inst: Instrument, market: MarketSnapshot) -> float:
    """Delta per coin of a filled instrument: 1 for futures and perpetuals, Black delta for an option."""
    if inst.kind is not Kind.OPTION:
        return 1.0
    return float(resolve_instruments((inst,), market).delta[0])


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


def _main_underlying(res: Any) -> str:
    notional: dict[str, float] = {}
    for f in res.fills:
        u = f.instrument.base
        notional[u] = notional.get(u, 0.0) + f.notional_usd
    return max(notional, key=lambda u: notional[u]) if notional else "BTC"


# ----------------------------------------------------------------------------------------------------------
# DEX
# ----------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Keeper:
    gas_usd: float
    latency_s: float
    capital_usd: float
    busy_until: float = -math.inf
    takes: int = 0
    reverts: int = 0
    profit_usd: float = 0.0


@dataclass(slots=True)
class _Sale:
    account: str
    underlying: str
    auction: DutchAuction
    debt_usd: float
    proceeds_usd: float = 0.0
    group: tuple[str, int] = ("", 0)


def _take_size(a: DutchAuction, price: float, capital_usd: float) -> float:
    """What a keeper with ``capital_usd`` can take at ``price`` under Maker's dust rule: a partial take may
    not leave ``tab`` below ``chost`` (then it buys less, leaving exactly ``chost``, or nothing)."""
    if price <= 0:
        return a.lot_coin
    amount = min(a.lot_coin, capital_usd / price)
    owe = amount * price
    tab, chost = a.tab_usd, a.params.chost
    if owe < tab and amount < a.lot_coin and tab - owe < chost:
        return (tab - chost) / price if tab > chost else 0.0
    return amount


@dataclass(slots=True)
class _PendingTake:
    land_s: float
    keeper: _Keeper
    sale: _Sale
    amount_coin: float
    max_price: float


def _replay_dex(v: _Venue) -> ReplayReport:
    cfg = v.config.dex
    rng = np.random.default_rng(v.seed + 1)
    lo, hi = cfg.keeper_latency_blocks
    keepers = [
        _Keeper(cfg.keeper_gas_usd, float(rng.integers(lo, hi + 1)) * ETH_BLOCK_S, cfg.keeper_capital_usd)
        for _ in range(cfg.keepers)
    ]
    oracles = {u: PushOracle(cfg.oracle) for u in v.path.underlyings}
    curve = StairstepExponentialDecrease(step_seconds=cfg.step_s, cut=cfg.cut)
    ts_path = v.path.ts_s
    t_blocks, logf = v.grid()
    n_blocks = t_blocks.size
    sales: list[_Sale] = []
    pending: list[_PendingTake] = []
    stats = {
        "auctions": 0,
        "auction_groups": 0,
        "settled_groups": 0,
        "dust_closeouts": 0,
        "redos": 0,
        "takes": 0,
        "reverted_takes": 0,
    }
    kicks = 0
    stats_f = {"auction_discount_sum": 0.0, "auction_coin_sum": 0.0, "closed_out_at_end": 0}
    kicks_lat: list[float] = []
    next_point = 0
    t0 = time.perf_counter()
    market_px: dict[str, float] = {}

    groups: dict[tuple[str, int], list[_Sale]] = {}  # the sales of one account's kick
    settled: set[tuple[str, int]] = set()

    def settle(sale: _Sale) -> None:
        """A sale is over. Once all of its account's sales are over they are netted: proceeds beyond the
        debts (the penalty) go to the surplus buffer; a shortfall is paid first out of the lots that came
        back unsold (sold at the market), and only what is still missing is bad debt."""
        group = groups[sale.group]
        if sale.group in settled or not all(x.auction.done for x in group):
            return
        settled.add(sale.group)
        stats["settled_groups"] += 1
        surplus = sum(x.proceeds_usd - x.debt_usd for x in group)
        back = {x.underlying: 0.0 for x in group}
        for x in group:
            back[x.underlying] += x.auction.lot_coin
        if surplus < 0:
            for u in sorted(back):
                if surplus >= 0 or back[u] <= 0:
                    continue
                px = market_px[u]
                sold = min(back[u], -surplus / px)
                back[u] -= sold
                surplus += sold * px
                v.impact.add(u, -sold * px)
        if any(c > 0 for c in back.values()):
            pf = v.engine.portfolio(sale.account)
            c = dict(pf.collateral)
            for u, coin in back.items():
                if coin > 0:
                    c[u] = c.get(u, 0.0) + coin
            v.engine.replace_accounts([Portfolio(pf.account, c, pf.positions)])
        if surplus >= -1e-9:
            v.insurance += max(surplus, 0.0)
            v.penalties += max(surplus, 0.0)
        else:
            v.bankrupt.add(sale.account)
            v.cover([(sale.account, -surplus, sale.underlying, 1.0, 0.0)], "socialize")

    for b in range(n_blocks):
        t = float(t_blocks[b])
        v.impact.decay_to(t)
        for u in v.path.underlyings:
            market_px[u] = v.price(u, float(logf[u][b]))
        moved = {u: oracles[u].price for u in v.path.underlyings if oracles[u].observe(t, market_px[u])}
        if moved:
            v.move_engine(moved)
            rows = v.liquidatable()
            if rows.size:
                s = time.perf_counter()
                kicks += 1
                for sale in _kick(v, rows, t, oracles, market_px, curve, stats):
                    sale.group = (sale.account, kicks)
                    sales.append(sale)
                    if sale.group not in groups:
                        stats["auction_groups"] += 1
                    groups.setdefault(sale.group, []).append(sale)
                kicks_lat.append((time.perf_counter() - s) / rows.size)
        # keepers: redo what needs it, then bid
        for sale in sales:
            a = sale.auction
            if a.done:
                continue
            st = a.status(t)
            if st.needs_redo:
                v.pay_incentive(a.redo(oracles[sale.underlying].price, t), sale.underlying)
                stats["redos"] += 1
            for j in rng.permutation(len(keepers)):  # who sees the sale first: seeded, fair
                kp = keepers[j]
                if kp.busy_until > t:
                    continue
                if keeper_bids(a, market_px[sale.underlying], kp.gas_usd, kp.latency_s, t):
                    price = a.price_at(t + kp.latency_s)
                    amount = _take_size(a, price, kp.capital_usd)
                    if amount > 0:
                        pending.append(_PendingTake(t + kp.latency_s, kp, sale, amount, price))
                        kp.busy_until = t + kp.latency_s
        # transactions landing in this block
        if pending:
            landing = [p for p in pending if p.land_s <= t]
            pending = [p for p in pending if p.land_s > t]
            for p in landing:
                a, u = p.sale.auction, p.sale.underlying
                now = a.status(t)
                if a.done or now.needs_redo or now.price > p.max_price:
                    p.keeper.reverts += 1
                    p.keeper.profit_usd -= p.keeper.gas_usd
                    stats["reverted_takes"] += 1
                    continue
                try:
                    take = a.take(p.amount_coin, p.max_price, t)
                except AuctionError:  # e.g. a partial take that would leave dust: reverted, gas lost
                    p.keeper.reverts += 1
                    p.keeper.profit_usd -= p.keeper.gas_usd
                    stats["reverted_takes"] += 1
                    continue
                p.sale.proceeds_usd += take.usd_paid
                p.keeper.takes += 1
                stats["takes"] += 1
                p.keeper.profit_usd += take.coin_bought * market_px[u] - take.usd_paid - p.keeper.gas_usd
                stats_f["auction_discount_sum"] += take.coin_bought * market_px[u] - take.usd_paid
                stats_f["auction_coin_sum"] += take.coin_bought * market_px[u]
                v.impact.add(u, -take.coin_bought * market_px[u])  # the keeper resells at once
                if a.done:
                    settle(p.sale)
        while next_point < ts_path.size and ts_path[next_point] <= t:
            v.record(float(ts_path[next_point]), next_point, dict(market_px))
            next_point += 1
    # the window ends: what is still for sale is closed out at the market
    for sale in sales:
        a = sale.auction
        if a.done:
            continue
        px_u = market_px[sale.underlying]
        coins = min(a.lot_coin, a.tab_usd / px_u)
        sale.proceeds_usd += coins * px_u
        stats_f["closed_out_at_end"] += 1
        v.impact.add(sale.underlying, -coins * px_u)
        a.close_out(coins)
    for sale in sales:
        settle(sale)
    if v.timeline["ts_s"]:  # the close-outs happen after the last point: it shows the final fund and debt
        v.timeline["insurance_fund_usd"][-1] = v.insurance
        v.timeline["bad_debt_usd"][-1] = v.bad_debt
    wall = time.perf_counter() - t0
    detail: dict[str, Any] = {
        "blocks": n_blocks,
        "block_s": v.config.clock_s,
        "oracle_updates": {u: o.updates for u, o in oracles.items()},
        **stats,
        "keeper_incentives_usd": v.incentives,
        "keeper_incentives_paid_by_fund_usd": v.incentive_paid,
        "keeper_incentives_socialized_usd": v.system_socialized,
        "closed_out_at_end": stats_f["closed_out_at_end"],
        "keeper_discount_pct": (
            100.0 * stats_f["auction_discount_sum"] / stats_f["auction_coin_sum"]
            if stats_f["auction_coin_sum"] > 0
            else 0.0
        ),
        "keepers": [
            {
                "gas_usd": k.gas_usd,
                "latency_s": k.latency_s,
                "takes": k.takes,
                "reverts": k.reverts,
                "profit_usd": k.profit_usd,
            }
            for k in keepers
        ],
    }
    lat = np.array(kicks_lat) * 1e3
    timing = {
        "wall_s": wall,
        "kick_latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else 0.0,
        "kick_latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else 0.0,
    }
    return v.report("dex", detail, timing)


def _kick(
    v: _Venue,
    rows: NDArray[np.intp],
    t: float,
    oracles: Mapping[str, PushOracle],
    market_px: Mapping[str, float],
    curve: StairstepExponentialDecrease,
    stats: dict[str, Any],
) -> list[_Sale]:
    """Seize the accounts below maintenance: positions → delta lots + a USD debt, one auction per lot."""
    cfg = v.config.dex
    market = v.engine.market
    r = v.engine.result()
    sales: list[_Sale] = []
    emptied: list[Portfolio] = []
    debts: list[tuple[str, float, str, float, float]] = []
    incentives: list[tuple[float, str]] = []
    for i in rows:
        acc = v.accounts[i]
        pf = v.engine.portfolio(acc)
        one = Book.from_portfolio(pf)
        greeks = portfolio_greeks(one, resolve(one, market))
        equity = float(r.equity[i])
        lots: dict[str, float] = {}
        bought_back = 0.0
        for u, g in greeks.items():
            d = float(g["delta_coin"][0])
            if u not in oracles or d == 0.0:
                continue
            if d > 0:
                lots[u] = d
            else:  # short delta: bought back at once at the market, with impact
                equity -= -d * (market_px[u] - oracles[u].price)
                v.impact.add(u, -d * market_px[u])
                bought_back += -d * market_px[u]
        v.backstop += bought_back
        value = sum(d * oracles[u].price for u, d in lots.items())
        v.liquidations += 1
        v._step_liq += 1
        v.liquidated.add(acc)
        v.volume += value + bought_back
        v._step_volume += value + bought_back
        debt = value - equity
        if lots and 0 < debt < cfg.dust_usd:
            # below Maker's dust no vault can exist: the lots are sold at the market at once
            proceeds = 0.0
            for u, d in lots.items():
                proceeds += d * market_px[u]
                v.impact.add(u, -d * market_px[u])
            stats["dust_closeouts"] += 1
            if proceeds >= debt:
                emptied.append(Portfolio(acc, {"USDC": proceeds - debt}, ()))
            else:
                v.bankrupt.add(acc)
                debts.append((acc, debt - proceeds, next(iter(lots)), 1.0, 0.0))
                emptied.append(Portfolio(acc, {}, ()))
            continue
        if not lots or debt <= 0:
            # nothing to auction, or no debt: the account is flattened into its lots and cash
            if equity < 0 and not lots:
                v.bankrupt.add(acc)
                debts.append((acc, -equity, next(iter(oracles)), 1.0, 0.0))
                emptied.append(Portfolio(acc, {}, ()))
            else:
                emptied.append(Portfolio(acc, {**lots, "USDC": -debt} if lots else {"USDC": equity}, ()))
            continue
        emptied.append(Portfolio(acc, {}, ()))
        for u, d in lots.items():
            share = d * oracles[u].price / value
            a = DutchAuction(
                buf=cfg.buf,
                tail=cfg.tail_s,
                cusp=cfg.cusp,
                chip=cfg.chip,
                tip=cfg.tip_usd,
                chost=cfg.dust_usd * cfg.chop,
                curve=curve,
            )
            tab = debt * share * cfg.chop
            incentives.append((a.kick(tab, d, oracles[u].price, t), u))
            stats["auctions"] += 1
            sales.append(_Sale(acc, u, a, debt * share))
    v.engine.replace_accounts(emptied)
    v.cover(debts, "socialize")
    for usd, u in incentives:  # after the batch is emptied: a shortfall is never charged to a seized account
        v.pay_incentive(usd, u)
    return sales


# ----------------------------------------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------------------------------------


def replay(
    scenario: str,
    venue: str,
    *,
    accounts: int = 1000,
    seed: int = 0,
    config: ReplayConfig = ReplayConfig(),
) -> ReplayReport:
    """Replay ``scenario`` (a shipped crash window) on a generated book of ``accounts`` under ``venue``."""
    if venue not in VENUES:
        raise InputError(where="venue", expected="cex or dex", found=venue)
    if not isinstance(accounts, int) or accounts < 1:
        raise InputError(where="accounts", expected="an integer >= 1", found=accounts)
    path = load_path(scenario)
    v = _Venue(path, accounts, seed, config)
    return _replay_cex(v) if venue == "cex" else _replay_dex(v)
