"""Margin models: the ``MarginModel`` protocol, registry, collateral haircuts and the models themselves."""

from xmargin.margin._collateral import CollateralPolicy, asset_vol
from xmargin.margin._liquidation import liquidation_price, liquidation_prices
from xmargin.margin._model import MarginModel, MarginResult, get_model, model_names, register
from xmargin.margin._pm import PortfolioMargin
from xmargin.margin._pm_preset import PmPreset, load_pm_preset
from xmargin.margin._report import account_report, check_portfolio
from xmargin.margin._simple import CrossMargin, IsolatedMargin, TierTable
from xmargin.margin._standard import ShortOptionRates, StandardMargin

__all__ = [
    "CollateralPolicy",
    "CrossMargin",
    "IsolatedMargin",
    "MarginModel",
    "MarginResult",
    "PmPreset",
    "PortfolioMargin",
    "ShortOptionRates",
    "StandardMargin",
    "TierTable",
    "account_report",
    "asset_vol",
    "check_portfolio",
    "get_model",
    "liquidation_price",
    "liquidation_prices",
    "load_pm_preset",
    "model_names",
    "register",
]
