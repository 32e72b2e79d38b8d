"""A whole generated book in one ``MarginVault`` (with its ``AuctionHouse``) on titanoboa's in-process EVM.

:func:`plan_book` merges the per-account plans of ``xmargin.chain.plan_cross`` (the plan the cross-check of
issue 16 holds equal to the engine's ``cross`` within 1e-9) into one vault: feeds, collaterals and markets by
name, positions and balances per account. :class:`ChainBook` deploys it at the replay's first block, with the
auction house (parameters from ``sim.DexConfig``), the insurance fund and funded keepers, and books the gas
of every transaction it sends (:class:`GasBook`).

Feeds. The index feed of a replayed underlying (BTC, ETH) gets a round exactly when the replay's push oracle
(``oracle.PushOracle``: deviation 0.5%, heartbeat 3,600 s, the Python DEX replay's parameters) updates, and
the vault is poked in the same block. The other feeds are *derived* from the oracle's index by the engine
(marks of futures and options, option values, the USDC index): they are published on demand, just before a
keeper reads an account's health or kicks it, when their value changed or their round is older than the
heartbeat. Publishing ~1,000 derived feeds at each of the ~2,700 oracle updates would be 5 million
transactions on an interpreter EVM; on demand they are the values the vault would have read, at the cost
of the rounds actually needed. Derived feeds have no jump guard (an option's mark can move by multiples in a
crash); index feeds keep the vault's 10% guard (``chain.MAX_DEVIATION``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from xmargin.chain import (
    FEED_DECIMALS,
    MAX_DEVIATION,
    WAD,
    AuctionSpec,
    CollateralSpec,
    FeedSpec,
    MarketSpec,
    PositionSpec,
    begin_transaction,
    contract,
    from_wad,
    list_markets,
    plan_cross,
    to_wad,
    transaction_gas,
)
from xmargin.core import InputError
from xmargin.margin import CrossMargin
from xmargin.market import MarketSnapshot
from xmargin.risk import Book

ROLE_LIQUIDATOR = 8
"""The vault's liquidator role (``ROLE_LIQUIDATOR`` in MarginVault.vy), granted to the auction house."""
BAD_DEBT_SOCIALIZE = 1
"""``AuctionHouse.set_bad_debt_mode``: the Python DEX replay socializes what its buffer cannot cover."""
NO_JUMP_GUARD = 10**6 * WAD
"""``max_deviation`` of a derived feed: any move is accepted (module docstring)."""
KEEPER_FLOAT_USD = 10**12
"""Stable tokens minted to each keeper: never the binding limit (a take is sized to ``keeper_capital_usd``)."""


@dataclass(frozen=True, slots=True)
class BookPlan:
    """One vault holding a whole book: shared feeds, collaterals and markets; per account its positions,
    balances (per collateral, asset units) and the feeds its health reads."""

    feeds: tuple[FeedSpec, ...]
    collaterals: tuple[CollateralSpec, ...]
    markets: tuple[MarketSpec, ...]
    accounts: tuple[str, ...]
    positions: tuple[tuple[PositionSpec, ...], ...]
    balances: tuple[tuple[float, ...], ...]
    account_feeds: tuple[tuple[int, ...], ...]
    option_params: tuple[float, float, float]


