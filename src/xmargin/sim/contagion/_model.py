"""Contagion across venues: several venues on shared markets, one price impact, market makers on two
venues, collateral behind bridges (``xmargin contagion``).

**Market.** The shared assets follow a shipped crash window (``sim.load_path``: four points per bar) from
a start price of 1.0 × today's demo index. Liquidation flow on *any* venue moves the one shared price by the
square-root law ``ΔlogP = −sign(F) · Y · σ_daily · sqrt(|F| / V)`` (``sim._impact.SqrtImpact``: Tóth et
al., Phys. Rev. X 1, 021006, 2011; F the unabsorbed flow, decaying with a half-life; V the daily volume
the flow trades into, ``impact.depth_usd_per_day``, cited in the example file). ``--impact-scale``
multiplies Y (0: no feedback).

**Venues.** Each has its own margin (maintenance and initial rates on notional), oracle (the market price
``oracle_delay_minutes`` ago, on the path's step grid) and liquidation engine:

- ``cex``: partial liquidation, ``liquidation_step`` of the position (as first liquidated) per cascade
  round at the market price, the penalty (capped at the margin left) to the insurance fund; bad debt is paid
  by the fund, then by **ADL** (the profitable accounts on the other side of the same asset, ranked by
  profit × leverage, each giving up at most its profit), then socialized;
- ``dex``: the whole position closed at the market price once the (delayed) oracle shows it below
  maintenance, the penalty to the surplus buffer (its insurance fund); bad debt is paid by the buffer, then
  socialized pro rata over the venue's positive equity (Maker's debt auction, in effect).

**Accounts.** Generated per venue (seeded): one perpetual position each on one of the shared assets, a
log-uniform notional and a uniform leverage, long with probability ``long_share``; their collateral is
USDC, or a bridged asset for the share ``bridges[*].collateral_share``. A share of the accounts answers a
margin call (equity below IM) by sending ``top_up_fraction`` of its starting collateral once; a bridged
account's top-up crosses its bridge and arrives ``latency_minutes`` later, or never if the bridge halts
first. A bridged asset is marked at ``depeg_price`` from ``depeg_at_hour`` on.

**Market makers** hold a long on one venue and the same notional short on another, each leg margined by
its own venue: when one leg is liquidated the other is left unhedged (reported).

**Cascade.** At every step: the market moves, top-ups arrive, then rounds: every venue liquidates what its
oracle shows below maintenance; the flow moves the shared price; the next round sees it; until a round
liquidates nothing (or ``max_rounds``). ``cascade_rounds`` is the longest such run in one step.

**Amplification** is the largest fall of any shared asset from its running high with feedback ÷ the same
without it (the same run with Y = 0).

**DebtRank** (``_debtrank``) runs on the network of what the run's losses were: nodes are the venues (value:
their insurance fund at the start), each venue's traders as one node (value: their collateral) and each
market maker (value: its collateral); traders and market makers impact their venue by the bad debt they
left over the venue's fund, a venue impacts its traders and market makers by the ADL and socialized loss it
charged them over their capital. The initial distress of a node is the share of its capital that went
bankrupt.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xmargin.core import SCHEMA_VERSION
from xmargin.market import DEMO_SNAPSHOT, load_deribit_chain, shipped_chain_path
from xmargin.sim._impact import ImpactConfig, SqrtImpact
from xmargin.sim._scenarios import PricePath, load_path
from xmargin.sim.contagion._config import ContagionFile, Overrides, VenueSpec

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class VenueOutcome:
    """One venue's losses (USD) and events over the run."""

    kind: str
    accounts: int
    liquidations: int
    volume_liquidated_usd: float
    bad_debt_usd: float
    insurance_fund_used_usd: float
    adl_usd: float
    socialized_loss_usd: float
    penalties_usd: float
    insurance_fund_start_usd: float
    insurance_fund_end_usd: float
    insurance_fund_exhausted: bool
    insurance_fund_exhausted_at_hour: float | None
    accounts_bankrupt: int
    market_maker_legs_liquidated: int
    top_ups_sent: int
    top_ups_arrived: int
    top_ups_lost: int
    top_ups_in_flight: int
    """Top-ups still crossing a bridge when the window ends."""


