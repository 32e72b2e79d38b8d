"""Drift v2's cross-margin arithmetic in its own integer fixed point (Python ints, Drift's rounding).

Re-implemented from reading drift-labs/protocol-v2 at commit ``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62``
(``programs/drift/src/math/margin.rs``, ``state/spot_market.rs``, ``state/perp_market.rs``, ``state/user.rs``,
``math/spot_balance.rs``, ``math/position.rs``, ``math/constants.rs``); no code copied.

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

What is *not* reproduced: oracle validity and confidence, funding payments (taken as settled), the AMM and
LP shares, isolated perp positions, high-leverage mode, prediction markets, pools, margin buffers and fuel.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from math import isqrt

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


@dataclass(frozen=True, slots=True)
class SpotPosition:
    """A user's balance in one spot market: scaled balance (1e9), deposit or borrow, open orders in tokens."""

    market_index: int
    scaled_balance: int = 0
    borrow: bool = False
    open_bids: int = 0
    open_asks: int = 0
    open_orders: int = 0


@dataclass(frozen=True, slots=True)
class PerpPosition:
    """A user's perp position: base (1e9, signed), quote (1e6, signed: entry cost and realised P&L), open
    orders in base units; ``max_margin_ratio`` the position's own custom ratio (1e4)."""

    market_index: int
    base_asset_amount: int = 0
    quote_asset_amount: int = 0
    open_bids: int = 0
    open_asks: int = 0
    open_orders: int = 0
    max_margin_ratio: int = 0


@dataclass(frozen=True, slots=True)
class User:
    spot_positions: tuple[SpotPosition, ...] = ()
    perp_positions: tuple[PerpPosition, ...] = ()
    max_margin_ratio: int = 0
    """the user's custom margin ratio (1e4; initial margin only)"""


@dataclass(frozen=True, slots=True)
class Markets:
    """Spot markets (index 0 is the quote, USDC), perp markets and their oracle prices (1e6)."""

    spot: dict[int, SpotMarket]
    perp: dict[int, PerpMarket] = field(default_factory=dict)
    spot_price: dict[int, int] = field(default_factory=dict)
    perp_price: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MarginCalculation:
    """Drift's cross-margin totals (quote, 1e6): ``total_collateral`` (weighted) and ``margin_requirement``;
    ``equity`` the same account unweighted (token values at the strict prices plus unrealised perp P&L)."""

    margin_requirement: int
    total_collateral: int
    equity: int = 0
    margin_requirement_plus_buffer: int = 0
    """with ``margin_buffer``: the requirement plus the buffer on every liability's value"""
    total_collateral_buffer: int = 0
    """with ``margin_buffer``: the buffer taken on every negative collateral contribution (≤ 0)"""

    @property
    def total_collateral_plus_buffer(self) -> int:
        return self.total_collateral + self.total_collateral_buffer

    @property
    def free_collateral(self) -> int:
        return self.total_collateral - self.margin_requirement


@dataclass(frozen=True, slots=True)
class _Fill:
    token_amount: int
    orders_value: int
    token_value: int
    weighted: int

    @property
    def contribution(self) -> int:
        return self.weighted + self.orders_value


def _weighted(m: SpotMarket, amount: int, value: int, price: int, kind: MarginType) -> int:
    if value > 0:
        return _tdiv(value * m.asset_weight(abs(amount), price, kind), MARGIN)
    if value < 0:
        return _tdiv(value * m.liability_weight(abs(amount), kind), MARGIN)
    return 0


