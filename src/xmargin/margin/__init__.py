"""Margin models: the ``MarginModel`` protocol, the registry of models and presets, collateral haircuts, the
models themselves, their typed results and the account documents built from them."""

from xmargin.margin._catalog import Catalog, ModelInfo, catalog, resolve_model
from xmargin.margin._collateral import CollateralPolicy, asset_vol
from xmargin.margin._liquidation import liquidation_price, liquidation_prices, nearest, solve
from xmargin.margin._model import MODEL_KINDS, MarginModel, MarginResult, get_model, model_names, register
from xmargin.margin._pm import PortfolioMargin, Prepared
from xmargin.margin._presets import (
    PmPreset,
    PresetInfo,
    RatioPreset,
    ShortOptions,
    StandardPreset,
    load_pm_preset,
    load_preset,
    shipped_presets,
)
from xmargin.margin._report import account_report, check_portfolio, compare_report, whatif_report
from xmargin.margin._result import (
    Breakdown,
    CompareReport,
    ExtendedCell,
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
    Status,
    status_of,
)
from xmargin.margin._simple import CrossMargin, IsolatedMargin
from xmargin.margin._standard import StandardMargin
from xmargin.margin._tiers import TierTable

__all__ = [
    "MODEL_KINDS",
    "Breakdown",
    "Catalog",
    "CollateralPolicy",
    "CompareReport",
    "CrossMargin",
    "ExtendedCell",
    "InstrumentCharge",
    "IsolatedMargin",
    "LiquidationPrices",
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
    "StandardMargin",
    "StandardPreset",
    "Status",
    "TierTable",
    "account_report",
    "asset_vol",
    "catalog",
    "check_portfolio",
    "compare_report",
    "get_model",
    "liquidation_price",
    "liquidation_prices",
    "load_pm_preset",
    "load_preset",
    "model_names",
    "nearest",
    "register",
    "resolve_model",
    "shipped_presets",
    "solve",
    "status_of",
    "whatif_report",
]