@dataclass(frozen=True, slots=True)
class SystemOutcome:
    bad_debt_usd: float
    amplification: float
    cascade_rounds: int
    debtrank: float
    liquidations: int
    max_drop_with_feedback: float
    max_drop_without_feedback: float
    unhedged_market_maker_usd: float
    """Notional of market-maker legs left open after their other leg was liquidated (USD, at the end)."""
    insurance_funds_exhausted: list[str]


@dataclass(frozen=True, slots=True)
class BridgeOutcome:
    """What the accounts holding one bridged asset left behind (USD), at the run's latency and haircut."""

    latency_minutes: float
    haircut: float
    accounts: int
    accounts_bankrupt: int
    bad_debt_usd: float


@dataclass(frozen=True, slots=True)
class ContagionReport:
    scenario: str
    impact_scale: float
    bridge_latency_minutes: float | None
    venues: dict[str, VenueOutcome]
    system: SystemOutcome
    price_path: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """Per asset: ``with_feedback`` and ``without_feedback`` market prices at every step (charts)."""
    bridges: dict[str, BridgeOutcome] = field(default_factory=dict)
    timeline: dict[str, list[float]] = field(default_factory=dict)
    """Per step (charts): ``hour``, ``cascade_rounds``, and per venue ``liquidations:NAME`` (in the step)
    and ``bad_debt_usd:NAME`` (cumulative), with feedback."""
    schema_version: int = SCHEMA_VERSION

    def as_dict(self, *, path: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not path:
            d.pop("price_path")
            d.pop("timeline")
        return d


@dataclass(slots=True)
class _Venue:
    """A venue's accounts as arrays, its fund and its running totals."""

    spec: VenueSpec
    asset: NDArray[np.intp]
    size: FloatArray
    size0: FloatArray
    entry: FloatArray
    cash: FloatArray
    bridged: FloatArray
    bridge: NDArray[np.intp]
    top_up: NDArray[np.bool_]
    topped: NDArray[np.bool_]
    mm: NDArray[np.intp]
    alive: NDArray[np.bool_]
    capital: FloatArray
    fund: float
    fund0: float
    charged: FloatArray
    debt: FloatArray
    liquidations: int = 0
    volume: float = 0.0
    bad: float = 0.0
    used: float = 0.0
    adl: float = 0.0
    social: float = 0.0
    penalties: float = 0.0
    exhausted_at: float | None = None
    mm_legs: int = 0
    sent: int = 0
    arrived: int = 0
    lost: int = 0


def _generate(
    spec: VenueSpec, k: int, cfg: ContagionFile, assets: list[str], px0: FloatArray, haircut: FloatArray
) -> _Venue:
    acc = spec.accounts
    rng = np.random.default_rng([acc.seed, k])
    n = acc.count
    asset = rng.integers(0, len(assets), size=n)
    lo, hi = acc.notional_usd
    notional = np.exp(rng.uniform(math.log(lo), math.log(hi), size=n))
    lev = rng.uniform(*acc.leverage, size=n)
    side = np.where(rng.random(n) < acc.long_share, 1.0, -1.0)
    top_up = rng.random(n) < acc.top_up_share
    bridge = np.full(n, -1, dtype=np.intp)
    order = rng.permutation(n)
    start = 0
    for b_idx, b in enumerate(cfg.bridges):
        count = round(b.collateral_share.get(spec.name, 0.0) * n)
        bridge[order[start : start + count]] = b_idx
        start += count
    size = side * notional / px0[asset]
    collateral = notional / lev
    cash = np.where(bridge < 0, collateral, 0.0)
    # the leverage is on the margin value: a haircut h asks for 1 / (1 - h) times the coins
    bridged = np.where(bridge >= 0, collateral / (1.0 - haircut[np.maximum(bridge, 0)]), 0.0)
    mm = np.full(n, -1, dtype=np.intp)
    # market makers: a leg on each of their two venues
    extra: list[tuple[int, float, float, int]] = []
    for m_idx, m in enumerate(cfg.market_makers):
        for venue, sign in ((m.long, 1.0), (m.short, -1.0)):
            if venue == spec.name:
                ai = assets.index(m.asset)
                extra.append((ai, sign * m.notional_usd / px0[ai], m.notional_usd / m.leverage, m_idx))
    if extra:
        asset = np.concatenate([asset, [e[0] for e in extra]]).astype(np.intp)
        size = np.concatenate([size, [e[1] for e in extra]])
        cash = np.concatenate([cash, [e[2] for e in extra]])
        bridged = np.concatenate([bridged, np.zeros(len(extra))])
        bridge = np.concatenate([bridge, np.full(len(extra), -1)]).astype(np.intp)
        top_up = np.concatenate([top_up, np.zeros(len(extra), dtype=bool)])
        mm = np.concatenate([mm, [e[3] for e in extra]]).astype(np.intp)
    total = size.size
    return _Venue(
        spec,
        asset,
        size,
        size.copy(),
        px0[asset].copy(),
        cash,
        bridged,
        bridge,
        top_up,
        np.zeros(total, dtype=bool),
        mm,
        np.ones(total, dtype=bool),
        cash + bridged,
        spec.insurance_fund_usd,
        spec.insurance_fund_usd,
        np.zeros(total),
        np.zeros(total),
    )


def _daily_vol(path: PricePath, assets: list[str]) -> dict[str, float]:
    out = {}
    for u in assets:
        closes = path.factors[u][3::4]
        lr = np.diff(np.log(closes))
        out[u] = float(np.std(lr) * math.sqrt(86_400.0 / path.bar_seconds)) if lr.size > 1 else 0.0
    return out


@dataclass(slots=True)
class _Run:
    """One simulation over the path (with or without feedback)."""

    cfg: ContagionFile
    over: Overrides
    scale: float
    path: PricePath = field(init=False)
    assets: list[str] = field(init=False)
    px0: FloatArray = field(init=False)
    venues: list[_Venue] = field(init=False)
    impact: SqrtImpact = field(init=False)
    history: list[FloatArray] = field(default_factory=list)
    pending: list[tuple[float, int, int, float]] = field(default_factory=list)
    rounds_max: int = 0
    t_h: float = 0.0
    haircut: FloatArray = field(init=False)
    steps: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.path = load_path(self.cfg.scenario)
        self.assets = sorted(self.cfg.impact.depth_usd_per_day)
        market = load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)
        self.px0 = np.array([market.index(u) for u in self.assets])
        hc = [self.over.haircuts.get(b.name, b.haircut) for b in self.cfg.bridges]
        self.haircut = np.array(hc or [0.0])
        self.venues = [
            _generate(v, k, self.cfg, self.assets, self.px0, self.haircut)
            for k, v in enumerate(self.cfg.venues)
        ]
        ic = self.cfg.impact
        self.impact = SqrtImpact(
            ImpactConfig(y=ic.y * self.scale, adv_to_oi=1.0, half_life_s=ic.half_life_minutes * 60.0),
            _daily_vol(self.path, self.assets),
            dict(ic.depth_usd_per_day),
        )

    def latency_s(self, b: int) -> float:
        lat = self.over.bridge_latency_minutes
        return 60.0 * (self.cfg.bridges[b].latency_minutes if lat is None else lat)

    def bridge_px(self, v: _Venue, b: NDArray[np.intp]) -> FloatArray:
        """The price venue ``v`` marks each bridged asset ``b`` at now: the bridge's (after its depeg), or
        the venue's own collateral oracle inside its window."""
        px = np.ones(b.size)
        for k, spec in enumerate(self.cfg.bridges):
            if spec.depeg_at_hour is not None and self.t_h >= spec.depeg_at_hour:
                px[b == k] = spec.depeg_price
        for o in v.spec.collateral_oracle:
            if o.from_hour <= self.t_h < o.to_hour:
                px[b == [x.name for x in self.cfg.bridges].index(o.bridge)] = o.price
        return px

    def halted(self, b: int, t_h: float) -> bool:
        h = self.cfg.bridges[b].halt_at_hour
        return h is not None and t_h >= h

    def market(self, step: int) -> FloatArray:
        f = np.array([self.path.factors[u][step] for u in self.assets])
        out: FloatArray = self.px0 * f * np.exp([self.impact.log_impact(u) for u in self.assets])
        return out

    def run(self) -> FloatArray:
        ts = self.path.ts_s
        prices = np.zeros((ts.size, len(self.assets)))
        step_s = float(ts[1] - ts[0]) if ts.size > 1 else 1.0
        for step in range(ts.size):
            t = float(ts[step] - ts[0])
            self.t_h = t / 3600.0
            self.impact.decay_to(t)
            self._arrivals(t)
            px = self.market(step)
            self.history.append(px)
            rounds = 0
            while rounds < self.cfg.max_rounds:
                any_liq = False
                for v in self.venues:
                    delay = round(v.spec.oracle_delay_minutes * 60.0 / step_s)
                    oracle = px if delay == 0 else self.history[max(step - delay, 0)]
                    any_liq |= self._venue_round(v, oracle, px, t)
                if not any_liq:
                    break
                rounds += 1
                px = self.market(step)
                self.history[-1] = px
            self.rounds_max = max(self.rounds_max, rounds)
            prices[step] = px
            self._record(rounds)
        return prices

    def _record(self, rounds: int) -> None:
        s = self.steps
        s.setdefault("hour", []).append(self.t_h)
        s.setdefault("cascade_rounds", []).append(float(rounds))
        for v in self.venues:
            s.setdefault(f"liquidations:{v.spec.name}", []).append(float(v.liquidations))
            s.setdefault(f"bad_debt_usd:{v.spec.name}", []).append(v.bad)

    def timeline(self) -> dict[str, list[float]]:
        """The per-step series (liquidations per step rather than cumulative)."""
        out = dict(self.steps)
        for v in self.venues:
            key = f"liquidations:{v.spec.name}"
            out[key] = np.diff(np.asarray(out.get(key, [])), prepend=0.0).tolist()
        return out

    def _arrivals(self, t: float) -> None:
        keep = []
        for arrive, vk, i, amount in self.pending:
            if arrive > t:
                keep.append((arrive, vk, i, amount))
                continue
            v = self.venues[vk]
            if self.halted(int(v.bridge[i]), arrive / 3600.0):
                v.lost += 1  # frozen behind a halted bridge
            else:
                v.bridged[i] += amount
                v.arrived += 1
        self.pending = keep

    def _equity(self, v: _Venue, oracle: FloatArray, *, margin: bool = True) -> FloatArray:
        """Cash + bridged collateral + unrealised PnL; ``margin``: the collateral after its haircut."""
        coins = v.bridged * self.bridge_px(v, v.bridge)
        if margin:
            coins = coins * (1.0 - self.haircut[np.maximum(v.bridge, 0)])
        return v.cash + coins + v.size * (oracle[v.asset] - v.entry)

    def _top_ups(self, v: _Venue, vk: int, oracle: FloatArray, t: float) -> None:
        eq = self._equity(v, oracle)
        im = v.spec.initial_margin * np.abs(v.size) * oracle[v.asset]
        send = np.flatnonzero(v.top_up & ~v.topped & v.alive & (v.size != 0) & (eq < im))
        for i in send:
            v.topped[i] = True
            v.sent += 1
            amount = v.spec.accounts.top_up_fraction * float(v.capital[i])
            b = int(v.bridge[i])
            if b < 0:
                v.cash[i] += amount
                v.arrived += 1
            elif self.halted(b, t / 3600.0):
                v.lost += 1
            elif self.latency_s(b) == 0.0:
                v.bridged[i] += amount
                v.arrived += 1
            else:
                self.pending.append((t + self.latency_s(b), vk, int(i), amount))

    def _venue_round(self, v: _Venue, oracle: FloatArray, px: FloatArray, t: float) -> bool:
        vk = self.venues.index(v)
        self._top_ups(v, vk, oracle, t)
        eq = self._equity(v, oracle)
        mm = v.spec.maintenance_margin * np.abs(v.size) * oracle[v.asset]
        rows = np.flatnonzero(v.alive & (v.size != 0) & (eq < mm))
        if rows.size == 0:
            return False
        if v.spec.kind == "cex":
            step = v.spec.liquidation_step * np.abs(v.size0[rows])
            close = np.sign(v.size[rows]) * np.minimum(np.abs(v.size[rows]), step)
        else:
            close = v.size[rows].copy()
        fill = px[v.asset[rows]]
        notional = np.abs(close) * fill
        realized = close * (fill - v.entry[rows])
        rest = v.size[rows] - close
        eq_after = (
            v.cash[rows]
            + realized
            + v.bridged[rows] * self.bridge_px(v, v.bridge[rows])
            + rest * (fill - v.entry[rows])
        )
        fee = np.minimum(v.spec.penalty * notional, np.maximum(eq_after, 0.0))
        v.cash[rows] += realized - fee
        v.size[rows] = rest
        v.entry[rows] = np.where(rest != 0, fill, v.entry[rows])  # what is left re-entered at the fill
        v.fund += float(fee.sum())
        v.penalties += float(fee.sum())
        v.liquidations += int(rows.size)
        v.volume += float(notional.sum())
        v.mm_legs += int((v.mm[rows] >= 0).sum())
        for k, u in enumerate(self.assets):
            sel = v.asset[rows] == k
            if sel.any():
                self.impact.add(u, float(-(close[sel] * fill[sel]).sum()))
        self._bankruptcies(v, rows, close, px)
        return True

    def _bankruptcies(self, v: _Venue, rows: NDArray[np.intp], close: FloatArray, px: FloatArray) -> None:
        flat = rows[v.size[rows] == 0]
        value = v.cash[flat] + v.bridged[flat] * self.bridge_px(v, v.bridge[flat])
        side = dict(zip(rows.tolist(), np.sign(close).tolist(), strict=True))
        for i, eq in zip(flat.tolist(), value.tolist(), strict=True):
            if eq >= -1e-9:
                continue
            debt = -eq
            v.alive[i] = False
            v.cash[i] = v.bridged[i] = 0.0
            v.debt[i] = debt
            v.bad += debt
            used = min(debt, v.fund)
            v.fund -= used
            v.used += used
            rest = debt - used
            if rest > 0 and v.exhausted_at is None:
                v.exhausted_at = self.t_h
            if rest > 0 and v.spec.kind == "cex":
                rest = self._adl(v, i, side[i], rest, px)
            if rest > 0:
                self._socialize(v, rest, px)

    def _adl(self, v: _Venue, i: int, side: float, rest: float, px: FloatArray) -> float:
        """The profitable accounts on the other side of ``i``'s asset give up profit, highest profit ×
        leverage first, each at most its profit. Returns what is left to socialize."""
        pnl = v.size * (px[v.asset] - v.entry)
        eq = self._equity(v, px)
        cand = np.flatnonzero(v.alive & (v.asset == v.asset[i]) & (np.sign(v.size) == -side) & (pnl > 0))
        if cand.size == 0:
            return rest
        lev = np.abs(v.size[cand]) * px[v.asset[cand]] / np.maximum(eq[cand], 1e-9)
        for j in cand[np.argsort(-(pnl[cand] * lev), kind="stable")]:
            take = min(float(pnl[j]), rest)
            v.entry[j] += take / v.size[j]  # the profit given up: the entry moves towards the market
            v.charged[j] += take
            v.adl += take
            rest -= take
            if rest <= 0:
                break
        return rest

    def _socialize(self, v: _Venue, usd: float, px: FloatArray) -> None:
        eq = np.where(v.alive, np.maximum(self._equity(v, px, margin=False), 0.0), 0.0)
        total = float(eq.sum())
        charged = min(usd, total)
        if charged > 0:
            share = charged * eq / total
            v.cash -= share
            v.charged += share
        v.social += usd  # what exceeds all equity is carried by the venue


