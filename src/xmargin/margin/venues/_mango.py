"""Mango v4's account health (init, maint, liquidation-end), re-implemented from reading
blockworks-foundation/mango-v4 at commit ``1303a4a16228eb1e8e8d4f0eef724eaf63310c86``
(``programs/mango-v4/src/health/cache.rs``, ``state/bank.rs``, ``state/mango_account_components.rs``,
``serum3_cpi.rs``); no code copied. Mango computes in I80F48 fixed point; this uses float64, and its tests
compare at an absolute 0.001, which float64 meets by many orders of magnitude.

Health in words (a number in the health reference token, USD; larger is better):

- every token balance is weighted: a deposit at ``asset_weight × asset price``, a borrow at
  ``liab_weight × liab price``. For init health the asset price is ``min(oracle, stable)`` and the liab price
  ``max(oracle, stable)``; maint and liquidation-end use the oracle. Init weights are scaled by total deposits
  (``asset × start / deposits_value`` above ``deposit_weight_scale_start_quote``, deposits including tokens
  that open spot orders may produce) and by total borrows (``liab × borrows_value / start``), valued at the
  init liab price; liquidation-end uses the unscaled init weights, maint its own;
- a perp position adds its risk-adjusted unsettled P&L to its settle token's balance *before* that token is
  weighted: ``quote + worst(all bids fill, all asks fill)`` where each case values the resulting base position
  at the perp's base asset/liab weight and price and pays for the orders at the liab (bids) or asset (asks)
  price; a positive result is then scaled by the market's overall asset weight (init and liquidation-end use
  the init one);
- spot open orders: free funds are token balances; reserved funds count in the worse of 'all reserved
  converted to base' and 'all reserved converted to quote' (at oracle prices, or at the extreme placed order
  price if that is worse), each applied after every market's reservations of that token.

Perp settle limits (how much unrealised P&L may be settled into tokens per window: a fraction of the position's
stable value, recurring and one-shot allowances, less what was settled this window) are reproduced as
``PerpPosition.settle_limit`` (``state/mango_account_components.rs``); they bound settlement, not health. How
trades, fees and settlements move the allowances is ``_mango_settle``.

Skipping missing banks or bad oracles (a lower bound of health, used by instructions that may proceed without
every account) is ``skipping_missing``.

The health ratio, the asset/liability split, leverage and the solvers for a target ratio (max swap, max perp
trade, max borrow; ``health/client.rs``) are ``_mango_client``.

Not reproduced: the maint-weight shift over time, oracle staleness and confidence, the health-based settle bound
(``perp_max_settle``) and liquidation amounts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

SETTLE_PNL_LIMIT_FACTOR_F32 = 0.20000000298023224
"""0.2 as an f32 (Mango's ``settle_pnl_limit_factor`` is an f32 widened to f64 or I80F48 where it is used: the
allowance arithmetic of ``_mango_settle`` rounds ``2000.00003`` and ``-4000.00006`` differently than 2000 and
-4000, and Mango's expected values depend on it)"""


class HealthType(Enum):
    INIT = "init"
    MAINT = "maint"
    LIQUIDATION_END = "liquidation_end"


@dataclass(frozen=True, slots=True)
class Prices:
    """An oracle price and the stable price (native quote per native token)."""

    oracle: float
    stable: float | None = None

    def liab(self, ht: HealthType) -> float:
        stable = self.stable
        if ht is not HealthType.INIT or stable is None or stable <= self.oracle:
            return self.oracle
        return stable

    def asset(self, ht: HealthType) -> float:
        stable = self.stable
        if ht is not HealthType.INIT or stable is None or stable >= self.oracle:
            return self.oracle
        return stable


@dataclass(frozen=True, slots=True)
class Bank:
    """One token's bank: weights, prices and the totals its init weights are scaled by (native units)."""

    prices: Prices
    init_asset_weight: float
    init_liab_weight: float
    maint_asset_weight: float
    maint_liab_weight: float
    deposits: float = 0.0
    borrows: float = 0.0
    potential_serum_tokens: float = 0.0
    deposit_weight_scale_start_quote: float = math.inf
    borrow_weight_scale_start_quote: float = math.inf
    net_borrow_limit_per_window_quote: float = math.inf
    """quote value of new borrows allowed per window (``math.inf``: none; Mango stores −1)"""
    net_borrows_in_window: float = 0.0
    """native amount borrowed net in the current window (whole tokens, rounded up as Mango does)"""
    deposit_limit: float = math.inf
    """cap on deposits plus potential spot-order tokens (``math.inf``: none; Mango stores 0)"""

    @staticmethod
    def mock(price: float, init: float, maint: float, **kw: float) -> Bank:
        """Weights ``1 ∓ init`` and ``1 ∓ maint`` at one price (the banks of Mango's health tests)."""
        return Bank(Prices(price, kw.pop("stable", price)), 1 - init, 1 + init, 1 - maint, 1 + maint, **kw)

    def with_totals(self, deposits: float, borrows: float, net_borrows_in_window: float) -> Bank:
        """This bank with other deposit, borrow and window net-borrow totals (a deposit or withdrawal)."""
        return Bank(
            self.prices,
            self.init_asset_weight,
            self.init_liab_weight,
            self.maint_asset_weight,
            self.maint_liab_weight,
            deposits,
            borrows,
            self.potential_serum_tokens,
            self.deposit_weight_scale_start_quote,
            self.borrow_weight_scale_start_quote,
            self.net_borrow_limit_per_window_quote,
            net_borrows_in_window,
            self.deposit_limit,
        )

    def scaled_init_asset_weight(self, price: float) -> float:
        if math.isinf(self.deposit_weight_scale_start_quote):
            return self.init_asset_weight
        value = (self.deposits + self.potential_serum_tokens) * price
        if value <= self.deposit_weight_scale_start_quote:
            return self.init_asset_weight
        return self.init_asset_weight * (self.deposit_weight_scale_start_quote / value)

    def scaled_init_liab_weight(self, price: float) -> float:
        if math.isinf(self.borrow_weight_scale_start_quote):
            return self.init_liab_weight
        value = self.borrows * price
        if value <= self.borrow_weight_scale_start_quote:
            return self.init_liab_weight
        if self.borrow_weight_scale_start_quote == 0:
            return math.inf
        return self.init_liab_weight * (value / self.borrow_weight_scale_start_quote)

    def asset_weight(self, ht: HealthType) -> float:
        if ht is HealthType.INIT:
            if self.deposit_weight_scale_start_quote == math.inf:
                return self.init_asset_weight
            return self.scaled_init_asset_weight(self.prices.liab(HealthType.INIT))
        return self.init_asset_weight if ht is HealthType.LIQUIDATION_END else self.maint_asset_weight

    def liab_weight(self, ht: HealthType) -> float:
        if ht is HealthType.INIT:
            if self.borrow_weight_scale_start_quote == math.inf:
                return self.init_liab_weight
            return self.scaled_init_liab_weight(self.prices.liab(HealthType.INIT))
        return self.init_liab_weight if ht is HealthType.LIQUIDATION_END else self.maint_liab_weight

    def asset_weighted_price(self, ht: HealthType) -> float:
        return self.asset_weight(ht) * self.prices.asset(ht)

    def liab_weighted_price(self, ht: HealthType) -> float:
        return self.liab_weight(ht) * self.prices.liab(ht)

    def contribution(self, ht: HealthType, balance: float) -> float:
        if balance < 0:
            return balance * self.liab_weighted_price(ht)
        return balance * self.asset_weighted_price(ht)


@dataclass(frozen=True, slots=True)
class Serum3:
    """A spot open-orders account between a base and a quote token (indices into the account's tokens);
    amounts in native units; ``lowest_placed_ask`` (quote per base) and ``highest_placed_bid_inv`` (base per
    quote) are 0 when unknown."""

    base: int
    quote: int
    base_total: float = 0.0
    quote_total: float = 0.0
    base_free: float = 0.0
    quote_free: float = 0.0
    lowest_placed_ask: float = 0.0
    highest_placed_bid_inv: float = 0.0

    @property
    def reserved_base(self) -> float:
        return self.base_total - self.base_free

    @property
    def reserved_quote(self) -> float:
        return self.quote_total - self.quote_free

    def all_as_base(self, ht: HealthType, quote: Bank, base: Bank) -> float:
        oracle = self.reserved_quote * quote.prices.asset(ht) / base.prices.liab(ht)
        at_bid = self.reserved_quote * self.highest_placed_bid_inv
        return self.reserved_base + (min(oracle, at_bid) if at_bid != 0 else oracle)

    def all_as_quote(self, ht: HealthType, quote: Bank, base: Bank) -> float:
        oracle = self.reserved_base * base.prices.asset(ht) / quote.prices.liab(ht)
        at_ask = self.reserved_base * self.lowest_placed_ask
        return self.reserved_quote + (min(oracle, at_ask) if at_ask != 0 else oracle)


@dataclass(frozen=True, slots=True)
class PerpMarket:
    """A perp market: base weights, overall (P&L) asset weights, lot sizes, its settle token (an index into
    the account's tokens) and its base prices."""

    prices: Prices
    init_base_asset_weight: float
    init_base_liab_weight: float
    maint_base_asset_weight: float
    maint_base_liab_weight: float
    init_overall_asset_weight: float
    maint_overall_asset_weight: float
    base_lot_size: float = 10.0
    quote_lot_size: float = 100.0
    settle: int = 0
    long_funding: float = 0.0
    short_funding: float = 0.0
    settle_pnl_limit_factor: float = SETTLE_PNL_LIMIT_FACTOR_F32
    """fraction of the position's stable value settleable per window (negative: no limit); the default is the
    0.2 of Mango's ``PerpMarket::default_for_tests``, held as the f32 Mango stores it"""
    settle_pnl_limit_window_size_ts: int = 24 * 60 * 60
    """length of a settle window in seconds (``default_for_tests``: one day)"""

    @staticmethod
    def mock(
        price: float,
        base: tuple[float, float],
        pnl: tuple[float, float],
        *,
        stable: float | None = None,
        long_funding: float = 0.0,
        short_funding: float = 0.0,
    ) -> PerpMarket:
        """Weights ``1 ∓ base`` and overall ``1 − pnl`` (the perp market of Mango's health tests)."""
        return PerpMarket(
            Prices(price, price if stable is None else stable),
            1 - base[0],
            1 + base[0],
            1 - base[1],
            1 + base[1],
            1 - pnl[0],
            1 - pnl[1],
            long_funding=long_funding,
            short_funding=short_funding,
        )


@dataclass(frozen=True, slots=True)
class PerpPosition:
    """A perp position: base lots, quote (native, entry cost and realised P&L), open orders in lots, unprocessed
    taker fills, and the funding already settled per lot."""

    market: PerpMarket
    base_lots: int = 0
    quote: float = 0.0
    bids_lots: int = 0
    asks_lots: int = 0
    taker_base_lots: int = 0
    taker_quote_lots: int = 0
    long_settled_funding: float = 0.0
    short_settled_funding: float = 0.0
    recurring_settle_pnl_allowance: int = 0
    oneshot_settle_pnl_allowance: float = 0.0
    settled_in_current_window: int = 0
    """settle-limit state (native quote): allowances materialised by reducing the position, and the P&L already
    settled in the current window"""
    settle_pnl_limit_window: int = 0
    """index of the current settle window (start time / window length)"""
    avg_entry_price_per_base_lot: float = 0.0
    """native quote per base lot paid for the current position (reset when it reaches or crosses zero)"""

    def settle_limit(self) -> tuple[int, int]:
        """The (min, max) native P&L settleable this window before what was already settled
        (``PerpPosition::settle_limit``): a fraction of the position's stable value both ways, plus the recurring
        allowance (at most the unrealised P&L), plus the one-shot allowance in its own direction."""
        m = self.market
        if m.settle_pnl_limit_factor < 0:
            return (-(2**63), 2**63 - 1)
        stable = m.prices.stable if m.prices.stable is not None else m.prices.oracle
        value = stable * self.base_lots * m.base_lot_size
        unrealized = int(m.settle_pnl_limit_factor * abs(value))  # Rust's f64 → i64 cast truncates
        upnl_abs = math.ceil(abs(self.quote + value))
        max_pnl = unrealized + min(abs(self.recurring_settle_pnl_allowance), upnl_abs)
        min_pnl = -max_pnl
        if self.oneshot_settle_pnl_allowance >= 0:
            max_pnl += math.ceil(self.oneshot_settle_pnl_allowance)
        else:
            min_pnl += math.floor(self.oneshot_settle_pnl_allowance)
        return (min(min_pnl, 0), max(max_pnl, 0))

    def available_settle_limit(self) -> tuple[int, int]:
        """``settle_limit`` less what was already settled this window (``available_settle_limit``)."""
        lo, hi = self.settle_limit()
        if self.market.settle_pnl_limit_factor < 0:
            return lo, hi
        used = self.settled_in_current_window
        return (min(lo - used, 0), max(hi - used, 0))

    def apply_settle_limit(self, pnl: float) -> float:
        """``pnl`` cut to the available settle limit (``apply_pnl_settle_limit``)."""
        if self.market.settle_pnl_limit_factor < 0:
            return pnl
        lo, hi = self.available_settle_limit()
        return max(pnl, lo) if pnl < 0 else min(pnl, hi)

    def unsettled_funding(self) -> float:
        m = self.market
        if self.base_lots > 0:
            return (m.long_funding - self.long_settled_funding) * self.base_lots
        if self.base_lots < 0:
            return (m.short_funding - self.short_settled_funding) * self.base_lots
        return 0.0

    def unweighted_pnl(self, ht: HealthType) -> float:
        """Settle-token amount of the position and its orders, worst of all bids or all asks filling."""
        m = self.market
        lots = self.base_lots + self.taker_base_lots
        quote = self.quote - self.unsettled_funding() + self.taker_quote_lots * m.quote_lot_size
        init = ht is not HealthType.MAINT

        def case(orders: int, order_price: float) -> float:
            net = (lots + orders) * m.base_lot_size
            if net < 0:
                weight = m.init_base_liab_weight if init else m.maint_base_liab_weight
                price = m.prices.liab(ht)
            else:
                weight = m.init_base_asset_weight if init else m.maint_base_asset_weight
                price = m.prices.asset(ht)
            return net * weight * price - orders * m.base_lot_size * order_price

        bids = case(self.bids_lots, m.prices.liab(ht))
        asks = case(-self.asks_lots, m.prices.asset(ht))
        return quote + min(bids, asks)

    def health_pnl(self, ht: HealthType) -> float:
        u = self.unweighted_pnl(ht)
        if u <= 0:
            return u
        m = self.market
        return u * (m.maint_overall_asset_weight if ht is HealthType.MAINT else m.init_overall_asset_weight)


@dataclass(frozen=True, slots=True)
class Account:
    """A Mango account: one bank and native balance per token (index order), spot open orders and perps."""

    banks: Sequence[Bank]
    balances: Sequence[float]
    serum3: Sequence[Serum3] = ()
    perps: Sequence[PerpPosition] = ()


@dataclass(frozen=True, slots=True)
class Health:
    """A health value and its split into positive (assets) and negative (liabilities) contributions."""

    health: float
    assets: float
    liabs: float
    parts: tuple[float, ...] = field(default=())


class MissingBankError(ValueError):
    """A bank that cannot be skipped is missing (a borrow, or a perp's settle token)."""


def skipping_missing(account: Account, missing: frozenset[int]) -> Account:
    """The account as Mango's health cache sees it when the banks ``missing`` (token indices) are not provided or
    their oracles are bad (``new_health_cache_skipping_missing_banks_and_bad_oracles``): their non-negative
    balances are left out, and so are spot open orders on them; a borrow in one, or a perp settled in one, is
    an error. The result's health is a lower bound of the account's."""
    for i in missing:
        if account.balances[i] < 0:
            raise MissingBankError(f"token {i} has a negative balance: its bank is a required health account")
    for p in account.perps:
        if p.market.settle in missing:
            raise MissingBankError(
                f"token {p.market.settle} settles a perp: its bank is a required health account"
            )
    balances = [0.0 if i in missing else float(b) for i, b in enumerate(account.balances)]
    serum3 = [s for s in account.serum3 if s.base not in missing and s.quote not in missing]
    return Account(account.banks, balances, serum3, account.perps)


def spot_balances(account: Account) -> list[float]:
    """Each token's balance plus the free funds of spot open orders (Mango's ``balance_spot``)."""
    balance = [float(b) for b in account.balances]
    for s in account.serum3:
        balance[s.base] += s.base_free
        balance[s.quote] += s.quote_free
    return balance


def effective_balances(account: Account, ht: HealthType) -> list[float]:
    """Spot balances with every perp's health-weighted P&L added to its settle token
    (``effective_token_balances``)."""
    balance = spot_balances(account)
    for p in account.perps:
        balance[p.market.settle] += p.health_pnl(ht)
    return balance


def serum3_reservations(account: Account, ht: HealthType) -> tuple[list[float], list[tuple[float, float]]]:
    """Per token, what all spot markets' reserved funds could turn into (summed over markets); per market, its
    reserved funds all as base and all as quote (``compute_serum3_reservations``)."""
    max_reserved = [0.0] * len(account.banks)
    reserved: list[tuple[float, float]] = []
    for s in account.serum3:
        quote, base = account.banks[s.quote], account.banks[s.base]
        as_base, as_quote = s.all_as_base(ht, quote, base), s.all_as_quote(ht, quote, base)
        max_reserved[s.base] += as_base
        max_reserved[s.quote] += as_quote
        reserved.append((as_base, as_quote))
    return max_reserved, reserved


def serum3_parts(account: Account, ht: HealthType, balance: Sequence[float]) -> list[float]:
    """Each spot market's health contribution from its reserved funds, given the effective balances."""
    banks = account.banks
    max_reserved, reserved = serum3_reservations(account, ht)

    def effect(i: int, amount: float) -> float:
        top = balance[i] + max_reserved[i]
        if top >= amount:
            asset, liab = amount, 0.0
        elif top < 0:
            asset, liab = 0.0, amount
        else:
            asset, liab = top, amount - top
        b = banks[i]
        return asset * b.asset_weight(ht) * b.prices.asset(ht) + liab * b.liab_weight(ht) * b.prices.liab(ht)

    parts = []
    for s, (as_base, as_quote) in zip(account.serum3, reserved, strict=True):
        if as_base == 0 or as_quote == 0:
            parts.append(0.0)
        else:
            parts.append(min(effect(s.base, as_base), effect(s.quote, as_quote)))
    return parts


def health(account: Account, ht: HealthType) -> Health:
    """The account's health of type ``ht`` (``HealthCache::health``)."""
    balance = effective_balances(account, ht)
    parts = [b.contribution(ht, x) for b, x in zip(account.banks, balance, strict=True)]
    parts += serum3_parts(account, ht, balance)
    assets = sum(x for x in parts if x > 0)
    liabs = -sum(x for x in parts if x < 0)
    return Health(sum(parts), assets, liabs, tuple(parts))
