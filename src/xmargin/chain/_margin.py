"""``xmargin chain margin``: one account's margin computed by the vault contract, beside the engine's.

The engine's result (``model.requirement``) is computed on the same book and market; ``engine`` in the
report carries it and the largest relative difference, so every run is its own cross-check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from xmargin.chain._plan import plan_cross, plan_pm
from xmargin.chain._vault import LoadedVault
from xmargin.core import SCHEMA_VERSION, InputError
from xmargin.instruments import Portfolio
from xmargin.margin import CrossMargin, MarginModel, PortfolioMargin, Status, status_of
from xmargin.market import MarketSnapshot
from xmargin.risk import Book

CHAIN_MODELS = ("cross", "pm")
"""Models the vault computes: ``cross`` (fixed-ratio presets) and ``pm`` (presets within the vault's PM mode,
such as ``pm-chain``; docs/chain.md)."""


@dataclass(frozen=True, slots=True)
class EngineMargin:
    """The engine's own figures for the same account (USD) and the largest relative difference of the
    vault's four amounts from them (``|vault − engine| / max(|engine|, 1 USD)``)."""

    equity: float
    margin_balance: float
    initial_margin: float
    maintenance_margin: float
    max_relative_difference: float


@dataclass(frozen=True, slots=True)
class ChainMarginReport:
    """``xmargin chain margin --json`` (FORMATS.md "On-chain vault"): the margin fields as the vault computed
    them (USD), its ``status``, ``gas_used`` by the health check (execution gas of ``account_margin``, or
    of ``account_margin_pm`` in the PM mode),
    whether every price it read was fresh, and the engine's figures beside them."""

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
    prices_fresh: bool
    gas_used: int
    positions: int
    engine: EngineMargin
    warnings: tuple[str, ...]
    schema_version: int = SCHEMA_VERSION


def chain_margin(model: MarginModel, portfolio: Portfolio, market: MarketSnapshot) -> ChainMarginReport:
    """Deploy a vault holding ``portfolio`` at ``market`` and read its health under ``model``."""
    book = Book.from_portfolio(portfolio)
    if isinstance(model, CrossMargin):
        vault = LoadedVault(plan_cross(model, book, market))
        h = vault.health()
    elif isinstance(model, PortfolioMargin):
        vault = LoadedVault(plan_pm(model, book, market))
        h = vault.health_pm()
    else:
        raise InputError(
            where="model", expected=f"one of {', '.join(CHAIN_MODELS)} (the vault's modes)", found=model.name
        )
    plan = vault.plan
    r = model.requirement(book, market, detail=False)
    engine = (
        float(r.equity[0]),
        float(r.margin_balance[0]),
        float(r.initial_margin[0]),
        float(r.maintenance_margin[0]),
    )
    ours = (h.equity_usd, h.margin_balance_usd, h.initial_margin_usd, h.maintenance_margin_usd)
    diff = max(abs(a - b) / max(abs(b), 1.0) for a, b in zip(ours, engine, strict=True))
    mb, im, mm = h.margin_balance_usd, h.initial_margin_usd, h.maintenance_margin_usd
    return ChainMarginReport(
        valuation_time=market.valuation_time,
        account=portfolio.account,
        model=model.name,
        preset=model.preset_name,
        currency="USD",
        equity=h.equity_usd,
        margin_balance=mb,
        initial_margin=im,
        maintenance_margin=mm,
        available=mb - im,
        status=status_of(mb, im, mm),
        prices_fresh=h.prices_fresh,
        gas_used=h.gas_used,
        positions=len(plan.positions),
        engine=EngineMargin(*engine, max_relative_difference=diff),
        warnings=plan.warnings,
    )
