"""Deploy ``MarginVault`` with its feeds and tokens on titanoboa's in-process EVM, load a plan, read health.

Everything runs in a fresh ``boa.Env`` per :class:`LoadedVault` (no node, no network, no shared state
between two vaults). Contracts are compiled once per process (``_deployer``: a cache of compiled code,
not of state).

Gas. ``gas_used`` of a transaction is what the EVM charged it, the 21,000 intrinsic gas and calldata
included (what a sender pays); the gas of the health check (a view) is its execution gas alone, which is
what it adds to a transaction (a withdrawal, a trade, a liquidation) that runs it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from xmargin.chain._plan import WAD, MarketSpec, VaultPlan, from_wad, to_wad
from xmargin.core import InputError

FEED_DECIMALS = 18
"""Decimals of the mock feeds the loader publishes. Chainlink's USD pairs answer with 8; the vault scales any
decimals <= 18 to 18 (``add_feed``). 18 here keeps the engine's prices exact to 1e-18 for the cross-check."""
HEARTBEAT_S = 3600
"""Seconds a round stays usable: Chainlink's ETH/USD and BTC/USD feeds on Ethereum mainnet publish at least
hourly (heartbeat 3600 s, data.chain.link feed pages, read 2026-12)."""
YEAR_S = 31_536_000
"""Seconds in the year of ``t_years`` (365 days), as ``YEAR_S`` in MarginVault.vy."""
MAX_DEVIATION = 0.10
"""A move larger than this fraction between accepted rounds waits for a confirming round (xmargin's choice:
above any one-hour BTC move of 2020-2025 but the crash of 2020-03-12, which a second round then confirms)."""


def contracts_dir() -> Path:
    """The folder of the shipped Vyper sources (package data ``xmargin/chain/contracts``)."""
    return Path(str(resources.files("xmargin.chain") / "contracts"))


@functools.cache
def _deployer(name: str) -> Any:
    import boa

    return boa.load_partial(str(contracts_dir() / f"{name}.vy"))


def contract(name: str) -> Any:
    """The compiled contract ``name`` (``MarginVault``, ``AuctionHouse``, ``FeedMock``, ``ERC20Mock``, ...),
    ready to ``deploy`` in the active boa environment (compiled once per process)."""
    return _deployer(name)


@dataclass(frozen=True, slots=True)
class ChainHealth:
    """The vault's ``account_margin`` view: amounts in USD (float) and exact (wad integers), and its gas."""

    equity_wad: int
    margin_balance_wad: int
    initial_margin_wad: int
    maintenance_margin_wad: int
    prices_fresh: bool
    gas_used: int

    @property
    def equity_usd(self) -> float:
        return from_wad(self.equity_wad)

    @property
    def margin_balance_usd(self) -> float:
        return from_wad(self.margin_balance_wad)

    @property
    def initial_margin_usd(self) -> float:
        return from_wad(self.initial_margin_wad)

    @property
    def maintenance_margin_usd(self) -> float:
        return from_wad(self.maintenance_margin_wad)


