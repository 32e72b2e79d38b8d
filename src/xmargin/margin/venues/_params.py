"""Parameter files of the venue presets (kinds ``drift`` and ``mango``), validated at the edge by pydantic.

Every number is in the venue's own terms (Drift: weights and margin ratios in 1e4, IMF factors in 1e6; Mango:
weights as fractions), so that a preset reads as the venue's on-chain account does. A numeric parameter may be given as
``{value, source}`` like every preset (``margin._presets``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from xmargin.core import InputError

PARAM_KEYS = ("value", "source", "note")


def _unwrap(raw: Any) -> Any:
    if isinstance(raw, dict):
        extra = [k for k in raw if k not in PARAM_KEYS]
        if extra:
            raise InputError(where=str(extra[0]), expected=f"one of {', '.join(PARAM_KEYS)}", found=extra[0])
        if "value" not in raw:
            raise InputError(where="value", expected="the parameter's value", found="nothing")
        return raw["value"]
    return raw


Unwrapped = BeforeValidator(_unwrap)
Weight = Annotated[int, Unwrapped, Field(strict=True, ge=0, le=10**6)]
"""a weight or margin ratio in 1e4 (10000 = 1)"""
ImfFactor = Annotated[int, Unwrapped, Field(strict=True, ge=0, le=10**6)]
"""an IMF factor in 1e6"""
Decimals = Annotated[int, Unwrapped, Field(strict=True, ge=0, le=9)]
Quote = Annotated[int, Unwrapped, Field(strict=True, ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftSpotParams(_Strict):
    """One Drift spot market (fields as Drift's ``SpotMarket``)."""

    decimals: Decimals
    initial_asset_weight: Weight
    maintenance_asset_weight: Weight
    initial_liability_weight: Weight
    maintenance_liability_weight: Weight
    imf_factor: ImfFactor = 0
    scale_initial_asset_weight_start: Quote = 0
    """quote (1e6): total deposits valued above this scale the initial asset weight down"""
    total_deposits: Annotated[float, BeforeValidator(_unwrap), Field(ge=0.0)] = 0.0
    """the market's total deposits (coin) that the scaling reads; 0 = no scaling"""

    @model_validator(mode="after")
    def _ordered(self) -> DriftSpotParams:
        if self.initial_asset_weight > self.maintenance_asset_weight:
            raise InputError(
                where="initial_asset_weight",
                expected=f"<= maintenance_asset_weight ({self.maintenance_asset_weight})",
                found=self.initial_asset_weight,
            )
        if self.initial_liability_weight < self.maintenance_liability_weight:
            raise InputError(
                where="initial_liability_weight",
                expected=f">= maintenance_liability_weight ({self.maintenance_liability_weight})",
                found=self.initial_liability_weight,
            )
        return self


class DriftPerpParams(_Strict):
    """One Drift perp market (fields as Drift's ``PerpMarket``)."""

    margin_ratio_initial: Weight
    margin_ratio_maintenance: Weight
    imf_factor: ImfFactor = 0
    unrealized_pnl_initial_asset_weight: Weight = 0
    unrealized_pnl_maintenance_asset_weight: Weight = 10000
    unrealized_pnl_imf_factor: ImfFactor = 0

    @model_validator(mode="after")
    def _ordered(self) -> DriftPerpParams:
        if self.margin_ratio_maintenance > self.margin_ratio_initial:
            raise InputError(
                where="margin_ratio_maintenance",
                expected=f"<= margin_ratio_initial ({self.margin_ratio_initial})",
                found=self.margin_ratio_maintenance,
            )
        return self


class DriftPreset(_Strict):
    """The ``drift`` model's preset (``presets/drift-v2.yaml``): spot markets by coin (the quote market is
    ``quote``, Drift's market 0), perp markets by underlying (``default`` for the others, optional)."""

    kind: Literal["drift"] = "drift"
    name: str
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    quote: str = "USDC"
    spot: dict[str, DriftSpotParams]
    perp: dict[str, DriftPerpParams]
    max_margin_ratio: Weight = 0
    """the user's custom margin ratio (1e4; 0 = none), initial margin only"""

    @model_validator(mode="after")
    def _has_quote(self) -> DriftPreset:
        if self.quote not in self.spot:
            raise InputError(where="spot", expected=f"the quote market {self.quote}", found="none")
        return self


Fraction = Annotated[float, Unwrapped, Field(strict=False, ge=0.0, le=1.0, allow_inf_nan=False)]
LiabWeight = Annotated[float, Unwrapped, Field(strict=False, ge=1.0, le=100.0, allow_inf_nan=False)]
LotSize = Annotated[float, Unwrapped, Field(strict=False, gt=0.0, allow_inf_nan=False)]
ScaleStart = Annotated[float, Unwrapped, Field(strict=False, gt=0.0)] | None


class MangoTokenParams(_Strict):
    """One Mango v4 bank (fields as Mango's ``Bank``; weights as fractions)."""

    init_asset_weight: Fraction
    maint_asset_weight: Fraction
    init_liab_weight: LiabWeight
    maint_liab_weight: LiabWeight
    deposit_weight_scale_start_quote: ScaleStart = None
    """USD; None: no scaling of the init asset weight by total deposits"""
    borrow_weight_scale_start_quote: ScaleStart = None
    total_deposits: Annotated[float, Unwrapped, Field(ge=0.0)] = 0.0
    """the bank's total deposits (coin) the scaling reads"""
    total_borrows: Annotated[float, Unwrapped, Field(ge=0.0)] = 0.0

    @model_validator(mode="after")
    def _ordered(self) -> MangoTokenParams:
        if self.init_asset_weight > self.maint_asset_weight:
            raise InputError(
                where="init_asset_weight",
                expected=f"<= maint_asset_weight ({self.maint_asset_weight:g})",
                found=self.init_asset_weight,
            )
        if self.init_liab_weight < self.maint_liab_weight:
            raise InputError(
                where="init_liab_weight",
                expected=f">= maint_liab_weight ({self.maint_liab_weight:g})",
                found=self.init_liab_weight,
            )
        return self


class MangoPerpParams(_Strict):
    """One Mango v4 perp market (fields as Mango's ``PerpMarket``; weights as fractions, lots in coin)."""

    init_base_asset_weight: Fraction
    maint_base_asset_weight: Fraction
    init_base_liab_weight: LiabWeight
    maint_base_liab_weight: LiabWeight
    init_overall_asset_weight: Fraction
    maint_overall_asset_weight: Fraction
    base_lot_size: LotSize
    """coin per base lot"""

    @model_validator(mode="after")
    def _ordered(self) -> MangoPerpParams:
        if self.init_base_asset_weight > self.maint_base_asset_weight:
            raise InputError(
                where="init_base_asset_weight",
                expected=f"<= maint_base_asset_weight ({self.maint_base_asset_weight:g})",
                found=self.init_base_asset_weight,
            )
        if self.init_base_liab_weight < self.maint_base_liab_weight:
            raise InputError(
                where="init_base_liab_weight",
                expected=f">= maint_base_liab_weight ({self.maint_base_liab_weight:g})",
                found=self.init_base_liab_weight,
            )
        return self


class MangoPreset(_Strict):
    """The ``mango`` model's preset (``presets/mango-v4.yaml``): banks by coin (``settle`` is the perps' settle
    token), perp markets by underlying (``default`` for the others, optional)."""

    kind: Literal["mango"] = "mango"
    name: str
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    settle: str = "USDC"
    tokens: dict[str, MangoTokenParams]
    perp: dict[str, MangoPerpParams]

    @model_validator(mode="after")
    def _has_settle(self) -> MangoPreset:
        if self.settle not in self.tokens:
            raise InputError(where="tokens", expected=f"the settle token {self.settle}", found="none")
        return self


class DeriveCollateralParams(_Strict):
    """One collateral coin under ``derive`` (fields as a PMRM_2 collateral: ``IMHaircut``, ``MMHaircut``,
    ``IsRiskCancelling``); ``underlying``: the manager a risk-cancelling coin moves with (default the coin)."""

    im_haircut: Fraction
    mm_haircut: Fraction
    risk_cancelling: bool = False
    underlying: str | None = None


class DerivePreset(_Strict):
    """The ``derive`` model's preset (``presets/derive-pmrm.yaml``): PMRM_2's parameters and scenarios in
    Derive's own portfolio-case form (``parameters``: the ``Parameters`` mapping ``xmargin venue derive-pmrm``
    reads), the cash coin, collateral coins (``default`` for the others, optional) and whether a long option's
    value is paid in full at initial margin (docs/margin.md "Long options are paid in full")."""

    kind: Literal["derive"] = "derive"
    name: str
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    cash: str = "USDC"
    long_options_paid_in_full: bool = True
    parameters: dict[str, Any]
    collateral: dict[str, DeriveCollateralParams] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _parameters_read(self) -> DerivePreset:
        from xmargin.margin.venues._derive_case import read_params

        _, scenarios = read_params({"Parameters": self.parameters})
        if not scenarios:
            raise InputError(where="parameters.Scenarios", expected="at least one scenario", found="none")
        return self
