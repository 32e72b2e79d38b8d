"""Typed margin results: what every model returns, and the ``margin`` / ``compare`` documents built from them.

Everything here is a frozen dataclass of plain values, serialised by the one function
:func:`xmargin.core.to_data`, whose JSON Schema (:func:`xmargin.core.json_schema`) is shipped and printed
by ``xmargin schema``. Amounts are USD unless a field says otherwise; in a document they are in its
``currency``.

A model's per-account detail is a *breakdown*: :class:`PmBreakdown` (scenario models) or
:class:`RatioBreakdown` (``isolated``, ``cross``, ``standard``). Both share :class:`BreakdownBase`, the
fields FORMATS.md fixes (``liquidation_price``, ``liquidation_prices``, ``positions``) and the Greeks, which
the account report fills in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from xmargin.core import SCHEMA_VERSION
from xmargin.risk import UnderlyingGreeks

Status = Literal["ok", "margin_call", "liquidatable"]
VolShock = Literal["down", "flat", "up"]
VOL_LABELS: dict[int, VolShock] = {-1: "down", 0: "flat", 1: "up"}
ScenarioKind = Literal["standard", "extended", "extreme", "historical"]
Allocation = Literal["default", "leverage", "isolated_margin", "premium"]
ALLOCATION_NAMES: tuple[Allocation, ...] = ("default", "leverage", "isolated_margin", "premium")
"""How an isolated position's margin was set, by code (``IsolatedEntries.allocation``)."""


def status_of(margin_balance: float, initial_margin: float, maintenance_margin: float) -> Status:
    """FORMATS.md: ``liquidatable`` below maintenance, ``margin_call`` when ``available < 0``, else ``ok``.
    Written so that a NaN anywhere is never ``ok``."""
    if not margin_balance >= maintenance_margin:
        return "liquidatable"
    if not margin_balance - initial_margin >= 0:
        return "margin_call"
    return "ok"


# -- scenario models ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario of a risk group: the underlying's relative ``price_move`` (−0.16 = −16%), the implied-vol
    shock (``vol_shock`` −1/0/+1, labelled), a rate shift, its kind and the weight its loss counts with."""

    price_move: float
    vol_shock: int
    vol_shock_label: VolShock
    rate_shift: float
    kind: ScenarioKind
    weight: float


@dataclass(frozen=True, slots=True)
class ExtendedCell:
    """An extended-move scenario: P&L at the vol-up shock and the loss it adds after its weight."""

    price_move: float
    pnl_usd: float
    weight: float
    weighted_loss_usd: float
    """``max(−pnl·weight − dampener, 0)``"""
    dampener_usd: float = 0.0
    """the amount the preset's extended-table dampener takes off this move's weighted loss"""


@dataclass(frozen=True, slots=True)
class PnlGrid:
    """The standard table of one risk group: P&L (USD) per vol shock (rows) × price move (columns), at no
    rate shift, and the extended moves. ``currency`` / ``pnl``: the same P&L in the report's currency."""

    price_moves: tuple[float, ...]
    vol_shocks: tuple[int, ...]
    vol_shock_labels: tuple[VolShock, ...]
    pnl_usd: tuple[tuple[float, ...], ...]
    extended: tuple[ExtendedCell, ...] = ()
    currency: str = "USD"
    usd_per_unit: float = 1.0
    """USD per unit of ``currency`` (the index of a coin; 1 for USD)."""
    pnl: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class PmGroup:
    """One risk group's requirement (USD) and its parts."""

    underlying: str
    settlement: str
    requirement_usd: float
    worst_loss_usd: float
    worst_scenario: Scenario
    roll_shock_usd: float
    delta_shock_usd: float
    short_option_minimum_usd: float
    long_options_at_premium: bool
    long_option_value_usd: float
    """Mark value of the group's long options: the initial requirement is never below it (paid in full)."""
    maintenance_usd: float
    pnl_grid: PnlGrid


@dataclass(frozen=True, slots=True)
class LiquidationPrices:
    """The nearest index prices (USD) of one underlying below and above today's at which the account (or
    the position) falls to maintenance; null where none exists or where it already has."""

    below: float | None
    above: float | None