def worst_case_fill(
    pos: SpotPosition, m: SpotMarket, amount: int, price: StrictPrice, kind: MarginType
) -> _Fill:
    """The riskier of 'all bids fill' and 'all asks fill' (``get_worst_case_fill_simulation``)."""
    value = strict_token_value(amount, m.decimals, price)
    if pos.open_bids == 0 and pos.open_asks == 0:
        return _Fill(amount, 0, value, _weighted(m, amount, value, price.current, kind))

    def side(orders: int) -> _Fill:
        order_value = token_value(-orders, m.decimals, price.high)
        after_amount, after_value = amount + orders, value - order_value
        return _Fill(
            after_amount,
            order_value,
            after_value,
            _weighted(m, after_amount, after_value, price.current, kind),
        )

    bid, ask = side(pos.open_bids), side(pos.open_asks)
    return ask if ask.contribution <= bid.contribution else bid


def _custom_ratio(f: _Fill, m: SpotMarket, price: int, custom: int) -> _Fill:
    """The user's custom margin ratio caps asset weights at ``1 − r`` and lifts liability weights to ``1 + r``."""
    if custom == 0 or f.weighted == 0:
        return f
    if f.weighted < 0:
        w = max(m.liability_weight(abs(f.token_amount), MarginType.INITIAL), custom + MARGIN)
    else:
        w = min(m.asset_weight(abs(f.token_amount), price, MarginType.INITIAL), max(MARGIN - custom, 0))
    return replace(f, weighted=_tdiv(f.token_value * w, MARGIN))


def perp_liability_value(base: int, price: int) -> int:
    """|base| · price in quote (1e6), truncated."""
    return abs(base) * max(price, 0) // (PRICE * (BASE // QUOTE)) if base else 0


def perp_base_value_and_pnl(pos: PerpPosition, price: int) -> tuple[int, int]:
    """``(|base value|, unrealised pnl)`` in quote at ``price`` (``calculate_base_asset_value_and_pnl...``)."""
    if pos.base_asset_amount == 0:
        return 0, pos.quote_asset_amount
    value = _tdiv(pos.base_asset_amount * max(price, 0), BASE)
    return abs(value), value + pos.quote_asset_amount


def perp_requirement_and_pnl(
    pos: PerpPosition, m: PerpMarket, price: int, quote: StrictPrice, kind: MarginType, custom: int
) -> tuple[int, int, int]:
    """``(margin requirement, weighted unrealised pnl, worst-case liability value)`` of one perp position,
    quote 1e6 (``calculate_perp_position_value_and_pnl``; funding taken as settled)."""
    _, pnl = perp_base_value_and_pnl(pos, price)
    bids = pos.base_asset_amount + pos.open_bids
    asks = pos.base_asset_amount + pos.open_asks
    lv_bids, lv_asks = m.liability_value(bids, price), m.liability_value(asks, price)
    worst_base, worst_value = (asks, lv_asks) if lv_asks >= lv_bids else (bids, lv_bids)
    worst_value = worst_value * quote.high // PRICE
    ratio = max(custom, m.margin_ratio(abs(worst_base), kind))
    requirement = worst_value * ratio // MARGIN + pos.open_orders * OPEN_ORDER_MARGIN_REQUIREMENT
    weight = m.unrealized_asset_weight(pnl, kind)
    qp = quote.low if pnl > 0 else quote.high if pnl < 0 else quote.current
    weighted = pnl
    if weight != MARGIN:
        weighted = _tdiv(weighted * weight, MARGIN)
    if qp != PRICE:
        weighted = _tdiv(weighted * qp, PRICE)
    if kind is MarginType.INITIAL:
        weighted = min(weighted, MAX_POSITIVE_UPNL_FOR_INITIAL_MARGIN)
    return requirement, weighted, worst_value


