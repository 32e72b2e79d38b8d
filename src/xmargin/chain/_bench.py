"""``xmargin chain bench``: what on-chain margin costs in gas, and in money at stated gas prices.

Measured on titanoboa's in-process EVM (py-evm's rules for the latest fork it implements; the gas schedule of
storage reads, the dominant cost here, is EIP-2929's: 2,100 gas per cold slot, 100 warm):

- **health check** (``account_margin``) over ``n`` positions, a book cycling through four kinds (a linear
  perpetual long, an inverse future short, a short inverse call, a long linear put), every position on its own
  market with its own feeds (the worst case: no feed shared, every slot cold). Execution gas only: what the
  check adds to a withdrawal, a trade or a liquidation that runs it;
- **operations** as transactions (what a sender pays): intrinsic 21,000 + calldata (4 gas per zero byte, 16
  per non-zero, EIP-2028) + execution − refund (capped at a fifth of the gas used, EIP-3529).

Prices are *stated*, not live (sources in :data:`GAS_PRICES`); ETH is valued at ``eth_usd`` (default the
shipped example market's 3,500 USD). Block gas limits in :data:`BLOCK_GAS_LIMITS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from xmargin.chain._auction import AuctionSpec, deploy_auction_house
from xmargin.chain._plan import (
    KIND_FUTURE,
    KIND_OPTION,
    KIND_PERPETUAL,
    CollateralSpec,
    FeedSpec,
    MarketSpec,
    PositionSpec,
    VaultPlan,
    to_wad,
)
from xmargin.chain._vault import LoadedVault, _deployer
from xmargin.core import SCHEMA_VERSION, InputError

DEFAULT_POSITIONS = (1, 2, 4, 8, 16, 32, 64)
MAX_POSITIONS = 64
"""The vault's cap on positions per account (``MAX_POSITIONS`` in MarginVault.vy)."""
TX_GAS_CAP = 2**24
"""EIP-7825 (in Fusaka, Ethereum mainnet 2025-12-03): no transaction may use more than 16,777,216 gas."""
INTRINSIC_GAS = 21_000
"""Gas of any transaction before its calldata and execution (Ethereum yellow paper, G_transaction)."""


@dataclass(frozen=True, slots=True)
class GasPrice:
    """A stated gas price (gwei) on a network, and where it comes from."""

    network: str
    gwei: float
    source: str


GAS_PRICES = (
    GasPrice(
        "Ethereum mainnet, quiet",
        1.0,
        "Etherscan gas tracker averages of 2025 as reported in the press: 0.4-3 gwei (e.g. 3.1 gwei in "
        "Feb 2025, about 0.4 gwei in Apr 2025); 1 gwei stated here",
    ),
    GasPrice(
        "Ethereum mainnet, crash day",
        100.0,
        "2020-03-12 ('Black Thursday'): MakerDAO's auction post-mortem reports gas prices spiking above "
        "100 gwei, keepers' bids stuck; 100 gwei stated here",
    ),
    GasPrice(
        "Arbitrum One (L2 execution only)",
        0.02,
        "Arbitrum docs 'Gas and Fees': the L2 gas price floor (0.01 gwei, raised to 0.02 gwei by ArbOS 51 "
        "'Dia'); the L1 data fee of the calldata is not included",
    ),
)
"""Stated prices (read 2026-12-03). Not live: pass others to :func:`bench_chain`."""

BLOCK_GAS_LIMITS = (
    (30_000_000, "Ethereum mainnet 2021-2025 (raised from 15M in 2021)"),
    (36_000_000, "Ethereum mainnet from February 2025 (validators' signal, gaslimit.pics)"),
    (45_000_000, "Ethereum mainnet from July 2025 (validators' signal, gaslimit.pics)"),
    (60_000_000, "Ethereum mainnet from late November 2025, before Fusaka (gaslimit.pics, press reports)"),
)


@dataclass(frozen=True, slots=True)
class GasPoint:
    """Execution gas of one health check over ``positions`` positions."""

    positions: int
    gas_used: int


@dataclass(frozen=True, slots=True)
class OperationGas:
    """One operation sent as a transaction: total gas (``gas_used``) and its execution part."""

    operation: str
    gas_used: int
    execution_gas: int
    note: str


@dataclass(frozen=True, slots=True)
class OperationCost:
    """An operation's cost (USD) at one stated gas price."""

    operation: str
    network: str
    gwei: float
    cost_usd: float


