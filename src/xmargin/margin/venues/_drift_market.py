"""Drift v2's market parameters, weights and token values in its own integer fixed point (Python ints).

Re-implemented from reading drift-labs/protocol-v2 at commit ``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62``
(``programs/drift/src/math/margin.rs``, ``state/spot_market.rs``, ``state/perp_market.rs``,
``math/spot_balance.rs``, ``math/constants.rs``); no code copied. The margin calculation on a user is in
``_drift``, which re-exports these names.

Units (Drift's precisions): prices 1e6 (``PRICE``), quote amounts 1e6 (``QUOTE``), perp base amounts 1e9
(``BASE``), weights and margin ratios 1e4 (``MARGIN``: 10000 = 1), IMF factors 1e6 (``IMF``), spot scaled
balances 1e9 with cumulative interest 1e10, spot token amounts in the mint's own decimals.

The size premium (IMF, "initial margin fraction") in words:

- liabilities (spot borrows and perp margin ratios): with ``s`` the size in 1e9 units and ``w`` the base
  weight, ``w' = max(w, 0.8·w + imf·√(10·s + 1) / (1e5 · 1e6 / P))`` where ``P`` is the weight's precision
  (1e4) — i.e. ``max(w, 0.8·w + imf·√size)`` in real units, every division truncated;
- assets (spot deposits and positive unrealised perp P&L): ``w' = min(w, 1.1 · 1e4 / (1 + imf·√(10·s + 1)/1e5))``
  (all in 1e6 / 1e4 fixed point), a discount that grows with the square root of the size;
- the initial asset weight of a spot market is scaled down by ``start / deposits_value`` once the market's
  total deposits (valued at the oracle) exceed ``scale_initial_asset_weight_start``.

Rust's unsigned division truncates; signed division truncates toward zero except where Drift floors
(a negative token value is floored: ``get_token_value``, ``get_strict_token_value``) and borrows' token
amounts round up. ``_tdiv`` and ``//`` keep those apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from math import isqrt

from xmargin.margin.venues._drift_tier import (
    DEFAULT_ASSET_TIER,
    DEFAULT_CONTRACT_TIER,
    AssetTier,
    ContractTier,
)

PRICE = 10**6
QUOTE = 10**6
BASE = 10**9
MARGIN = 10**4
IMF = 10**6
SPOT_BALANCE = 10**9
SPOT_CUMULATIVE_INTEREST = 10**10
OPEN_ORDER_MARGIN_REQUIREMENT = QUOTE // 100
"""a cent of quote per open order (``constants.rs``)"""
MAX_POSITIVE_UPNL_FOR_INITIAL_MARGIN = 100 * QUOTE
"""positive weighted perp P&L counted at most this much for initial margin (``constants.rs``)"""


class MarginType(Enum):
    """Drift's ``MarginRequirementType``: ``FILL`` is the midpoint of initial and maintenance."""

    INITIAL = "initial"
    FILL = "fill"
    MAINTENANCE = "maintenance"


def _tdiv(a: int, b: int) -> int:
    """Integer division truncating toward zero (Rust's ``/`` on signed integers)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _to_base_units(size: int, decimals: int) -> int:
    """A token amount in the mint's decimals, expressed in 1e9 units (truncated)."""
    precision = int(10**decimals)
    if precision > BASE:
        return size // (precision // BASE)
    return size * BASE // precision


def size_premium_liability_weight(
    size: int, imf_factor: int, weight: int, precision: int, bounded: bool
) -> int:
    """``0.8·w + imf·√size`` in ``precision`` (1e4); never below ``w`` when ``bounded``. ``size`` in 1e9."""
    if imf_factor == 0:
        return weight
    root = isqrt(size * 10 + 1)  # 1e9 → 1e10 → √ gives 1e5
    premium = weight - weight // 5 + root * imf_factor // (100_000 * IMF // precision)
    return max(weight, premium) if bounded else premium