def plan_book(model: CrossMargin, book: Book, market: MarketSnapshot) -> BookPlan:
    """Merge ``plan_cross`` of every account of ``book`` into one vault (module docstring)."""
    feeds: dict[str, int] = {}
    feed_list: list[FeedSpec] = []
    colls: dict[str, int] = {}
    coll_list: list[CollateralSpec] = []
    mkts: dict[str, int] = {}
    mkt_list: list[MarketSpec] = []
    positions: list[tuple[PositionSpec, ...]] = []
    balances: list[dict[int, float]] = []
    account_feeds: list[tuple[int, ...]] = []
    option_params = (0.0, 0.0, 0.0)
    for row in range(book.n_accounts):
        p = plan_cross(model, book, market, row=row)
        option_params = p.option_params
        fmap = []
        for f in p.feeds:
            if f.name not in feeds:
                feeds[f.name] = len(feed_list)
                feed_list.append(f)
            fmap.append(feeds[f.name])
        bal: dict[int, float] = {}
        for c, amount in zip(p.collaterals, p.balances, strict=True):
            if c.asset not in colls:
                colls[c.asset] = len(coll_list)
                coll_list.append(CollateralSpec(c.asset, fmap[c.feed], c.haircut))
            elif coll_list[colls[c.asset]].haircut != c.haircut:  # pragma: no cover - one policy, one market
                raise InputError(where=f"haircut of {c.asset}", expected="one value", found=c.haircut)
            bal[colls[c.asset]] = bal.get(colls[c.asset], 0.0) + amount
        mmap = []
        for m in p.markets:
            if m.name not in mkts:
                mkts[m.name] = len(mkt_list)
                mkt_list.append(
                    MarketSpec(
                        m.name,
                        m.kind,
                        m.inverse,
                        m.is_call,
                        m.strike_usd,
                        fmap[m.mark_feed],
                        fmap[m.value_feed],
                        fmap[m.settle_feed],
                        m.im_rate,
                        m.mm_rate,
                    )
                )
            mmap.append(mkts[m.name])
        positions.append(tuple(PositionSpec(mmap[x.market], x.size_coin, x.entry_usd) for x in p.positions))
        balances.append(bal)
        account_feeds.append(tuple(sorted(set(fmap))))
    n = len(coll_list)
    return BookPlan(
        tuple(feed_list),
        tuple(coll_list),
        tuple(mkt_list),
        tuple(book.accounts),
        tuple(positions),
        tuple(tuple(b.get(i, 0.0) for i in range(n)) for b in balances),
        tuple(account_feeds),
        option_params,
    )


@dataclass(slots=True)
class GasLine:
    """Transactions of one kind: how many, their gas, and Σ gas × the ETH price when each was sent."""

    count: int = 0
    gas: int = 0
    gas_eth_usd: float = 0.0


@dataclass(slots=True)
class GasBook:
    """Gas of every transaction the replay sends, per operation kind (``transaction_gas``: intrinsic +
    calldata + execution − refund, what a sender pays)."""

    eth_usd: float = 0.0
    """The ETH price (USD) of the block being run (the replay's ETH market): gas is valued at it."""
    lines: dict[str, GasLine] = field(default_factory=dict)

    def add(self, kind: str, computation: Any) -> int:
        total, _ = transaction_gas(computation)
        line = self.lines.setdefault(kind, GasLine())
        line.count += 1
        line.gas += total
        line.gas_eth_usd += total * self.eth_usd
        return total