def _drop(prices: FloatArray) -> float:
    """The largest fall of any column from its running high (a fraction, positive)."""
    if prices.size == 0:
        return 0.0
    return float(np.max(1.0 - prices / np.maximum.accumulate(prices, axis=0)))


def _outcome(v: _Venue, in_flight: int) -> VenueOutcome:
    return VenueOutcome(
        kind=v.spec.kind,
        accounts=int(v.size.size),
        liquidations=v.liquidations,
        volume_liquidated_usd=v.volume,
        bad_debt_usd=v.bad,
        insurance_fund_used_usd=v.used,
        adl_usd=v.adl,
        socialized_loss_usd=v.bad - v.used - v.adl,
        penalties_usd=v.penalties,
        insurance_fund_start_usd=v.fund0,
        insurance_fund_end_usd=v.fund,
        insurance_fund_exhausted=v.exhausted_at is not None,
        insurance_fund_exhausted_at_hour=v.exhausted_at,
        accounts_bankrupt=int((~v.alive).sum()),
        market_maker_legs_liquidated=v.mm_legs,
        top_ups_sent=v.sent,
        top_ups_arrived=v.arrived,
        top_ups_lost=v.lost,
        top_ups_in_flight=in_flight,
    )


def _bridges(run: _Run) -> dict[str, BridgeOutcome]:
    out = {}
    for k, b in enumerate(run.cfg.bridges):
        held = [(v.bridge == k) & (v.mm < 0) for v in run.venues]
        out[b.name] = BridgeOutcome(
            latency_minutes=run.latency_s(k) / 60.0,
            haircut=float(run.haircut[k]),
            accounts=sum(int(h.sum()) for h in held),
            accounts_bankrupt=sum(int((h & ~v.alive).sum()) for h, v in zip(held, run.venues, strict=True)),
            bad_debt_usd=sum(float(v.debt[h].sum()) for h, v in zip(held, run.venues, strict=True)),
        )
    return out


