"""The contagion file (``xmargin contagion --config FILE``, YAML or JSON): the shared markets, the venues
with their margin, oracle and liquidation rules and their accounts, the market makers that trade on two
venues, the bridges that carry collateral. The shipped ``examples/contagion.yaml`` documents every key
with its source. Validated with pydantic at the edge and turned into frozen values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from xmargin.core import InputError, input_errors, load_document
from xmargin.sim._scenarios import scenario as find_scenario


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountsSpec(_Strict):
    """A venue's generated traders: one perpetual position each, on one of the shared assets."""

    count: int = Field(ge=0, le=200_000)
    notional_usd: tuple[float, float] = Field(description="log-uniform range of position notionals, USD")
    leverage: tuple[float, float] = Field(description="uniform range of leverage (notional / collateral)")
    long_share: float = Field(0.7, ge=0.0, le=1.0)
    seed: int = Field(0, ge=0)
    top_up_share: float = Field(0.0, ge=0.0, le=1.0)
    """Share of the accounts that answer a margin call (equity below IM) by sending more collateral."""
    top_up_fraction: float = Field(0.5, ge=0.0, le=10.0)
    """The top-up, as a fraction of the account's collateral at the start (sent once)."""

    @model_validator(mode="after")
    def _ranges(self) -> AccountsSpec:
        lo, hi = self.notional_usd
        if not 0 < lo <= hi:
            raise ValueError("notional_usd: expected 0 < low <= high")
        lo, hi = self.leverage
        if not 1.0 <= lo <= hi <= 200.0:
            raise ValueError("leverage: expected 1 <= low <= high <= 200")
        return self


class CollateralOracleSpec(_Strict):
    """A venue's own price for a bridged collateral asset over a time window (its internal oracle), whatever
    the asset trades at elsewhere: Binance marked USDe near 0.65 on 2025-10-10 (docs/contagion.md)."""

    bridge: str = Field(min_length=1)
    price: float = Field(ge=0.0, le=1.0)
    from_hour: float = Field(ge=0.0)
    to_hour: float = Field(ge=0.0)

    @model_validator(mode="after")
    def _window(self) -> CollateralOracleSpec:
        if self.to_hour <= self.from_hour:
            raise ValueError("to_hour: expected > from_hour")
        return self


class VenueSpec(_Strict):
    name: str = Field(min_length=1)
    kind: Literal["cex", "dex"]
    maintenance_margin: float = Field(gt=0.0, lt=1.0)
    initial_margin: float = Field(gt=0.0, le=1.0)
    oracle_delay_minutes: float = Field(0.0, ge=0.0)
    penalty: float = Field(ge=0.0, lt=0.5)
    liquidation_step: float = Field(0.25, gt=0.0, le=1.0)
    """CEX: share of the position (as it was when first liquidated) closed per cascade round."""
    insurance_fund_usd: float = Field(ge=0.0)
    accounts: AccountsSpec
    collateral_oracle: list[CollateralOracleSpec] = Field(default_factory=list)
    """The venue's own marks of bridged collateral (the other venues keep the bridge's price)."""

    @model_validator(mode="after")
    def _margins(self) -> VenueSpec:
        if self.initial_margin < self.maintenance_margin:
            raise ValueError("initial_margin: expected >= maintenance_margin")
        return self


class MarketMakerSpec(_Strict):
    """Offsetting positions on two venues, margined separately on each."""

    name: str = Field(min_length=1)
    long: str
    short: str
    asset: str
    notional_usd: float = Field(gt=0.0)
    leverage: float = Field(ge=1.0, le=200.0)