@dataclass(frozen=True, slots=True)
class BlockFit:
    """How much health checking one block's gas limit holds."""

    gas_limit: int
    source: str
    max_positions_one_check: int
    """Positions one check could cover in a whole block (fitted line; beyond the vault's cap of 64)."""
    checks_of_64_positions: int
    """Transactions each running one 64-position check (plus intrinsic gas) in one block."""


@dataclass(frozen=True, slots=True)
class ChainBenchReport:
    """``xmargin chain bench --json`` (FORMATS.md): ``points`` of the health check's gas against positions,
    the fitted line ``base_gas + per_position_gas × n``, operations, costs and block fits."""

    points: tuple[GasPoint, ...]
    base_gas: float
    per_position_gas: float
    operations: tuple[OperationGas, ...]
    costs: tuple[OperationCost, ...]
    gas_prices: tuple[GasPrice, ...]
    eth_usd: float
    blocks: tuple[BlockFit, ...]
    max_positions_one_transaction: int
    """Positions one check could cover within EIP-7825's per-transaction cap (:data:`TX_GAS_CAP`)."""
    evm: str
    schema_version: int = SCHEMA_VERSION


def bench_plan(n: int) -> VaultPlan:
    """A synthetic account with ``n`` positions on ``n`` markets of their own (module docstring)."""
    if not 1 <= n <= MAX_POSITIONS:
        raise InputError(where="--positions", expected=f"counts in [1, {MAX_POSITIONS}]", found=n)
    feeds = [FeedSpec("index:USDC", 1.0), FeedSpec("index:BTC", 100_000.0)]
    markets: list[MarketSpec] = []
    positions: list[PositionSpec] = []
    for i in range(n):
        kind = i % 4
        f = 100_000.0 + 10.0 * i
        feeds.append(FeedSpec(f"mark:{i}", f))
        mark = len(feeds) - 1
        if kind < 2:
            feeds_value = mark
            markets.append(
                MarketSpec(
                    f"F{i}",
                    (KIND_PERPETUAL, KIND_FUTURE)[kind],
                    kind == 1,
                    False,
                    0.0,
                    mark,
                    mark,
                    1,
                    0.1,
                    0.05,
                )
            )
            positions.append(PositionSpec(i, (1.0, -1.0)[kind], f - 500.0))
        else:
            feeds.append(FeedSpec(f"value:{i}", 2_000.0 + i))
            feeds_value = len(feeds) - 1
            is_call = kind == 2
            markets.append(
                MarketSpec(
                    f"O{i}",
                    KIND_OPTION,
                    is_call,
                    is_call,
                    110_000.0 - 500.0 * i,
                    mark,
                    feeds_value,
                    1,
                    0.0,
                    0.0,
                )
            )
            positions.append(PositionSpec(i, (-1.0, 1.0)[kind - 2], 0.0))
    return VaultPlan(
        "bench",
        tuple(feeds),
        (CollateralSpec("USDC", 0, 0.0), CollateralSpec("BTC", 1, 0.05)),
        tuple(markets),
        tuple(positions),
        (5_000_000.0, 10.0),
        (0.15, 0.10, 0.075),
    )