def bad_debt(cfg: ContagionFile, overrides: Overrides = Overrides()) -> tuple[float, dict[str, float]]:  # noqa: B008
    """The system's bad debt and each bridge's holders' bad debt (USD), with feedback only: the one run the
    latency sweep's and the haircut solver's evaluations need."""
    run = _Run(cfg, overrides, overrides.impact_scale)
    run.run()
    return sum(v.bad for v in run.venues), {k: b.bad_debt_usd for k, b in _bridges(run).items()}


def contagion(cfg: ContagionFile, overrides: Overrides = Overrides()) -> ContagionReport:  # noqa: B008
    """Run the venues of ``cfg`` through its crash window, with and without liquidation feedback."""
    from xmargin.sim.contagion._network import loss_debtrank, unhedged

    with_fb = _Run(cfg, overrides, overrides.impact_scale)
    p_with = with_fb.run()
    without = _Run(cfg, overrides, 0.0)
    p_without = without.run()
    d_with, d_without = _drop(p_with), _drop(p_without)
    venues = {
        v.spec.name: _outcome(v, sum(1 for p in with_fb.pending if p[1] == k))
        for k, v in enumerate(with_fb.venues)
    }
    exhausted = [name for name, o in venues.items() if o.insurance_fund_exhausted]
    system = SystemOutcome(
        bad_debt_usd=sum(o.bad_debt_usd for o in venues.values()),
        amplification=d_with / d_without if d_without > 0 else 1.0,
        cascade_rounds=with_fb.rounds_max,
        debtrank=loss_debtrank(with_fb),
        liquidations=sum(o.liquidations for o in venues.values()),
        max_drop_with_feedback=d_with,
        max_drop_without_feedback=d_without,
        unhedged_market_maker_usd=unhedged(with_fb),
        insurance_funds_exhausted=exhausted,
    )
    price_path = {
        u: {"with_feedback": p_with[:, k].tolist(), "without_feedback": p_without[:, k].tolist()}
        for k, u in enumerate(with_fb.assets)
    }
    return ContagionReport(
        cfg.scenario,
        overrides.impact_scale,
        overrides.bridge_latency_minutes,
        venues,
        system,
        price_path,
        _bridges(with_fb),
        with_fb.timeline(),
    )