def margin_calculation(
    user: User,
    markets: Markets,
    kind: MarginType,
    *,
    strict: bool = False,
    margin_ratio_override: int = 0,
    margin_buffer: int = 0,
) -> MarginCalculation:
    """Cross margin of ``user`` (``calculate_margin_requirement_and_total_collateral_and_liability_info``):
    the quote market (index 0) at its value, other spot markets weighted at their worst-case order fill,
    perps at their size-premium margin ratio with weighted unrealised P&L.

    The user's custom margin ratio counts for initial margin only; ``margin_ratio_override`` (Drift's
    stale-oracle override in ``MarginContext``) counts for every kind. ``margin_buffer`` (1e4, the
    liquidation context's buffer) adds ``liability value × buffer`` to the buffered requirement and
    ``negative contribution × buffer`` to the collateral buffer."""
    requirement = 0
    collateral = 0
    equity = 0
    req_buffered = 0
    coll_buffer = 0

    def add_requirement(amount: int, liability_value: int) -> None:
        nonlocal requirement, req_buffered
        requirement += amount
        if margin_buffer > 0:
            req_buffered += amount + liability_value * margin_buffer // MARGIN

    def add_collateral(amount: int) -> None:
        nonlocal collateral, coll_buffer
        collateral += amount
        if margin_buffer > 0 and amount < 0:
            coll_buffer += _tdiv(amount * margin_buffer, MARGIN)

    custom = max(margin_ratio_override, user.max_margin_ratio if kind is MarginType.INITIAL else 0)

    def strict_price(index: int) -> StrictPrice:
        m = markets.spot[index]
        current = markets.spot_price.get(index, PRICE if index == 0 else 0)
        return StrictPrice(current, m.twap_5min if strict else None)

    for pos in user.spot_positions:
        if pos.scaled_balance == 0 and pos.open_orders == 0:
            continue
        m = markets.spot[pos.market_index]
        price = strict_price(pos.market_index)
        unsigned = m.token_amount(pos.scaled_balance, pos.borrow)
        amount = -unsigned if pos.borrow else unsigned
        value = strict_token_value(amount, m.decimals, price)
        equity += value
        if pos.market_index == 0:
            if pos.borrow:
                add_requirement(abs(value), abs(value))
            else:
                add_collateral(value)
            continue
        fill = _custom_ratio(worst_case_fill(pos, m, amount, price, kind), m, price.current, custom)
        add_requirement(pos.open_orders * OPEN_ORDER_MARGIN_REQUIREMENT, 0)
        if fill.token_value > 0:
            add_collateral(fill.weighted)
        elif fill.token_value < 0:
            add_requirement(abs(fill.weighted), abs(fill.token_value))
        if fill.orders_value > 0:
            add_collateral(fill.orders_value)
        elif fill.orders_value < 0:
            add_requirement(-fill.orders_value, -fill.orders_value)

    for perp in user.perp_positions:
        pm = markets.perp[perp.market_index]
        quote = strict_price(0)
        ratio = max(
            margin_ratio_override,
            max(user.max_margin_ratio, perp.max_margin_ratio) if kind is MarginType.INITIAL else 0,
        )
        req, pnl, liability = perp_requirement_and_pnl(
            perp, pm, markets.perp_price[perp.market_index], quote, kind, ratio
        )
        add_requirement(req, liability)
        add_collateral(pnl)
        equity += perp_base_value_and_pnl(perp, markets.perp_price[perp.market_index])[1]
    return MarginCalculation(requirement, collateral, equity, req_buffered, coll_buffer)


def user_equity(user: User, markets: Markets) -> int:
    """Net account value (quote, 1e6): tokens at the oracle plus perp P&L at the quote price, unweighted
    (``calculate_user_equity``; funding taken as settled)."""
    value = 0
    for pos in user.spot_positions:
        if pos.scaled_balance == 0 and pos.open_orders == 0:
            continue
        m = markets.spot[pos.market_index]
        unsigned = m.token_amount(pos.scaled_balance, pos.borrow)
        price = markets.spot_price.get(pos.market_index, PRICE if pos.market_index == 0 else 0)
        value += token_value(-unsigned if pos.borrow else unsigned, m.decimals, price)
    quote_price = markets.spot_price.get(0, PRICE)
    for perp in user.perp_positions:
        _, pnl = perp_base_value_and_pnl(perp, markets.perp_price[perp.market_index])
        value += _tdiv(pnl * quote_price, PRICE)
    return value
