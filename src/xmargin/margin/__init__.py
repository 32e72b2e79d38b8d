"""Margin models: the ``MarginModel`` protocol, the registry of models and presets, collateral haircuts, the
models themselves, their typed results and the account documents built from them."""

from xmargin.margin._catalog import Catalog, ModelInfo, catalog, resolve_model
from xmargin.margin._collateral import CollateralPolicy, asset_vol
from xmargin.margin._fhs import FhsMargin
from xmargin.margin._liquidation import liquidation_price, liquidation_prices, nearest, solve
from xmargin.margin._model import (
    MODEL_KINDS,
    HistoricalModel,
    MarginModel,
    MarginResult,
    get_model,
    model_names,
    register,
)
from xmargin.margin._pm import PortfolioMargin, Prepared
from xmargin.margin._presets import (
    FhsPreset,
    PmPreset,
    PresetInfo,
    RatioPreset,
    ShortOptions,
    StandardPreset,
    load_fhs_preset,
    load_pm_preset,
    load_preset,
    shipped_presets,
)
from xmargin.margin._report import account_report, check_portfolio, compare_report, whatif_report
from xmargin.margin._result import (
    Breakdown,
    CompareReport,
    ExtendedCell,
    FhsBreakdown,
    InstrumentCharge,
    LiquidationPrices,
    MarginPair,
    MarginReport,
    ModelSummary,
    PmBreakdown,
    PmGroup,
    PnlGrid,
    PositionMargin,
    RateTable,
    RatioBreakdown,
    Scenario,
    SpanBreakdown,
    SpanCommodity,
    Status,
    VenueBreakdown,
    status_of,
)
from xmargin.margin._simple import CrossMargin, IsolatedMargin
from xmargin.margin._standard import StandardMargin
from xmargin.margin._tiers import TierTable
from xmargin.margin.venues._derive_model import DeriveMargin
from xmargin.margin.venues._drift_model import DriftMargin
from xmargin.margin.venues._mango_model import MangoMargin
from xmargin.margin.venues._span_file import SpanFile, parse_span, read_span_file
from xmargin.margin.venues._span_model import SpanMargin, span_market

__all__ = [
    "MODEL_KINDS",
    "Breakdown",
    "Catalog",
    "CollateralPolicy",
    "CompareReport",
    "CrossMargin",
    "DeriveMargin",
    "DriftMargin",
    "ExtendedCell",
    "FhsBreakdown",
    "FhsMargin",
    "FhsPreset",
    "HistoricalModel",
    "InstrumentCharge",
    "IsolatedMargin",
    "LiquidationPrices",
    "MangoMargin",
    "MarginModel",
    "MarginPair",
    "MarginReport",
    "MarginResult",
    "ModelInfo",
    "ModelSummary",
    "PmBreakdown",
    "PmGroup",
    "PmPreset",
    "PnlGrid",
    "PortfolioMargin",
    "PositionMargin",
    "Prepared",
    "PresetInfo",
    "RateTable",
    "RatioBreakdown",
    "RatioPreset",
    "Scenario",
    "ShortOptions",
    "SpanBreakdown",
    "SpanCommodity",
    "SpanFile",
    "SpanMargin",
    "StandardMargin",
    "StandardPreset",
    "Status",
    "TierTable",
    "VenueBreakdown",
    "account_report",
    "asset_vol",
    "catalog",
    "check_portfolio",
    "compare_report",
    "get_model",
    "liquidation_price",
    "liquidation_prices",
    "load_fhs_preset",
    "load_pm_preset",
    "load_preset",
    "model_names",
    "nearest",
    "parse_span",
    "read_span_file",
    "register",
    "resolve_model",
    "shipped_presets",
    "solve",
    "span_market",
    "status_of",
    "whatif_report",
]