class LoadedVault:
    """A vault deployed in its own EVM, with the feeds, tokens and accounts of a :class:`VaultPlan`.

    ``admin`` deployed everything and holds every role; ``account`` is the plan's account."""

    def __init__(self, plan: VaultPlan) -> None:
        import boa

        self.plan = plan
        self.env = boa.Env()
        with self.active():
            self.admin = self.env.eoa
            self.account = self.env.generate_address(plan.account)
            self.now_s = int(self.env.timestamp)
            self.vault = _deployer("MarginVault").deploy()
            self.feeds = [_deployer("FeedMock").deploy(FEED_DECIMALS) for _ in plan.feeds]
            for f, spec in zip(self.feeds, plan.feeds, strict=True):
                f.set_round(to_wad(spec.price_usd, where=f"feed {spec.name}"), self.now_s)
                fid = self.vault.add_feed(f.address, HEARTBEAT_S, to_wad(MAX_DEVIATION, where="deviation"))
                self.vault.poke(fid)
            self.tokens = []
            for i, c in enumerate(plan.collaterals):
                token = _deployer("ERC20Mock").deploy(f"xmargin mock {c.asset}"[:32], c.asset[:8])
                self.tokens.append(token)
                self.vault.list_collateral(token.address, c.feed, _fraction(c.haircut, f"{c.asset}.haircut"))
                amount = to_wad(plan.balances[i], where=f"collateral.{c.asset}")
                if amount > 0:
                    token.mint(self.admin, amount)
                    token.approve(self.vault.address, amount)
                    self.vault.import_collateral(self.account, i, amount)
            list_markets(self.vault, plan.markets, plan.option_params)
            if plan.pm is not None:
                self._load_pm(plan)
            for p in plan.positions:
                name = plan.markets[p.market].name
                self.vault.import_position(
                    self.account,
                    p.market,
                    to_wad(p.size_coin, where=f"{name}.size"),
                    to_wad(p.entry_usd, where=f"{name}.entry"),
                )

    def _load_pm(self, plan: VaultPlan) -> None:
        pm = plan.pm
        assert pm is not None
        self.pricer = _deployer("Black76Pricer").deploy()
        self.vault.set_pricer(self.pricer.address)
        self.vault.set_pm_params(_fraction(pm.mm_factor, "pm.mm_factor"), pm.gate)
        for k, moves in enumerate(pm.moves):
            self.vault.set_pm_grid(k + 1, [to_wad(m, where=f"pm.moves.{pm.underlyings[k]}") for m in moves])
        for i, m in enumerate(plan.markets):
            expiry = self.now_s + round(pm.market_t_years[i] * YEAR_S)
            self.vault.set_market_pm(
                i,
                pm.market_group[i],
                pm.market_vol_feed[i],
                expiry,
                to_wad(pm.market_vol_up[i], where=f"{m.name}.vol_up"),
                to_wad(pm.market_vol_down[i], where=f"{m.name}.vol_down"),
            )
        for i, g in enumerate(pm.collateral_group):
            self.vault.set_collateral_underlying(i, g)

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make this vault's EVM the one boa calls into."""
        import boa

        with boa.swap_env(self.env):
            yield

    def fresh_transaction(self) -> None:
        """Start a new transaction for the next call (``begin_transaction``)."""
        begin_transaction(self.env)

    def health(self, account: str | None = None) -> ChainHealth:
        """The vault's ``account_margin`` of ``account`` (default: the plan's), with its execution gas."""
        with self.active():
            who = self.account if account is None else account
            self.fresh_transaction()
            h = self.vault.account_margin(who)
            gas = int(self.vault._computation.get_gas_used())
        return ChainHealth(int(h[0]), int(h[1]), int(h[2]), int(h[3]), bool(h[4]), gas)

    def health_pm(self, account: str | None = None) -> ChainHealth:
        """The vault's ``account_margin_pm`` (the PM mode), with its execution gas."""
        with self.active():
            who = self.account if account is None else account
            self.fresh_transaction()
            h = self.vault.account_margin_pm(who)
            gas = int(self.vault._computation.get_gas_used())
        return ChainHealth(int(h[0]), int(h[1]), int(h[2]), int(h[3]), bool(h[4]), gas)


def begin_transaction(env: Any) -> None:
    """Make the next call on ``env`` priced as the first call of a new transaction: every account and slot
    cold again (EIP-2929) and every slot's *original* value, from which EIP-2200/3529 price an SSTORE and its
    refund, set to its value now. py-evm keeps both per transaction and expects the client to lock the
    changes between transactions (``State.lock_changes``); titanoboa does not, so without this a slot
    rewritten in a later call was priced as dirty against its value at deployment (100 instead of 2,900 gas
    for a changed non-zero slot, and a refund for a slot set back to zero), and py-evm's per-call journal
    grew without bound over a long replay."""
    env.evm.vm.state.lock_changes()


def list_markets(
    vault: Any, markets: Sequence[MarketSpec], option_params: tuple[float, float, float]
) -> None:
    """List ``markets`` on ``vault`` (in order: market ids 0..) and set Deribit's short-option parameters,
    every rate a fraction in [0, 1] as a wad (shared by ``LoadedVault`` and the on-chain replay's book)."""
    for m in markets:
        vault.list_market(
            m.kind,
            m.inverse,
            m.is_call,
            to_wad(m.strike_usd, where=f"{m.name}.strike"),
            m.mark_feed,
            m.value_feed,
            m.settle_feed,
            _fraction(m.im_rate, f"{m.name}.im_rate"),
            _fraction(m.mm_rate, f"{m.name}.mm_rate"),
        )
    vault.set_option_params(
        *(
            _fraction(x, f"options.{n}")
            for x, n in zip(option_params, ("im_base", "im_floor", "mm_base"), strict=True)
        )
    )


def _fraction(x: float, where: str) -> int:
    if not 0.0 <= x <= 1.0:
        raise InputError(where=where, expected="a fraction in [0, 1]", found=x)
    w = to_wad(x, where=where)
    return min(w, WAD)
