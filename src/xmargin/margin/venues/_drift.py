"""Drift v2's cross-margin calculation on a user, in its own integer fixed point (Python ints, Drift's rounding).

Re-implemented from reading drift-labs/protocol-v2 at commit ``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62``
(``programs/drift/src/math/margin.rs``, ``state/margin_calculation.rs``, ``state/user.rs``,
``math/position.rs``); no code copied. Units, weights and the size premium: ``_drift_market`` (re-exported
here); oracle validity: ``_drift_oracle``; tiers: ``_drift_tier``.

Oracle validity enters as a classification per market (``Markets.with_oracles``): a deposit whose oracle is
invalid for margin counts for nothing when the context ignores invalid deposit oracles, and the result says
whether every deposit's and every liability's oracle was valid. The result also counts the spot and perp
liabilities and flags an isolated-tier one, as Drift's ``MarginCalculation``.

What is *not* reproduced: funding payments (taken as settled), the AMM and LP shares, isolated perp positions,
high-leverage mode, pools, fuel, and Drift's consistency checks that abort the calculation (a zero-valued
borrow, a liability counted with no requirement).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from xmargin.margin.venues._drift_market import (
    BASE,
    IMF,
    MARGIN,
    MAX_POSITIVE_UPNL_FOR_INITIAL_MARGIN,
    OPEN_ORDER_MARGIN_REQUIREMENT,
    PRICE,
    QUOTE,
    SPOT_BALANCE,
    SPOT_CUMULATIVE_INTEREST,
    MarginType,
    PerpMarket,
    SpotMarket,
    StrictPrice,
    _tdiv,
    perp_liability_value,
    size_discount_asset_weight,
    size_premium_liability_weight,
    strict_token_value,
    token_value,
)
from xmargin.margin.venues._drift_oracle import (
    DEFAULT_GUARD_RAILS,
    OraclePriceData,
    OracleValidity,
    ValidityGuardRails,
    oracle_validity,
)
from xmargin.margin.venues._drift_tier import (
    DEFAULT_ASSET_TIER,
    DEFAULT_CONTRACT_TIER,
    AssetTier,
    ContractTier,
)

__all__ = [
    "BASE",
    "IMF",
    "MARGIN",
    "MAX_POSITIVE_UPNL_FOR_INITIAL_MARGIN",
    "OPEN_ORDER_MARGIN_REQUIREMENT",
    "PRICE",
    "QUOTE",
    "SPOT_BALANCE",
    "SPOT_CUMULATIVE_INTEREST",
    "MarginCalculation",
    "MarginType",
    "Markets",
    "PerpMarket",
    "PerpPosition",
    "SpotMarket",
    "SpotPosition",
    "StrictPrice",
    "User",
    "margin_calculation",
    "perp_base_value_and_pnl",
    "perp_liability_value",
    "perp_requirement_and_pnl",
    "safest_position_tiers",
    "size_discount_asset_weight",
    "size_premium_liability_weight",
    "strict_token_value",
    "token_value",
    "user_equity",
    "worst_case_fill",
]


@dataclass(frozen=True, slots=True)
class SpotPosition:
    """A user's balance in one spot market: scaled balance (1e9), deposit or borrow, open orders in tokens."""

    market_index: int
    scaled_balance: int = 0
    borrow: bool = False
    open_bids: int = 0
    open_asks: int = 0
    open_orders: int = 0

    @property
    def has_open_order(self) -> bool:
        return self.open_orders != 0 or self.open_bids != 0 or self.open_asks != 0


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

    @property
    def has_open_order(self) -> bool:
        return self.open_orders != 0 or self.open_bids != 0 or self.open_asks != 0

    @property
    def is_available(self) -> bool:
        """An empty slot: no base, no unsettled quote, no open order (not isolated, not being liquidated)."""
        return self.base_asset_amount == 0 and self.quote_asset_amount == 0 and not self.has_open_order


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
    spot_validity: dict[int, OracleValidity] = field(default_factory=dict)
    """each spot market's oracle classification; a market not listed is valid (the quote asset always is)"""
    perp_validity: dict[int, OracleValidity] = field(default_factory=dict)

    def with_oracles(
        self,
        spot: dict[int, OraclePriceData] | None = None,
        perp: dict[int, OraclePriceData] | None = None,
        guard_rails: ValidityGuardRails = DEFAULT_GUARD_RAILS,
    ) -> Markets:
        """These markets with the given oracle readings: each sets its market's price and is classified against
        the market's last oracle TWAP and its tier's confidence multiplier (perps with their AMM's slot-delay
        overrides). Drift caches one classification per oracle account for a whole calculation, spot markets
        first; here each market is classified on its own (the same when markets sharing an oracle share the
        TWAP and the tier's multiplier, as in Drift's test fixtures)."""
        spot_price, perp_price = dict(self.spot_price), dict(self.perp_price)
        spot_validity, perp_validity = dict(self.spot_validity), dict(self.perp_validity)
        for i, data in (spot or {}).items():
            m = self.spot[i]
            spot_price[i] = data.price
            spot_validity[i] = oracle_validity(
                data, m.last_oracle_price_twap, m.asset_tier.max_confidence_interval_multiplier, guard_rails
            ).validity
        for i, data in (perp or {}).items():
            pm = self.perp[i]
            perp_price[i] = data.price
            perp_validity[i] = oracle_validity(
                data,
                pm.last_oracle_price_twap,
                pm.contract_tier.max_confidence_interval_multiplier,
                guard_rails,
                slot_delay_override=pm.oracle_slot_delay_override,
                low_risk_slot_delay_override=pm.oracle_low_risk_slot_delay_override,
            ).validity
        return replace(
            self,
            spot_price=spot_price,
            perp_price=perp_price,
            spot_validity=spot_validity,
            perp_validity=perp_validity,
        )

    def spot_valid(self, index: int) -> bool:
        return self.spot_validity.get(index, OracleValidity.VALID).valid_for_margin

    def perp_valid(self, index: int) -> bool:
        return self.perp_validity.get(index, OracleValidity.VALID).valid_for_margin


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
    num_spot_liabilities: int = 0
    """borrows, and spot markets whose worst-case fill is a borrow or nil with open orders"""
    num_perp_liabilities: int = 0
    """perp positions with base, a negative quote amount or open orders"""
    all_deposit_oracles_valid: bool = True
    all_liability_oracles_valid: bool = True
    with_spot_isolated_liability: bool = False
    """a spot liability in a market of tier ``AssetTier.ISOLATED``"""
    with_perp_isolated_liability: bool = False
    """a perp liability in a market of tier ``ContractTier.ISOLATED``"""

    @property
    def num_liabilities(self) -> int:
        """``get_num_of_liabilities``: spot plus perp liabilities."""
        return self.num_spot_liabilities + self.num_perp_liabilities

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


