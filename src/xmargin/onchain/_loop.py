"""``xmargin replay --venue dex --onchain``: the Python DEX replay's book and crash window through the vault.

Same as ``sim.dex`` (its module docstring): the seeded book (topped up to initial margin), the price path on
12 s blocks with square-root impact, the push oracles (deviation 0.5%, heartbeat 3,600 s), the Clipper
parameters (WBTC-C), three keepers with the same seeded latencies (1-3 blocks) and 1M USD of capital each.
What differs is who decides and books: the contracts.

- **Oracle**: when a push oracle updates, its index feed gets a round and the vault is poked (``_book``).
- **Kick**: the keepers watch the book off chain (the engine at the oracle's prices, the model the vault
  computes: ``cross``), read the vault's ``account_margin`` of every account the engine puts within a hair
  of maintenance, and ``kick`` those the vault finds below it, selling the collateral of largest value,
  when the kick's reward (at least ``tip``) exceeds its gas cost. The vault closes the positions at the
  oracle; the house sells the collateral.
- **Take**: each block, for every running sale, a sale that needs it is ``redo``-ne; then each keeper not
  busy bids when ``liquidation.take_pays`` holds at the price its transaction will land at (the house's
  ``price_at``), its gas cost being the largest take gas measured so far (135,000 before the first, the
  bench's upper figure) × the stated gas price × the ETH market price. The take is sized as ``sim.dex``
  sizes it (capital, Maker's ``chost`` rule) and lands after the keeper's latency (a revert costs its gas).
  What a keeper buys it resells into the market at once (impact).
- **Bad debt**: a sale that ends with its lot gone and debt left leaves negative cash: a later kick sells the
  account's other collateral if it is still below maintenance; an account left with nothing is written off
  by ``settle_bad_debt`` (insurance fund first, the rest socialized, as the Python DEX replay does).

Gas: every transaction's gas (``chain.transaction_gas``) by operation kind, valued at the ETH price of its
block and at the stated prices of ``chain.GAS_PRICES`` (Ethereum mainnet quiet 1 gwei and crash day
100 gwei, Arbitrum 0.02 gwei; sources there).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from xmargin.chain import GAS_PRICES, WAD, AuctionSpec, GasPrice, begin_transaction, to_wad
from xmargin.core import InputError
from xmargin.instruments import Portfolio
from xmargin.liquidation import StairstepExponentialDecrease, take_pays
from xmargin.margin import CrossMargin
from xmargin.onchain._book import ChainBook, plan_book
from xmargin.oracle import PushOracle
from xmargin.pricing import kernel_threads
from xmargin.sim import ReplayConfig, ReplayReport, Venue, load_path

TAKE_GAS_START = 157_117
"""A keeper's estimate of a take's gas before it has measured one: the upper end of ``xmargin chain bench``'s
takes (128,884-157,117 with every call its own transaction, docs/chain.md)."""
KICK_GAS_START = 403_671
"""A kick's gas before one is measured (``xmargin chain bench``, docs/chain.md)."""
MIN_FEED_USD = 1e-18
"""The smallest price a feed publishes (1 wei): option values below it are published at it."""
PERSIST_EVERY = 64
"""py-evm's state is persisted (the chain commits it) every this many oracle updates, which bounds the
memory of its journals over a long replay; it changes no result."""
SCREEN_BAND = 1e-6
"""Accounts whose engine margin balance is below maintenance × (1 + band) (+ 1e-6 USD) are read on chain: the
vault's cross health equals the engine's within 1e-9 relative (issue 16's cross-check), so none is missed."""


@dataclass(frozen=True, slots=True)
class OnchainConfig:
    """The on-chain replay's own settings: the gas price keepers pay (default: Ethereum mainnet on a crash
    day, 100 gwei, ``chain.GAS_PRICES``) and the prices the report values gas at."""

    gas_price: GasPrice = GAS_PRICES[1]
    report_prices: tuple[GasPrice, ...] = GAS_PRICES


@dataclass(slots=True)
class _Keeper:
    address: Any
    latency_s: int
    busy_until: int = -1
    takes: int = 0
    reverts: int = 0
    profit_usd: float = 0.0


@dataclass(slots=True)
class _Pending:
    land: int
    keeper: _Keeper
    sale: int
    amount: int
    max_price: int


def take_size(lot: float, tab: float, chost: float, price: float, capital_usd: float) -> float:
    """``sim.dex``'s take size on numbers: as much as ``capital_usd`` buys at ``price``, but a partial take
    may not leave ``tab`` below ``chost`` (then it leaves exactly ``chost``, or buys nothing)."""
    if price <= 0:
        return lot
    amount = min(lot, capital_usd / price)
    owe = amount * price
    if owe < tab and amount < lot and tab - owe < chost:
        return (tab - chost) / price if tab > chost else 0.0
    return amount