def transaction_gas(computation: Any) -> tuple[int, int]:
    """(transaction gas, execution gas) of a call boa just ran (module docstring)."""
    execution = int(computation.get_gas_used())
    data = bytes(computation.msg.data)
    calldata = sum(4 if b == 0 else 16 for b in data)
    refund = min(int(computation.get_gas_refund()), (INTRINSIC_GAS + calldata + execution) // 5)
    return INTRINSIC_GAS + calldata + execution - refund, execution


def _operations() -> tuple[OperationGas, ...]:
    import boa

    v = LoadedVault(bench_plan(4))
    out: list[OperationGas] = []

    fresh = v.fresh_transaction

    def record(name: str, contract: Any, note: str) -> None:
        total, execution = transaction_gas(contract._computation)
        out.append(OperationGas(name, total, execution, note))

    with v.active():
        usdc = v.tokens[0]
        user = v.env.generate_address("trader")
        usdc.mint(user, to_wad(1_000_000.0, where="bench"))
        with boa.env.prank(user):
            usdc.approve(v.vault.address, 2**256 - 1)
            fresh()
            v.vault.deposit(0, to_wad(500_000.0, where="bench"))
            record("deposit (first)", v.vault, "a new balance slot (20,000 gas to set it)")
            fresh()
            v.vault.deposit(0, to_wad(100_000.0, where="bench"))
            record("deposit", v.vault, "to an existing balance")
            fresh()
            v.vault.trade(0, to_wad(1.0, where="bench"))
            record("trade (open)", v.vault, "a new position, then the initial-margin check over 1 position")
            fresh()
            v.vault.trade(0, to_wad(0.5, where="bench"))
            record("trade (add)", v.vault, "to an existing position, check over 1 position")
            for m in (1, 2, 3):
                v.vault.trade(m, to_wad(-0.2 if m != 3 else 0.2, where="bench"))
            fresh()
            v.vault.trade(0, to_wad(0.1, where="bench"))
            record("trade (add, 4 positions)", v.vault, "check over 4 positions")
            fresh()
            v.vault.withdraw(0, to_wad(1_000.0, where="bench"))
            record("withdraw (4 positions)", v.vault, "the initial-margin check over 4 positions")
        feed = v.feeds[2]
        feed.set_round(to_wad(100_100.0, where="bench"), v.env.timestamp)
        fresh()
        v.vault.poke(2)
        record("oracle update (poke)", v.vault, "read latestRoundData, checks, store the accepted price")
        lib = _deployer("Black76Mock").deploy()
        for label, strike in (("at the money", 100_000.0), ("20% out of the money", 120_000.0)):
            lib.black76(
                to_wad(100_000.0, where="bench"),
                to_wad(strike, where="bench"),
                to_wad(30 / 365, where="bench"),
                to_wad(0.55, where="bench"),
                True,
            )
            gas = int(lib._computation.get_gas_used())
            out.append(
                OperationGas(
                    f"Black-76 call, {label}",
                    gas,
                    gas,
                    "execution only (Black76.vy as called inside a check): 30 days, vol 55%",
                )
            )
    return (*out, *_funding_operations(), *_liquidation_operations())


def _funding_operations() -> tuple[OperationGas, ...]:
    """A funding update, an accrual on touch and a settlement, on :func:`bench_plan` (4)'s account (a linear
    perpetual long, an inverse future short, ...): 8 hours pass, every feed publishes, the funder adds 0.01%."""
    import boa

    v = LoadedVault(bench_plan(4))
    out: list[OperationGas] = []

    def record(name: str, note: str) -> None:
        total, execution = transaction_gas(v.vault._computation)
        out.append(OperationGas(name, total, execution, note))

    def publish_all() -> None:
        for fid, spec in enumerate(v.plan.feeds):
            v.feeds[fid].set_round(to_wad(spec.price_usd, where="bench"), v.env.timestamp)
            v.vault.poke(fid)

    with v.active():
        v.vault.grant_role(v.admin, 16)  # funder
        v.vault.set_expiry(1, v.env.timestamp + 28_800)
        boa.env.time_travel(seconds=28_800)
        publish_all()
        v.fresh_transaction()
        v.vault.update_funding(0, to_wad(0.0001, where="bench"))
        record("funding update", "the perpetual's cumulative index: clamp check, fresh mark, one index word")
        v.fresh_transaction()
        v.vault.settle_funding(v.account, 0)
        record(
            "funding accrual on touch", "size x (index - snapshot) into cash, snapshot moved (settle_funding)"
        )
        v.fresh_transaction()
        v.vault.fix_settlement(1)
        record("settlement price fixed", "the first fresh mark at or after expiry, once per market")
        v.fresh_transaction()
        v.vault.settle(v.account, 1)
        record("settle a position", "an expired future's N (P - E) into cash, position closed")
    return tuple(out)


def _liquidation_plan() -> VaultPlan:
    """1 BTC and 10,000 USDC of collateral, short 10 BTC on a linear perpetual entered at 100,000 (IM 10%, MM 5%):
    below maintenance once BTC reaches 108,000."""
    return VaultPlan(
        "liquidated",
        (FeedSpec("index:USDC", 1.0), FeedSpec("index:BTC", 100_000.0)),
        (CollateralSpec("USDC", 0, 0.0), CollateralSpec("BTC", 1, 0.0)),
        (MarketSpec("BTC_USDC-PERPETUAL", KIND_PERPETUAL, False, False, 0.0, 1, 1, 1, 0.1, 0.05),),
        (PositionSpec(0, -10.0, 100_000.0),),
        (10_000.0, 1.0),
        (0.15, 0.10, 0.075),
    )


def _crashed_vault() -> tuple[LoadedVault, Any, Any]:
    """:func:`_liquidation_plan` with an auction house (MakerDAO WBTC-C parameters, ``AuctionSpec``), a keeper
    holding the stable token, and BTC moved to 108,000 in two rounds. Returns (vault, house, keeper)."""
    import boa

    v = LoadedVault(_liquidation_plan())
    house, stable = deploy_auction_house(v, AuctionSpec())
    with v.active():
        keeper = v.env.generate_address("keeper")
        for who in (keeper, v.admin):
            stable.mint(who, to_wad(1_000_000.0, where="bench"))
            with boa.env.prank(who):
                stable.approve(house.address, 2**256 - 1)
        house.fund_insurance(to_wad(100_000.0, where="bench"))
        for price in (104_000.0, 108_000.0):
            _publish(v, price)
    return v, house, keeper


def _publish(v: LoadedVault, btc_usd: float) -> None:
    for fid, px in ((0, 1.0), (1, btc_usd)):
        v.feeds[fid].set_round(to_wad(px, where="bench"), v.env.timestamp)
        v.vault.poke(fid)


def _liquidation_operations() -> tuple[OperationGas, ...]:
    """Kick, take and redo of ``AuctionHouse.vy`` on :func:`_crashed_vault`'s account."""
    import boa

    out: list[OperationGas] = []

    def record(contract: Any, name: str, note: str) -> None:
        total, execution = transaction_gas(contract._computation)
        out.append(OperationGas(name, total, execution, note))

    v, house, keeper = _crashed_vault()
    with v.active(), boa.env.prank(keeper):
        v.fresh_transaction()
        sale = house.kick(v.account, 1, keeper)
        record(
            house,
            "auction kick",
            "health check over 1 position and 2 collaterals, positions closed, the BTC lot seized, "
            "keeper paid tip + chip x tab",
        )
        boa.env.time_travel(seconds=900)
        price = house.status(sale)[1]
        v.fresh_transaction()
        house.take(sale, to_wad(0.25, where="bench"), price, keeper)
        record(house, "auction take (partial)", "a quarter of the lot, 10 steps down the stairstep curve")
        v.fresh_transaction()
        house.take(sale, to_wad(1.0, where="bench"), price, keeper)
        record(house, "auction take (last)", "covers the tab; the rest of the lot goes back to the account")
    v, house, keeper = _crashed_vault()
    with v.active():
        with boa.env.prank(keeper):
            sale = house.kick(v.account, 1, keeper)
        boa.env.time_travel(seconds=5401)
        _publish(v, 108_000.0)
        v.fresh_transaction()
        with boa.env.prank(keeper):
            house.redo(sale, keeper)
        record(house, "auction redo", "restart past tail at a fresh price, keeper paid")
    return tuple(out)


def bench_chain(
    positions: tuple[int, ...] = DEFAULT_POSITIONS,
    *,
    gas_prices: tuple[GasPrice, ...] = GAS_PRICES,
    eth_usd: float = 3_500.0,
) -> ChainBenchReport:
    """Measure the vault's gas (module docstring)."""
    if not positions:
        raise InputError(where="--positions", expected="at least one count", found="none")
    if not (math.isfinite(eth_usd) and eth_usd > 0):
        raise InputError(where="--eth-usd", expected="a price > 0", found=eth_usd)
    points = tuple(GasPoint(n, LoadedVault(bench_plan(n)).health().gas_used) for n in sorted(set(positions)))
    ns = np.array([p.positions for p in points], dtype=np.float64)
    gs = np.array([p.gas_used for p in points], dtype=np.float64)
    if ns.size >= 2:
        slope, intercept = np.polyfit(ns, gs, 1)
    else:
        slope, intercept = gs[0] / ns[0], 0.0
    ops = _operations()
    check64 = intercept + slope * MAX_POSITIONS
    blocks = tuple(
        BlockFit(
            limit,
            source,
            int((limit - INTRINSIC_GAS - intercept) // slope),
            int(limit // (INTRINSIC_GAS + check64)),
        )
        for limit, source in BLOCK_GAS_LIMITS
    )
    check_ops = (
        *ops,
        OperationGas("health check (64 positions)", round(check64), round(check64), "view, execution only"),
    )
    costs = tuple(
        OperationCost(o.operation, p.network, p.gwei, o.gas_used * p.gwei * 1e-9 * eth_usd)
        for o in check_ops
        for p in gas_prices
    )
    return ChainBenchReport(
        points,
        float(intercept),
        float(slope),
        ops,
        costs,
        gas_prices,
        eth_usd,
        blocks,
        int((TX_GAS_CAP - INTRINSIC_GAS - intercept) // slope),
        _evm_name(),
    )


def _evm_name() -> str:
    from importlib.metadata import version

    return f"titanoboa {version('titanoboa')}, vyper {version('vyper')}, py-evm {version('py-evm')}"