@dataclass(slots=True)
class _Totals:
    """The running sums and counts of one margin calculation (``MarginCalculation``'s mutable state)."""

    margin_buffer: int
    ignore_invalid_deposit_oracles: bool
    requirement: int = 0
    collateral: int = 0
    equity: int = 0
    req_buffered: int = 0
    coll_buffer: int = 0
    spot_liabilities: int = 0
    perp_liabilities: int = 0
    deposits_valid: bool = True
    liabilities_valid: bool = True
    spot_isolated: bool = False
    perp_isolated: bool = False

    def require(self, amount: int, liability_value: int) -> None:
        self.requirement += amount
        if self.margin_buffer > 0:
            self.req_buffered += amount + liability_value * self.margin_buffer // MARGIN

    def collect(self, amount: int) -> None:
        self.collateral += amount
        if self.margin_buffer > 0 and amount < 0:
            self.coll_buffer += _tdiv(amount * self.margin_buffer, MARGIN)

    def deposit(self, amount: int, valid: bool, *, counts: bool = True) -> None:
        """A deposit's collateral: nothing when its oracle is invalid and the context ignores such deposits."""
        self.collect(0 if self.ignore_invalid_deposit_oracles and not valid else amount)
        if counts:
            self.deposits_valid &= valid

    def spot_liability(self, valid: bool, isolated: bool) -> None:
        self.spot_liabilities += 1
        self.liabilities_valid &= valid
        self.spot_isolated |= isolated

    def result(self) -> MarginCalculation:
        return MarginCalculation(
            self.requirement,
            self.collateral,
            self.equity,
            self.req_buffered,
            self.coll_buffer,
            num_spot_liabilities=self.spot_liabilities,
            num_perp_liabilities=self.perp_liabilities,
            all_deposit_oracles_valid=self.deposits_valid,
            all_liability_oracles_valid=self.liabilities_valid,
            with_spot_isolated_liability=self.spot_isolated,
            with_perp_isolated_liability=self.perp_isolated,
        )