def size_discount_asset_weight(size: int, imf_factor: int, weight: int) -> int:
    """``min(w, 1.1 / (1 + imf·√size))`` in 1e4. ``size`` in 1e9."""
    if imf_factor == 0:
        return weight
    root = isqrt(size * 10 + 1)
    discounted = (IMF + IMF // 10) * MARGIN // (IMF + root * imf_factor // 100_000)
    return min(weight, discounted)


@dataclass(frozen=True, slots=True)
class StrictPrice:
    """An oracle price (1e6) and, in strict mode, its 5-minute TWAP: assets valued at the lower, liabilities
    at the higher (``StrictOraclePrice``)."""

    current: int
    twap_5min: int | None = None

    @property
    def high(self) -> int:
        return self.current if self.twap_5min is None else max(self.current, self.twap_5min)

    @property
    def low(self) -> int:
        return self.current if self.twap_5min is None else min(self.current, self.twap_5min)


def token_value(amount: int, decimals: int, price: int) -> int:
    """Quote value (1e6) of a signed token amount; a negative value is floored (``get_token_value``)."""
    return amount * price // 10**decimals if amount else 0  # Python's // floors, as Drift does here


def strict_token_value(amount: int, decimals: int, price: StrictPrice) -> int:
    """As ``token_value`` at the lower price for a deposit, the higher for a borrow."""
    if amount == 0:
        return 0
    p = price.low if amount > 0 else price.high
    v = amount * p
    return v // 10**decimals if v < 0 else _tdiv(v, 10**decimals)


@dataclass(frozen=True, slots=True)
class SpotMarket:
    """A spot market's margin parameters (fields as ``SpotMarket``; defaults as its ``Default``)."""

    decimals: int = 6
    initial_asset_weight: int = 0
    maintenance_asset_weight: int = 0
    initial_liability_weight: int = 0
    maintenance_liability_weight: int = 0
    imf_factor: int = 0
    scale_initial_asset_weight_start: int = 0
    deposit_balance: int = 0
    cumulative_deposit_interest: int = SPOT_CUMULATIVE_INTEREST
    cumulative_borrow_interest: int = SPOT_CUMULATIVE_INTEREST
    twap_5min: int | None = None
    """the oracle's 5-minute TWAP (1e6), used in strict mode (None: the current price)"""
    asset_tier: AssetTier = DEFAULT_ASSET_TIER
    last_oracle_price_twap: int = 0
    """the oracle's TWAP (1e6) the validity guard compares a reading with (Drift's default 0)"""

    def token_amount(self, scaled_balance: int, borrow: bool) -> int:
        """Unsigned tokens of a scaled balance; a borrow's rounds up (``get_token_amount``)."""
        decrease = int(10 ** (19 - self.decimals))
        if borrow:
            return _ceil_div(scaled_balance * self.cumulative_borrow_interest, decrease)
        return scaled_balance * self.cumulative_deposit_interest // decrease

    def deposits(self) -> int:
        return self.token_amount(self.deposit_balance, borrow=False)

    def scaled_initial_asset_weight(self, oracle_price: int) -> int:
        """The initial asset weight, scaled by ``start / value of deposits`` above ``start``."""
        start = self.scale_initial_asset_weight_start
        if start == 0:
            return self.initial_asset_weight
        value = token_value(self.deposits(), self.decimals, oracle_price)
        if value < start:
            return self.initial_asset_weight
        return self.initial_asset_weight * start // value

    def asset_weight(self, size: int, oracle_price: int, kind: MarginType) -> int:
        """Weight (1e4) of a deposit of ``size`` tokens (mint decimals)."""
        if kind is MarginType.INITIAL:
            base = self.scaled_initial_asset_weight(oracle_price)
        elif kind is MarginType.FILL:
            base = (self.scaled_initial_asset_weight(oracle_price) + self.maintenance_asset_weight) // 2
        else:
            base = self.maintenance_asset_weight
        sized = size_discount_asset_weight(_to_base_units(size, self.decimals), self.imf_factor, base)
        return min(sized, base)

    def liability_weight(self, size: int, kind: MarginType) -> int:
        """Weight (1e4) of a borrow of ``size`` tokens (mint decimals)."""
        if kind is MarginType.INITIAL:
            base = self.initial_liability_weight
        elif kind is MarginType.FILL:
            base = (self.initial_liability_weight + self.maintenance_liability_weight) // 2
        else:
            base = self.maintenance_liability_weight
        sized = size_premium_liability_weight(
            _to_base_units(size, self.decimals), self.imf_factor, base, MARGIN, bounded=True
        )
        return max(sized, base)


@dataclass(frozen=True, slots=True)
class PerpMarket:
    """A perp market's margin parameters (fields as ``PerpMarket``)."""

    margin_ratio_initial: int = 0
    margin_ratio_maintenance: int = 0
    imf_factor: int = 0
    unrealized_pnl_initial_asset_weight: int = 0
    unrealized_pnl_maintenance_asset_weight: int = 0
    unrealized_pnl_imf_factor: int = 0
    prediction: bool = False
    """a prediction market (``ContractType::Prediction``): prices in [0, 1]; a short's liability is ``1 − price``"""
    contract_tier: ContractTier = DEFAULT_CONTRACT_TIER
    last_oracle_price_twap: int = 0
    """the AMM's oracle TWAP (1e6) for the validity guard (Drift's default 0)"""
    oracle_slot_delay_override: int = 0
    oracle_low_risk_slot_delay_override: int = 0

    def liability_value(self, base: int, price: int) -> int:
        """Quote value (1e6) a position of ``base`` (1e9) stands to lose (``calculate_perp_liability_value``)."""
        if not self.prediction:
            return perp_liability_value(base, price)
        p = abs(price)
        return abs(base) * (max(PRICE - p, 0) if base < 0 else p) // BASE

    def margin_ratio(self, size: int, kind: MarginType) -> int:
        """Margin ratio (1e4) of a position of ``size`` base units (1e9), with the size premium."""
        if kind is MarginType.INITIAL:
            base = self.margin_ratio_initial
        elif kind is MarginType.FILL:
            base = (self.margin_ratio_initial + self.margin_ratio_maintenance) // 2
        else:
            base = self.margin_ratio_maintenance
        return max(base, size_premium_liability_weight(size, self.imf_factor, base, MARGIN, bounded=True))

    def unrealized_asset_weight(self, pnl: int, kind: MarginType) -> int:
        """Weight (1e4) of unrealised P&L ``pnl`` (quote, 1e6): 1 for a loss; for a profit the P&L weight,
        discounted by size for initial/fill (``get_unrealized_asset_weight``, without the imbalance cap)."""
        if pnl <= 0:
            return MARGIN
        if kind is MarginType.MAINTENANCE:
            return self.unrealized_pnl_maintenance_asset_weight
        weight = self.unrealized_pnl_initial_asset_weight
        if weight <= 0:
            return 0
        return size_discount_asset_weight(abs(pnl) * (BASE // QUOTE), self.unrealized_pnl_imf_factor, weight)


def perp_liability_value(base: int, price: int) -> int:
    """|base| · price in quote (1e6), truncated."""
    return abs(base) * max(price, 0) // (PRICE * (BASE // QUOTE)) if base else 0