class _Run:
    """One on-chain replay's state beside the Venue's (module docstring)."""

    def __init__(self, v: Venue, cfg: OnchainConfig) -> None:
        if not isinstance(v.model, CrossMargin):
            raise InputError(
                where="--model",
                expected="a cross model (the vault's kicks read its cross health; e.g. --model cross)",
                found=v.model.name,
            )
        self.v, self.cfg = v, cfg
        dex = v.config.dex
        heartbeat = dex.oracle.heartbeat_s
        if not float(heartbeat).is_integer() or dex.oracle.delay_s != 0:
            raise InputError(
                where="DexConfig.oracle", expected="whole-second heartbeat, no delay", found=dex.oracle
            )
        self.curve = StairstepExponentialDecrease(step_seconds=dex.step_s, cut=dex.cut)
        self.spec = AuctionSpec(
            buf=dex.buf,
            tail_s=dex.tail_s,
            cusp=dex.cusp,
            chip=dex.chip,
            tip_usd=dex.tip_usd,
            chost_usd=dex.dust_usd * dex.chop,
            chop=dex.chop,
            curve=self.curve,
            bad_debt="socialize",
        )
        self.t_blocks, self.logf = v.grid()
        s = time.perf_counter()
        plan = plan_book(v.model, v.engine.book, v.engine.market)
        self.chain = ChainBook(
            plan,
            self.spec,
            t0=int(self.t_blocks[0]),
            heartbeat_s=int(heartbeat),
            index_assets=v.path.underlyings,
            insurance_usd=v.insurance_start,
            keepers=dex.keepers,
        )
        self.deploy_s = time.perf_counter() - s
        rng = np.random.default_rng(v.seed + 1)  # the Python DEX replay's keeper latencies
        lo, hi = dex.keeper_latency_blocks
        self.keepers = [
            _Keeper(a, int(rng.integers(lo, hi + 1)) * 12) for a in self.chain.keepers[: dex.keepers]
        ]
        self.rng = rng
        self.oracles = {u: PushOracle(dex.oracle) for u in v.path.underlyings}
        self.market_px: dict[str, float] = {}
        self.pending: list[_Pending] = []
        self.running: dict[int, str] = {}  # sale id -> account
        self.on_sale: set[str] = set()
        self.done_accounts: set[str] = set()  # written off: nothing left to check
        self.take_gas, self.kick_gas = TAKE_GAS_START, KICK_GAS_START
        self.counts = dict.fromkeys(
            ("kicks", "closed_without_sale", "sales", "takes", "reverted_takes", "redos", "bad_debt_settled"),
            0,
        )
        self.kicks_skipped_unprofitable = 0
        self.chain_reads = 0
        self.penalties = self.rewards = self.rewards_paid = self.bought_usd = self.discount_usd = 0.0
        self.table_version = -1
        self.version = 0
        self.updates = 0
        self.derived: dict[str, Any] = {}

    # -- prices ---------------------------------------------------------------------------------------
    def _px(self, asset: str) -> float:
        return self.market_px.get(asset, 1.0)

    def _derived_value(self, fid: int) -> float:
        """Feed ``fid``'s value now: the oracle's index, or the engine's mark / option value at it."""
        if self.table_version != self.version:
            v = self.v
            self.table = v.model.prepare(v.engine.book.columns, v.engine.market).table
            self.col = {i.name: j for j, i in enumerate(v.engine.book.instruments)}
            self.table_version = self.version
        name = self.chain.plan.feeds[fid].name
        kind, _, key = name.partition(":")
        if kind == "index":
            return float(self.v.engine.market.index(key))
        j = self.col[key]
        if kind == "mark":
            return float(self.table.forward[j])
        # A feed's answer must be > 0 (the vault refuses any other as bad, as Chainlink consumers do): an
        # option worth less than 1 wei (deep out of the money after a crash) is published at 1 wei, 1e-18 USD
        # per coin above its value.
        return max(float(self.table.value_usd[j]), MIN_FEED_USD)

    def _refresh(self, account: str) -> None:
        """Publish the derived feeds ``account``'s health reads that are behind (module ``_book``)."""
        c = self.chain
        for fid in c.plan.account_feeds[c.row[account]]:
            name = c.plan.feeds[fid].name
            if name.removeprefix("index:") in c.index_feed:
                continue
            x = self._derived_value(fid)
            if c.stale(fid, x):
                c.publish(fid, x)

    # -- kicks ----------------------------------------------------------------------------------------
    def _screen(self) -> list[str]:
        r = self.v.engine.result()
        mm, mb = r.maintenance_margin, r.margin_balance
        near = ((mb < mm * (1.0 + SCREEN_BAND) + 1e-6) & (mm > 0)) | (mb < -1e-6)  # as Venue.liquidatable
        return [
            a
            for a in (self.v.accounts[i] for i in np.flatnonzero(near))
            if a not in self.on_sale and a not in self.done_accounts
        ]

    def kick_due(self, t: int) -> None:
        c = self.chain
        for acc in self._screen():
            self._refresh(acc)
            self.chain_reads += 1
            _, mb, mm, fresh = c.health(acc)
            if not fresh or mb >= mm:
                continue
            gas_usd = self.kick_gas * self.cfg.gas_price.gwei * 1e-9 * self._px("ETH")
            if self.spec.tip_usd <= gas_usd:
                self.kicks_skipped_unprofitable += 1
                continue
            bal = c.balances(acc)
            index = int(np.argmax([b * c.published[c.coll_feed[i]][0] for i, b in enumerate(bal)]))
            self._refresh_collateral(index)
            lot_usd = c.usd(bal[index]) * c.usd(c.published[c.coll_feed[index]][0])
            keeper = self.keepers[0].address if self.keepers else c.admin
            with c.active():
                begin_transaction(c.env)
                sid = int(c.house.kick(c.address[acc], index, keeper))
                self.kick_gas = max(self.kick_gas, c.gas.add("kick", c.house._computation))
                reward, paid = self._last_reward("Kick") if sid else (0.0, 0.0)  # no sale: no reward
            self.rewards += reward
            self.rewards_paid += paid
            self.counts["kicks"] += 1
            self.v.count_liquidation(acc)
            self.v.add_volume(lot_usd)
            if sid == 0:
                self.counts["closed_without_sale"] += 1
                self._after(acc)
            else:
                self.counts["sales"] += 1
                self.running[sid] = acc
                self.on_sale.add(acc)
                self._mirror(acc)

    def _refresh_collateral(self, index: int) -> None:
        fid = self.chain.coll_feed[index]
        if self.chain.plan.feeds[fid].name.removeprefix("index:") not in self.chain.index_feed:
            x = self._derived_value(fid)
            if self.chain.stale(fid, x):
                self.chain.publish(fid, x)

    def _event(self, name: str) -> dict[str, Any]:
        """The fields of the house's last ``name`` event in the last transaction."""
        for e in reversed(self.chain.house.get_logs()):
            if type(e).__name__ == name:
                return dict(e._asdict())
        raise AssertionError(f"no {name} event")  # pragma: no cover - kick, redo and take always log

    def _last_reward(self, name: str) -> tuple[float, float]:
        e = self._event(name)
        return from_wad_f(e["reward"]), from_wad_f(e["paid"])

    def _mirror(self, acc: str) -> None:
        """The engine's copy of ``acc`` set to the vault's (no positions: collateral and cash in USDC)."""
        c = self.chain
        bal = c.balances(acc)
        coll: dict[str, float] = {}
        for i, b in enumerate(bal):
            if b:
                coll[c.assets[i]] = coll.get(c.assets[i], 0.0) + c.usd(b)
        coll["USDC"] = coll.get("USDC", 0.0) + c.usd(c.cash(acc))
        self.v.engine.replace_accounts([Portfolio(acc, coll, ())])

    def _after(self, acc: str) -> None:
        """An account has no sale running any more: write it off if nothing is left, else mirror it."""
        c = self.chain
        if c.cash(acc) < 0 and not any(c.balances(acc)) and c.positions(acc) == 0:
            with c.active():
                begin_transaction(c.env)
                c.house.settle_bad_debt(c.address[acc])
                c.gas.add("settle bad debt", c.house._computation)
                amount = from_wad_f(self._event("BadDebt")["amount"])
            self.v.debt_of[acc] = self.v.debt_of.get(acc, 0.0) + amount
            self.counts["bad_debt_settled"] += 1
            self.v.bankrupt.add(acc)
            self.done_accounts.add(acc)
        elif not any(c.balances(acc)) and c.positions(acc) == 0:
            self.done_accounts.add(acc)  # nothing left and no debt
        self._mirror(acc)

    # -- keepers --------------------------------------------------------------------------------------
    def keepers_act(self, t: int) -> None:
        c, h = self.chain, self.chain.house
        tail, cusp = int(self.spec.tail_s), to_wad(self.spec.cusp, where="cusp")
        for sid in list(self.running):
            with c.active():
                s = h.sales(sid)
                needs_redo, _ = h.status(sid)
            if needs_redo:
                self._refresh_collateral(int(s[1]))
                with c.active():
                    begin_transaction(c.env)
                    h.redo(sid, self.keepers[0].address)
                    c.gas.add("redo", h._computation)
                    reward, paid = self._last_reward("Redo")
                self.rewards += reward
                self.rewards_paid += paid
                self.counts["redos"] += 1
                with c.active():
                    s = h.sales(sid)
            tab, lot, top, tic = int(s[2]), int(s[4]), int(s[5]), int(s[6])
            asset = c.assets[int(s[1])]
            mkt = self._px(asset)
            gas_usd = self.take_gas * self.cfg.gas_price.gwei * 1e-9 * self._px("ETH")
            at: dict[int, int] = {}
            for j in self.rng.permutation(len(self.keepers)):
                kp = self.keepers[j]
                if kp.busy_until > t:
                    continue
                land = t + kp.latency_s
                if land not in at:
                    with c.active():
                        at[land] = int(h.price_at(top, land - tic))
                price = at[land]
                if land - tic > tail or price * WAD < cusp * top:
                    continue
                p, lot_f, tab_f = c.usd(price), c.usd(lot), c.usd(tab)
                if not take_pays(lot_f, tab_f, p, mkt, gas_usd):
                    continue
                amount = take_size(lot_f, tab_f, self.spec.chost_usd, p, self.v.config.dex.keeper_capital_usd)
                if amount > 0:
                    amt = min(to_wad(amount, where="take"), lot)
                    self.pending.append(_Pending(land, kp, sid, amt, price))
                    kp.busy_until = land

    def land(self, t: int) -> None:
        if not self.pending:
            return
        c, h = self.chain, self.chain.house
        landing = [p for p in self.pending if p.land <= t]
        self.pending = [p for p in self.pending if p.land > t]
        for p in landing:
            acc = self.running.get(p.sale)
            with c.active():
                begin_transaction(c.env)
                try:
                    with c.env.prank(p.keeper.address):
                        bought, owe = h.take(p.sale, p.amount, p.max_price, p.keeper.address)
                except Exception:  # a revert (over, needs redo, too expensive): the gas is lost
                    gas = c.gas.add("take (reverted)", h._computation)
                    p.keeper.reverts += 1
                    p.keeper.profit_usd -= gas * self.cfg.gas_price.gwei * 1e-9 * self._px("ETH")
                    self.counts["reverted_takes"] += 1
                    continue
                gas = c.gas.add("take", h._computation)
                self.take_gas = max(self.take_gas, gas)
                ev = self._take_event()
                s = h.sales(p.sale)
            self.counts["takes"] += 1
            p.keeper.takes += 1
            self.penalties += ev
            u = c.assets[int(s[1])]
            coins, paid = c.usd(int(bought)), c.usd(int(owe))
            value = coins * self._px(u)
            self.bought_usd += value
            self.discount_usd += value - paid
            p.keeper.profit_usd += value - paid - gas * self.cfg.gas_price.gwei * 1e-9 * self._px("ETH")
            if u in self.v.path.underlyings:
                self.v.impact.add(u, -value)  # the keeper resells at once
            if acc is not None and (int(s[2]) == 0 or int(s[4]) == 0):
                del self.running[p.sale]
                self.on_sale.discard(acc)
                self._after(acc)

    def _take_event(self) -> float:
        return from_wad_f(self._event("Take")["penalty"])

    # -- the loop -------------------------------------------------------------------------------------
    def run(self) -> ReplayReport:
        v, c = self.v, self.chain
        t0 = time.perf_counter()
        for b in range(self.t_blocks.size):
            t = int(self.t_blocks[b])
            v.impact.decay_to(float(t))
            for u in v.path.underlyings:
                self.market_px[u] = v.price(u, float(self.logf[u][b]))
            c.gas.eth_usd = self._px("ETH")
            moved = {
                u: self.oracles[u].price
                for u in v.path.underlyings
                if self.oracles[u].observe(float(t), self.market_px[u])
            }
            if moved or self.running or self.pending:
                c.set_time(t)
            if moved:
                self.updates += 1
                if self.updates % PERSIST_EVERY == 0:
                    c.env.evm.vm.state.persist()  # the chain commits its state; bounds py-evm's journals
                v.oracle_px.update(moved)
                for u, px in moved.items():
                    c.publish(c.index_feed[u], px)
                v.move_engine(moved)
                self.version += 1
                self.kick_due(t)
            if self.running:
                self.keepers_act(t)
            self.land(t)
            v.record_due(float(t), self.market_px)
        return self._report(time.perf_counter() - t0)

    def _report(self, wall_s: float) -> ReplayReport:
        v, c, h = self.v, self.chain, self.chain.house
        with c.active():
            bad = c.usd(int(h.bad_debt()))
            social = c.usd(int(h.socialized_loss()))
            insurance_end = c.usd(int(h.insurance()))
        v.bad_debt, v.social, v.used = bad, social, bad - social
        v.insurance = insurance_end
        v.penalties = self.penalties
        v.incentives, v.incentive_paid = self.rewards, self.rewards_paid
        v.restate_last_point()
        detail = {
            "blocks": int(self.t_blocks.size),
            "block_s": v.config.clock_s,
            "oracle_updates": {u: o.updates for u, o in self.oracles.items()},
            "auctions": self.counts["sales"],
            "redos": self.counts["redos"],
            "takes": self.counts["takes"],
            "reverted_takes": self.counts["reverted_takes"],
            "keeper_incentives_usd": self.rewards,
            "keeper_incentives_paid_by_fund_usd": self.rewards_paid,
            "still_running_at_end": len(self.running),
            "keeper_discount_pct": 100.0 * self.discount_usd / self.bought_usd if self.bought_usd else 0.0,
            "keepers": [
                {"latency_s": k.latency_s, "takes": k.takes, "reverts": k.reverts, "profit_usd": k.profit_usd}
                for k in self.keepers
            ],
        }
        report = v.report("dex", detail, {"wall_s": wall_s, "deploy_s": self.deploy_s})
        return dataclasses.replace(report, onchain=self._onchain(sorted(v.liquidated)))

    def _onchain(self, liquidated: list[str]) -> dict[str, Any]:
        c = self.chain
        ops = []
        for kind, line in sorted(c.gas.lines.items()):
            ops.append(
                {
                    "operation": kind,
                    "count": line.count,
                    "gas": line.gas,
                    "cost_usd": {p.network: line.gas_eth_usd * p.gwei * 1e-9 for p in self.cfg.report_prices},
                }
            )
        keepers = ("kick", "take", "take (reverted)", "redo", "settle bad debt")
        total = sum(x.gas for x in c.gas.lines.values())
        by_keepers = sum(x.gas for k, x in c.gas.lines.items() if k in keepers)
        eth_total = sum(x.gas_eth_usd for x in c.gas.lines.values())
        return {
            "evm": "titanoboa (py-evm), in process",
            "keeper_gas_price_gwei": self.cfg.gas_price.gwei,
            "keeper_gas_price_source": self.cfg.gas_price.source,
            "gas_prices": [dataclasses.asdict(p) for p in self.cfg.report_prices],
            "operations": ops,
            "gas_total": total,
            "gas_keepers": by_keepers,
            "gas_oracle": total - by_keepers,
            "cost_total_usd": {p.network: eth_total * p.gwei * 1e-9 for p in self.cfg.report_prices},
            "take_gas_estimate_end": self.take_gas,
            "kicks": self.counts["kicks"],
            "closed_without_sale": self.counts["closed_without_sale"],
            "kicks_skipped_unprofitable": self.kicks_skipped_unprofitable,
            "bad_debt_settled": self.counts["bad_debt_settled"],
            "health_reads": self.chain_reads,
            "accounts_liquidated_list": liquidated,
        }


def from_wad_f(x: Any) -> float:
    return float(int(x)) / WAD


def replay_onchain(v: Venue, config: OnchainConfig | None = None) -> ReplayReport:
    """Run the DEX replay on ``v`` through the contracts (module docstring)."""
    return _Run(v, OnchainConfig() if config is None else config).run()


def replay_onchain_scenario(
    scenario: str,
    *,
    accounts: int = 200,
    seed: int = 0,
    config: ReplayConfig | None = None,
    onchain: OnchainConfig | None = None,
) -> ReplayReport:
    """``xmargin.sim.replay(scenario, "dex", ...)``'s book and window through the contracts (model: the
    config's, which must be a cross model; default ``ReplayConfig(model="cross")``)."""
    if not isinstance(accounts, int) or accounts < 1:
        raise InputError(where="accounts", expected="an integer >= 1", found=accounts)
    cfg = ReplayConfig(model="cross") if config is None else config
    with kernel_threads(cfg.kernel_threads):
        v = Venue(load_path(scenario), accounts, seed, cfg)
        return replay_onchain(v, onchain)