class BridgeSpec(_Strict):
    name: str = Field(min_length=1)
    latency_minutes: float = Field(ge=0.0)
    depeg_at_hour: float | None = Field(None, ge=0.0)
    depeg_price: float = Field(1.0, ge=0.0, le=1.0)
    halt_at_hour: float | None = Field(None, ge=0.0)
    collateral_share: dict[str, float] = Field(default_factory=dict)
    """Per venue: the share of its generated accounts whose collateral is this bridged asset."""
    haircut: float = Field(0.0, ge=0.0, lt=1.0)
    """Venues value the asset at (1 - haircut) x its price for margin; accounts post 1 / (1 - haircut)
    times the coins for the same leverage (docs/contagion.md, "Haircut")."""


class ImpactSpec(_Strict):
    y: float = Field(1.0, ge=0.0)
    depth_usd_per_day: dict[str, float]
    half_life_minutes: float = Field(60.0, gt=0.0)


class ContagionFile(_Strict):
    scenario: str
    impact: ImpactSpec
    venues: list[VenueSpec] = Field(min_length=1)
    market_makers: list[MarketMakerSpec] = Field(default_factory=list)
    bridges: list[BridgeSpec] = Field(default_factory=list)
    max_rounds: int = Field(20, ge=1, le=1000)

    @model_validator(mode="after")
    def _refs(self) -> ContagionFile:
        names = [v.name for v in self.venues]
        if len(set(names)) != len(names):
            raise ValueError(f"venues: expected distinct names, found {names}")
        assets = set(self.impact.depth_usd_per_day)
        if not assets or not assets <= {"BTC", "ETH"}:
            raise ValueError(f"impact.depth_usd_per_day: expected BTC and/or ETH, found {sorted(assets)}")
        for m in self.market_makers:
            if m.asset not in assets:
                raise ValueError(f"market_makers.{m.name}.asset: expected one of {sorted(assets)}")
            for side in (m.long, m.short):
                if side not in names:
                    raise ValueError(f"market_makers.{m.name}: venue {side!r} is not one of {names}")
            if m.long == m.short:
                raise ValueError(f"market_makers.{m.name}: expected two different venues")
        for b in self.bridges:
            for v, share in b.collateral_share.items():
                if v not in names:
                    raise ValueError(f"bridges.{b.name}.collateral_share: venue {v!r} is not one of {names}")
                if not 0.0 <= share <= 1.0:
                    raise ValueError(f"bridges.{b.name}.collateral_share.{v}: expected a share in [0, 1]")
        bridges = [b.name for b in self.bridges]
        if len(set(bridges)) != len(bridges):
            raise ValueError(f"bridges: expected distinct names, found {bridges}")
        for venue in self.venues:
            for o in venue.collateral_oracle:
                if o.bridge not in bridges:
                    raise ValueError(
                        f"venues.{venue.name}.collateral_oracle: bridge {o.bridge!r} is not one of {bridges}"
                    )
        shares: dict[str, float] = {}
        for b in self.bridges:
            for v, share in b.collateral_share.items():
                shares[v] = shares.get(v, 0.0) + share
        if any(s > 1.0 + 1e-12 for s in shares.values()):
            raise ValueError("bridges: collateral shares of one venue add up to more than 1")
        return self


@dataclass(frozen=True, slots=True)
class Overrides:
    """Command-line overrides: ``--impact-scale``, ``--bridge-latency`` and, per bridge, its haircut (the
    haircut solver's variable)."""

    impact_scale: float = 1.0
    bridge_latency_minutes: float | None = None
    haircuts: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


def load_contagion(path: str | Path) -> ContagionFile:
    """The contagion file at ``path``, validated (every problem named by its key)."""
    doc = load_document(path)
    try:
        cfg = ContagionFile.model_validate(doc)
    except ValidationError as exc:
        raise input_errors(
            exc,
            source=str(path),
            allowed_keys=("scenario", "impact", "venues", "market_makers", "bridges", "max_rounds"),
        ) from None
    try:
        find_scenario(cfg.scenario)
    except InputError as exc:
        raise InputError(where=f"{path}: scenario", expected=exc.expected, found=exc.found) from None
    return cfg