class ChainBook:
    """The vault, its feeds and tokens, the auction house, the insurance fund and the keepers, deployed at
    Unix time ``t0`` in a fresh ``boa.Env``; amounts in USD and coin as floats at the edge, wad inside."""

    def __init__(
        self,
        plan: BookPlan,
        spec: AuctionSpec,
        *,
        t0: int,
        heartbeat_s: int,
        index_assets: tuple[str, ...],
        insurance_usd: float,
        keepers: int,
    ) -> None:
        import boa

        self.plan, self.spec, self.heartbeat_s = plan, spec, heartbeat_s
        self.gas = GasBook()
        self.env = boa.Env()
        with self.active():
            self.env.evm.patch.timestamp = t0
            self.admin = self.env.eoa
            self.vault = contract("MarginVault").deploy()
            self.feeds = [contract("FeedMock").deploy(FEED_DECIMALS) for _ in plan.feeds]
            self.published: list[tuple[int, int]] = []  # per feed: (wad price, updated_at)
            self.index_feed: dict[str, int] = {}
            for fid, (f, s) in enumerate(zip(self.feeds, plan.feeds, strict=True)):
                asset = s.name.removeprefix("index:")
                guard = to_wad(MAX_DEVIATION, where="deviation") if asset in index_assets else NO_JUMP_GUARD
                if s.name.startswith("index:") and asset in index_assets:
                    self.index_feed[asset] = fid
                wad = to_wad(s.price_usd, where=f"feed {s.name}")
                f.set_round(wad, t0)
                self.vault.add_feed(f.address, heartbeat_s, guard)
                self.vault.poke(fid)
                self.published.append((wad, t0))
            self.tokens = []
            for c in plan.collaterals:
                token = contract("ERC20Mock").deploy(f"xmargin mock {c.asset}"[:32], c.asset[:8])
                token.mint(self.admin, 2**200)
                token.approve(self.vault.address, 2**256 - 1)
                self.tokens.append(token)
                self.vault.list_collateral(
                    token.address, c.feed, to_wad(min(c.haircut, 1.0), where="haircut")
                )
            list_markets(self.vault, plan.markets, plan.option_params)
            self.address: dict[str, Any] = {}
            for k, name in enumerate(plan.accounts):
                who = self.env.generate_address(name)
                self.address[name] = who
                for i, amount in enumerate(plan.balances[k]):
                    wad = to_wad(amount, where=f"{name}.collateral")
                    if wad > 0:
                        self.vault.import_collateral(who, i, wad)
                for p in plan.positions[k]:
                    self.vault.import_position(
                        who,
                        p.market,
                        to_wad(p.size_coin, where=f"{name}.size"),
                        to_wad(p.entry_usd, where=f"{name}.entry"),
                    )
            self.vault.seal()
            self.stable = contract("ERC20Mock").deploy("xmargin mock USD", "mUSD")
            self.house = contract("AuctionHouse").deploy(self.vault.address, self.stable.address)
            self.house.set_params(*spec.params_args())
            self.house.set_curve(*spec.curve_args())
            self.house.set_bad_debt_mode(BAD_DEBT_SOCIALIZE)
            self.vault.grant_role(self.house.address, ROLE_LIQUIDATOR)
            fund = to_wad(insurance_usd, where="insurance fund")
            self.stable.mint(self.admin, fund)
            self.stable.approve(self.house.address, fund)
            self.house.fund_insurance(fund)
            self.keepers = [self.env.generate_address(f"keeper-{j}") for j in range(keepers)]
            for k in self.keepers:
                self.stable.mint(k, KEEPER_FLOAT_USD * WAD)
                with self.env.prank(k):
                    self.stable.approve(self.house.address, 2**256 - 1)
        self.coll_feed = [c.feed for c in plan.collaterals]
        self.assets = [c.asset for c in plan.collaterals]
        self.row = {a: k for k, a in enumerate(plan.accounts)}

    @contextmanager
    def active(self) -> Iterator[None]:
        import boa

        with boa.swap_env(self.env):
            yield

    def set_time(self, t: int) -> None:
        """Move the chain to the block at Unix time ``t`` (one block later)."""
        self.env.evm.patch.timestamp = t
        self.env.evm.patch.block_number += 1

    def now(self) -> int:
        return int(self.env.evm.patch.timestamp)

    def publish(self, fid: int, price_usd: float) -> None:
        """A new round of feed ``fid`` at this block and the vault's poke (two transactions)."""
        wad, t = to_wad(price_usd, where=f"feed {self.plan.feeds[fid].name}"), self.now()
        with self.active():
            begin_transaction(self.env)
            self.feeds[fid].set_round(wad, t)
            self.gas.add("oracle round (feed)", self.feeds[fid]._computation)
            begin_transaction(self.env)
            status = self.vault.poke(fid)
            self.gas.add("oracle poke (vault)", self.vault._computation)
        if status != 0:  # pragma: no cover - a round at this block is fresh; derived feeds have no guard
            raise InputError(where=f"feed {self.plan.feeds[fid].name}", expected="status ok", found=status)
        self.published[fid] = (wad, t)

    def stale(self, fid: int, price_usd: float) -> bool:
        """Whether feed ``fid`` needs a round to show ``price_usd`` (another value, or its round too old)."""
        wad, t = self.published[fid]
        return wad != to_wad(price_usd, where="feed") or self.now() - t >= self.heartbeat_s

    def health(self, account: str) -> tuple[int, int, int, bool]:
        """The vault's ``account_margin``: (equity, margin balance, maintenance margin) in wad, fresh."""
        with self.active():
            h = self.vault.account_margin(self.address[account])
        return int(h[0]), int(h[1]), int(h[3]), bool(h[4])

    def balances(self, account: str) -> list[int]:
        with self.active():
            return [int(self.vault.balances(self.address[account], i)) for i in range(len(self.tokens))]

    def cash(self, account: str) -> int:
        with self.active():
            return int(self.vault.cash(self.address[account]))

    def positions(self, account: str) -> int:
        with self.active():
            return int(self.vault.position_count(self.address[account]))

    def usd(self, wad: int) -> float:
        return from_wad(wad)