def margin_calculation(
    user: User,
    markets: Markets,
    kind: MarginType,
    *,
    strict: bool = False,
    margin_ratio_override: int = 0,
    margin_buffer: int = 0,
    ignore_invalid_deposit_oracles: bool = False,
) -> MarginCalculation:
    """Cross margin of ``user`` (``calculate_margin_requirement_and_total_collateral_and_liability_info``):
    the quote market (index 0) at its value, other spot markets weighted at their worst-case order fill,
    perps at their size-premium margin ratio with weighted unrealised P&L; with the liability counts and the
    oracle-validity flags.

    The user's custom margin ratio counts for initial margin only; ``margin_ratio_override`` (Drift's
    stale-oracle override in ``MarginContext``) counts for every kind. ``margin_buffer`` (1e4, the
    liquidation context's buffer) adds ``liability value × buffer`` to the buffered requirement and
    ``negative contribution × buffer`` to the collateral buffer. ``ignore_invalid_deposit_oracles`` (the
    context's flag): a deposit, or the proceeds of open asks, in a market whose oracle is invalid for margin
    counts as 0 collateral.

    Counting (Drift's order): a quote borrow is a spot liability; in another spot market the worst-case fill
    is a liability when it leaves a borrow, or leaves nothing while orders are open; a perp position is a
    liability when it has base, a negative quote amount or open orders. Validity: a deposit's oracle enters
    ``all_deposit_oracles_valid``, a spot liability's ``all_liability_oracles_valid``; a perp's quote and
    perp oracles enter the latter when the perp is a liability, or for every perp at fill and maintenance."""
    t = _Totals(margin_buffer, ignore_invalid_deposit_oracles)
    custom = max(margin_ratio_override, user.max_margin_ratio if kind is MarginType.INITIAL else 0)

    def strict_price(index: int) -> StrictPrice:
        m = markets.spot[index]
        current = markets.spot_price.get(index, PRICE if index == 0 else 0)
        return StrictPrice(current, m.twap_5min if strict else None)

    for pos in user.spot_positions:
        if pos.scaled_balance == 0 and pos.open_orders == 0:
            continue
        m = markets.spot[pos.market_index]
        valid = markets.spot_valid(pos.market_index)
        price = strict_price(pos.market_index)
        unsigned = m.token_amount(pos.scaled_balance, pos.borrow)
        amount = -unsigned if pos.borrow else unsigned
        value = strict_token_value(amount, m.decimals, price)
        t.equity += value
        if pos.market_index == 0:
            if pos.borrow:
                t.require(abs(value), abs(value))
                t.spot_liability(valid, isolated=False)
            else:
                t.deposit(value, valid)
            continue
        fill = _custom_ratio(worst_case_fill(pos, m, amount, price, kind), m, price.current, custom)
        isolated = m.asset_tier is AssetTier.ISOLATED
        t.require(pos.open_orders * OPEN_ORDER_MARGIN_REQUIREMENT, 0)
        if fill.token_value > 0:
            t.deposit(fill.weighted, valid)
        elif fill.token_value < 0:
            t.require(abs(fill.weighted), abs(fill.token_value))
            t.spot_liability(valid, isolated)
        elif pos.has_open_order:
            t.spot_liability(valid, isolated)
        if fill.orders_value > 0:
            t.deposit(fill.orders_value, valid, counts=False)
        elif fill.orders_value < 0:
            t.require(-fill.orders_value, -fill.orders_value)

    for perp in user.perp_positions:
        if perp.is_available:
            continue
        pm = markets.perp[perp.market_index]
        quote = strict_price(0)
        ratio = max(
            margin_ratio_override,
            max(user.max_margin_ratio, perp.max_margin_ratio) if kind is MarginType.INITIAL else 0,
        )
        req, pnl, liability = perp_requirement_and_pnl(
            perp, pm, markets.perp_price[perp.market_index], quote, kind, ratio
        )
        t.require(req, liability)
        t.collect(pnl)
        t.equity += perp_base_value_and_pnl(perp, markets.perp_price[perp.market_index])[1]
        is_liability = perp.base_asset_amount != 0 or perp.quote_asset_amount < 0 or perp.has_open_order
        if is_liability:
            t.perp_liabilities += 1
            t.perp_isolated |= pm.contract_tier is ContractTier.ISOLATED
        if is_liability or kind is not MarginType.INITIAL:
            t.liabilities_valid &= markets.spot_valid(0) and markets.perp_valid(perp.market_index)
    return t.result()


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


def safest_position_tiers(user: User, markets: Markets) -> tuple[AssetTier, ContractTier]:
    """The safest tier among the user's spot borrows and among its perp positions (open, with orders or
    unsettled P&L), ``UNLISTED`` / ``HIGHLY_SPECULATIVE`` when there are none
    (``calculate_user_safest_position_tiers``); the liquidator checks a contract against these with
    ``ContractTier.is_as_safe_as``."""
    spot = min(
        (
            markets.spot[p.market_index].asset_tier
            for p in user.spot_positions
            if p.borrow and not (p.scaled_balance == 0 and p.open_orders == 0)
        ),
        default=DEFAULT_ASSET_TIER,
    )
    perp = min(
        (markets.perp[p.market_index].contract_tier for p in user.perp_positions if not p.is_available),
        default=DEFAULT_CONTRACT_TIER,
    )
    return spot, perp