@dataclass(frozen=True, slots=True)
class PositionMargin:
    """One isolated position (FORMATS.md ``positions``): its own ``margin`` (USD) and liquidation price."""

    margin: float
    liquidation_price: float | None
    allocation: Allocation
    leverage: float | None
    initial_margin: float
    maintenance_margin: float
    unrealised_pnl_usd: float
    status: Status
    liquidation_prices: LiquidationPrices = LiquidationPrices(None, None)


@dataclass(frozen=True, slots=True)
class CollateralLine:
    """One collateral balance of an account and what the model's haircut takes off it (USD)."""

    balance: float
    """in units of the asset; negative = borrowed"""
    index_usd: float
    value_usd: float
    haircut: float
    """the fraction applied: the held haircut for a positive balance, the borrowed add-on for a negative one"""
    haircut_usd: float
    basis: Literal["static", "implied", "fhs"]
    """how the haircut was set: the preset's table, the asset's implied vol, or its FHS tail"""


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakdownBase:
    """The breakdown fields FORMATS.md fixes, filled by the account report (empty on a whole book)."""

    greeks: Mapping[str, UnderlyingGreeks] = field(default_factory=dict)
    liquidation_price: Mapping[str, float | None] = field(default_factory=dict)
    liquidation_prices: Mapping[str, LiquidationPrices] = field(default_factory=dict)
    positions: Mapping[str, PositionMargin] = field(default_factory=dict)
    collateral: Mapping[str, CollateralLine] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PmBreakdown(BreakdownBase):
    """A scenario model's detail: per underlying requirement and every risk group."""

    model: Literal["pm"] = "pm"
    preset: str
    view: Literal["settlement", "usd"]
    mm_factor: float
    haircut_usd: float
    per_underlying_usd: Mapping[str, float]
    groups: tuple[PmGroup, ...]
    open_orders_margin_usd: float = 0.0
    """initial margin for resting orders: the larger rise of the requirement with every bid, or every ask,
    filled at mark (0 without orders)"""
    mmp_margin_usd: float = 0.0
    """initial margin reserved for the account's MMP configurations (0 without)"""


# -- ratio models -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InstrumentCharge:
    """One derivative of a ratio model: its requirement (USD) and how it came about."""

    size: float
    notional_usd: float
    tier: int
    """1-based tier of a future or perpetual (0 for an option; standard margin has no tiers: 1)."""
    initial_margin: float
    maintenance_margin: float
    im_rate: float
    mm_rate: float
    locked_premium_usd: float = 0.0
    """A long option's mark value, charged as IM and MM: its value is paid and backs nothing else."""


@dataclass(frozen=True, slots=True)
class MarginPair:
    initial_margin: float
    maintenance_margin: float


@dataclass(frozen=True, slots=True)
class RateTable:
    """The rates one underlying's positions were charged at (a tier table or fixed rates, and options)."""

    futures: Mapping[str, tuple[float, ...]]
    short_options: Mapping[str, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class RatioBreakdown(BreakdownBase):
    """A ratio model's detail: per instrument, per underlying, the rates used and the haircuts."""

    model: Literal["isolated", "cross", "standard"]
    preset: str
    instruments: Mapping[str, InstrumentCharge]
    underlyings: Mapping[str, MarginPair]
    rates: Mapping[str, RateTable]
    haircut_usd: float
    unrealised_profit_excluded_usd: float = 0.0
    """isolated: profits of isolated positions, locked in the initial margin (they back nothing else until
    realised)."""
    loss_beyond_isolated_margin_usd: float = 0.0
    """isolated: losses of positions beyond their own margin, which the rest of the account does not carry."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FhsBreakdown(BreakdownBase):
    """The ``fhs`` model's detail: the expected shortfall of each scenario block and what the
    anti-procyclicality tools and add-ons made of it (USD)."""

    model: Literal["fhs"] = "fhs"
    preset: str
    history: str
    asof: str
    """the last history day the scenarios and today's volatility come from"""
    horizon_days: int
    confidence: float
    scenarios: int
    es_filtered_usd: float
    es_reference_usd: float | None
    es_lookback_usd: float | None
    es_stressed_usd: float | None
    apc_margin_usd: float
    """the ES after the anti-procyclicality tools"""
    liquidity_usd: float
    short_option_minimum_usd: float
    long_option_value_usd: float
    haircut_usd: float
    worst_scenario_day: str
    """end day of the historical window behind the worst filtered scenario"""
    worst_loss_usd: float
    sigma_daily: Mapping[str, float]
    """today's EWMA daily volatility per underlying"""


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueBreakdown(BreakdownBase):
    """A venue preset's detail (``drift``, ``mango``, ``derive``): the venue's own weighted collateral and requirement at
    initial and maintenance weights (USD; Mango: the positive and negative health contributions), the same
    figures as the venue's exact integers where it computes in integers (``exact``, Drift's quote 1e6), and
    Mango's health values (``health``: init, maint, liquidation_end; Derive: its own ``initial_margin`` and
    ``maintenance_margin`` in its sign, ``option_mtm``, ``collateral_mtm``, ``worst_loss``, ``long_options_value``). The model's IM and MM are the requirement
    plus what the weights take off the collateral, so that ``available`` and the liquidation test are the
    venue's own (Drift's free collateral; Mango's init and maint health)."""

    model: Literal["drift", "mango", "derive"]
    preset: str
    source: str
    weighted_collateral: MarginPair
    requirement: MarginPair
    exact: Mapping[str, int] = field(default_factory=dict)
    health: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanCommodity:
    """One combined commodity under ``span`` (USD): the 16 scenario losses (positive = loss, CME's order), scan
    risk and its active scenario (1-16) split into time, volatility and price risk, the net composite delta,
    the intra-commodity charge, the inter-commodity credit, the short option minimum, the risk
    ``max(scan + intra − inter, SOM)``, the net option value and ``requirement`` = risk − NOV."""

    scan_risk: float
    active_scenario: int
    scenario_losses: tuple[float, ...]
    time_risk: float
    volatility_risk: float
    price_risk: float
    net_delta: float
    intra_charge: float
    inter_credit: float
    short_option_minimum: float
    risk: float
    net_option_value: float
    requirement: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanBreakdown(BreakdownBase):
    """``span``: SPAN from a risk-parameter file (USD). ``span_requirement`` = max(0, risk − net option value) is
    SPAN's total, the cash an account must hold; the model's IM and MM are it plus ``option_value_usd``, the
    options' value that equity counts (at the market's marks), so that ``available`` is SPAN's excess."""

    model: Literal["span"] = "span"
    preset: str
    source: str
    span_file: str
    business_date: str
    scan_risk: float
    intra_charge: float
    inter_credit: float
    short_option_minimum: float
    risk: float
    net_option_value: float
    span_requirement: float
    option_value_usd: float
    commodities: Mapping[str, SpanCommodity] = field(default_factory=dict)


Breakdown = PmBreakdown | RatioBreakdown | FhsBreakdown | VenueBreakdown | SpanBreakdown


# -- documents ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MarginReport:
    """FORMATS.md ``margin --json``: one account under one model, amounts in ``currency``.

    ``before``: the account before the proposed trades of a what-if (``--add``), else absent."""

    valuation_time: datetime
    account: str
    model: str
    preset: str
    currency: str
    equity: float
    margin_balance: float
    initial_margin: float
    maintenance_margin: float
    available: float
    status: Status
    warnings: tuple[str, ...]
    breakdown: Breakdown
    before: MarginReport | None = None
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One model's figures in ``compare`` (in the document's currency)."""

    initial_margin: float
    maintenance_margin: float
    margin_balance: float
    available: float
    status: Status
    preset: str
    liquidation_prices: Mapping[str, LiquidationPrices] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompareReport:
    """FORMATS.md ``compare --json``: the same account under every model."""

    valuation_time: datetime
    account: str
    currency: str
    models: Mapping[str, ModelSummary]
    warnings: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION
