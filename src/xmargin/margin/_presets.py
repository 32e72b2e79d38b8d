"""Model presets: YAML (or JSON) files validated at the edge by pydantic, one model per preset kind.

A preset declares its ``kind``:

- ``pm``: the scenario model's grid, shocks, add-ons and collateral (``PmPreset``; ``pm-deribit``,
  ``pm-span``, ``pm-cross-collateral``), usable by ``--model pm``;
- ``ratio``: futures rates by notional tier or fixed, short-option rates (``RatioPreset``; ``cross-fixed``,
  ``cross-binance``), usable by ``--model cross`` and ``--model isolated``;
- ``standard``: Deribit's per-instrument rates with the size increment (``StandardPreset``;
  ``standard-deribit``), usable by ``--model standard``;
- ``drift``: Drift v2's spot and perp market parameters in its fixed point (``DriftPreset``, in
  ``venues/_params.py``; ``drift-v2``), usable by ``--model drift``;
- ``mango``: Mango v4's bank and perp market weights (``MangoPreset``; ``mango-v4``), usable by ``--model mango``.

A numeric parameter is a number or ``{value, source[, note]}`` (shipped presets always give a source).
Unknown keys, out-of-range values and inconsistent tables are bad input naming the file and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from xmargin.core import InputError, input_errors, load_document
from xmargin.margin._collateral import CollateralPolicy, FhsHaircutParams, FhsHaircuts
from xmargin.margin._tiers import TierTable
from xmargin.margin.venues._params import DerivePreset, DriftPreset, MangoPreset
from xmargin.market import load_history

PRESET_DIR = "presets"
PresetSource = str | Path | Mapping[str, Any] | None
PARAM_KEYS = ("value", "source", "note")


def _unwrap(raw: Any) -> Any:
    """``{value, source[, note]}`` → value; anything else as is."""
    if isinstance(raw, Mapping):
        extra = [k for k in raw if k not in PARAM_KEYS]
        if extra:
            raise InputError(
                where=str(extra[0]),
                expected=f"one of {', '.join(PARAM_KEYS)}",
                found=f"unknown key {extra[0]}",
            )
        if "value" not in raw:
            raise InputError(where="value", expected="the parameter's value", found="nothing")
        return raw["value"]
    return raw


Sourced = BeforeValidator(_unwrap)


def _n(
    *, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None
) -> Any:
    return Field(strict=True, allow_inf_nan=False, ge=ge, gt=gt, le=le, lt=lt)


Fraction = Annotated[float, Sourced, _n(ge=0.0, le=1.0)]
Rate = Annotated[float, Sourced, _n(gt=0.0, le=1.0)]
UpTo2 = Annotated[float, Sourced, _n(ge=0.0, le=2.0)]
UpTo5 = Annotated[float, Sourced, _n(ge=0.0, le=5.0)]
UpTo10 = Annotated[float, Sourced, _n(ge=0.0, le=10.0)]
Days = Annotated[float, Sourced, _n(ge=0.0, le=365.0)]
FloorUsd = Annotated[float, Sourced, _n(ge=0.0, le=1e15)]
Usd = Annotated[float, Sourced, _n(ge=0.0)]
Leverage = Annotated[float, Sourced, _n(ge=1.0, le=1000.0)]
Increment = Annotated[float, Sourced, _n(ge=0.0, le=0.01)]
PriceRange = Annotated[float, Sourced, _n(gt=0.0, le=0.95)]
VolDown = Annotated[float, Sourced, _n(ge=0.0, lt=1.0)]
Multiple = Annotated[float, Sourced, _n(gt=0.0, le=20.0)]
PivotDays = Annotated[float, Sourced, _n(gt=0.0, le=3650.0)]
RateShift = Annotated[float, Sourced, _n(ge=0.0, le=0.2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FhsHaircutSection(_Strict):
    """Haircuts from each asset's own FHS tail (``FhsHaircuts``, ``risk/_haircut_path.py``)."""

    history: str = "crypto-daily"
    lambda_: Annotated[float, Sourced, _n(gt=0.0, lt=1.0)] = Field(0.94, alias="lambda")
    confidence: Annotated[float, Sourced, _n(ge=0.9, lt=1.0)] = 0.99
    horizon_days: Annotated[int, Sourced, Field(strict=True, ge=1, le=10)] = 2
    lookback_days: Annotated[int, Sourced, Field(strict=True, ge=250, le=36500)] = 1000
    vol_ratio_cap: Annotated[float, Sourced, _n(ge=1.0, le=100.0)] | None = 2.0
    max_daily_change: Annotated[float, Sourced, _n(gt=0.0, le=1.0)] = 0.05
    depeg: dict[str, Fraction] = Field(default_factory=dict)
    """stablecoin → the relative loss of its depeg scenario"""

    def params(self) -> FhsHaircutParams:
        return FhsHaircutParams(
            lam=self.lambda_,
            confidence=self.confidence,
            horizon_days=self.horizon_days,
            lookback_days=self.lookback_days,
            vol_ratio_cap=self.vol_ratio_cap,
            max_daily_change=self.max_daily_change,
            depeg=dict(self.depeg),
        )


class CollateralSection(_Strict):
    """Haircuts (``CollateralPolicy``): static per asset, rising with the asset's implied vol (``dynamic``),
    or from the asset's own FHS tail (``fhs``); the static haircuts are the floors of both dynamic modes."""

    haircuts: dict[str, Fraction] = Field(default_factory=dict)
    default_haircut: Fraction = 0.0
    dynamic: bool = False
    k: UpTo10 = 2.33
    horizon_days: Days = 1.0
    cap: Fraction = 0.5
    fhs: FhsHaircutSection | None = None
    source: str = ""

    @model_validator(mode="after")
    def _one_mode(self) -> CollateralSection:
        if self.dynamic and self.fhs is not None:
            raise ValueError("collateral: either dynamic (implied-vol haircuts) or fhs, not both")
        return self

    def policy(self) -> CollateralPolicy:
        fhs = None
        if self.fhs is not None:
            try:
                history = load_history(self.fhs.history)
            except InputError as exc:
                raise InputError(
                    where="collateral.fhs.history", expected=exc.expected, found=exc.found
                ) from None
            fhs = FhsHaircuts.build(
                history,
                self.fhs.params(),
                floors=self.haircuts,
                default_floor=self.default_haircut,
                cap=self.cap,
            )
        return CollateralPolicy(
            haircuts=dict(self.haircuts),
            default_haircut=self.default_haircut,
            dynamic=self.dynamic,
            k=self.k,
            horizon_days=self.horizon_days,
            cap=self.cap,
            fhs=fhs,
        )


class ShortOptions(_Strict):
    """Deribit's short-option coefficients (fractions of the underlying; S4 in ``_standard``)."""

    im_base: Fraction
    im_floor: Fraction
    mm_base: Fraction

    @model_validator(mode="after")
    def _ordered(self) -> ShortOptions:
        if self.im_floor > self.im_base:
            raise InputError(where="im_floor", expected=f"<= im_base ({self.im_base:g})", found=self.im_floor)
        if self.mm_base > self.im_floor:  # IM >= MM for a short call needs mm_base <= im_floor
            raise InputError(where="mm_base", expected=f"<= im_floor ({self.im_floor:g})", found=self.mm_base)
        return self


class TierRow(_Strict):
    floor_usd: FloorUsd
    max_leverage: Leverage | None = None
    initial: Rate | None = None
    maintenance: Rate

    @model_validator(mode="after")
    def _one_im(self) -> TierRow:
        if (self.max_leverage is None) == (self.initial is None):
            raise ValueError("exactly one of max_leverage or initial")
        return self

    @property
    def im_rate(self) -> float:
        return self.initial if self.initial is not None else 1.0 / float(self.max_leverage or 1.0)


class RatioRates(_Strict):
    """One underlying's futures rates: fixed (``initial`` and ``maintenance``) or a ``tiers`` table."""

    initial: Rate | None = None
    maintenance: Rate | None = None
    tiers: Annotated[list[TierRow], BeforeValidator(_unwrap), Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> RatioRates:
        if self.tiers is not None:
            extra = (
                "initial"
                if self.initial is not None
                else "maintenance"
                if self.maintenance is not None
                else ""
            )
            if extra:
                raise InputError(
                    where=extra, expected="either initial and maintenance, or tiers", found="both"
                )
            self.table()  # the table's own checks (increasing floors, IM >= MM)
            return self
        if self.initial is None or self.maintenance is None:
            missing = "initial" if self.initial is None else "maintenance"
            raise InputError(where=missing, expected="initial and maintenance (or tiers)", found="nothing")
        if self.maintenance > self.initial:
            raise InputError(
                where="maintenance", expected=f"<= initial ({self.initial:g})", found=self.maintenance
            )
        return self

    def table(self) -> TierTable:
        """The tier table (a fixed pair is one tier from 0)."""
        if self.tiers is None:
            assert self.initial is not None and self.maintenance is not None
            return TierTable.fixed(self.initial, self.maintenance)
        return TierTable.build(
            [t.floor_usd for t in self.tiers],
            [t.im_rate for t in self.tiers],
            [t.maintenance for t in self.tiers],
        )


class RatioPreset(_Strict):
    """Rates of ``cross`` and ``isolated`` (see ``presets/cross-binance.yaml``)."""

    kind: Literal["ratio"] = "ratio"
    name: str
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    futures: dict[str, RatioRates]
    options: ShortOptions
    collateral: CollateralSection = CollateralSection()


class FuturesRates(_Strict):
    """Deribit standard-margin rates of one underlying's futures (S1, S2 in ``_standard``)."""

    initial: Rate
    maintenance: Rate
    size_increment: Increment

    @model_validator(mode="after")
    def _ordered(self) -> FuturesRates:
        if self.maintenance > self.initial:
            raise InputError(
                where="maintenance", expected=f"<= initial ({self.initial:g})", found=self.maintenance
            )
        return self


class StandardPreset(_Strict):
    """Rates of ``standard`` (see ``presets/standard-deribit.yaml``)."""

    kind: Literal["standard"] = "standard"
    name: str
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    futures: dict[str, FuturesRates]
    options: ShortOptions
    collateral: CollateralSection = CollateralSection()


# -- pm --------------------------------------------------------------------------------------------------------
class UnderlyingParams(_Strict):
    price_range: PriceRange
    vol_up: UpTo5
    vol_down: VolDown
    annualised_move_risk: Fraction
    min_annualised_move: Fraction


class Grid(_Strict):
    buckets_per_side: int | None = Field(default=None, ge=1, le=50)
    moves: tuple[float, ...] | None = None
    """multiples of the price range (used when ``buckets_per_side`` is not given)"""
    vol_dirs: tuple[Literal[-1, 0, 1], ...] = (1, 0, -1)

    @model_validator(mode="after")
    def _one_of(self) -> Grid:
        if (self.buckets_per_side is None) == (self.moves is None):
            raise ValueError("exactly one of buckets_per_side or moves")
        return self

    def multiples(self) -> tuple[float, ...]:
        if self.moves is not None:
            return self.moves
        n = self.buckets_per_side or 1
        return tuple(k / n for k in range(-n, n + 1))


class Extended(_Strict):
    moves: tuple[float, ...] = Field(min_length=1)
    factor: UpTo10
    dampener_usd: dict[str, Usd] = Field(default_factory=dict)
    """Deribit's ``extended_dampener`` (USD) per risk group: keyed by the underlying for a coin-settled group
    (and every group of the USD view), by ``USD`` for a group settled in a stablecoin; a group without an
    entry is not dampened. An extended loss at move ``m`` is reduced by
    ``(max(|m|/range, 1) − 1) · dampener / (1 + sign(m)·range)`` and floored at zero."""


class Extreme(_Strict):
    multiple: Multiple
    cover: Fraction


class VolShockParams(_Strict):
    pivot_days: PivotDays
    short_term_power: UpTo2
    long_term_power: UpTo2


class DeltaShock(_Strict):
    threshold_usd: Usd
    max_fraction: Fraction
    slope: Fraction


class ShortOptionMinimum(_Strict):
    per_coin: Fraction
    mode: Literal["add", "max"]


class Combine(_Strict):
    correlation_offset: Fraction


class PmPreset(_Strict):
    """A portfolio-margin preset; see ``presets/pm-deribit.yaml`` for every field with its source."""

    kind: Literal["pm"] = "pm"
    name: str
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    view: Literal["settlement", "usd"]
    mm_factor: Rate
    stablecoins: tuple[str, ...] = ("USDC", "USDT")
    grid: Grid
    extended: Extended | None = None
    extreme: Extreme | None = None
    vol_shock: VolShockParams
    rate_shift: RateShift = 0.0
    delta_shock: DeltaShock
    short_option_minimum: ShortOptionMinimum
    combine: Combine
    long_options_at_premium: bool = True
    """Charge a group also as 'all but its long options, plus their value' and keep the smaller."""
    mmp_margin_rate: Fraction = 0.0
    """Initial margin reserved per coin of an MMP configuration's ``max(MQQ, quantity limit)`` (Deribit: 3%);
    0: MMP settings reserve nothing."""
    long_options_paid_in_full: bool = True
    """The initial requirement of a group is never below the value of its long options (they back no new
    risk: FORMATS.md's 'an option bought costs its premium'). False: their value backs initial margin too,
    as on Deribit's PM (maintenance is the risk charge either way)."""
    underlyings: dict[str, UnderlyingParams]
    collateral: CollateralSection = CollateralSection()

    def params(self, underlying: str) -> UnderlyingParams:
        return self.underlyings.get(underlying) or self.underlyings["default"]

    @model_validator(mode="after")
    def _default(self) -> PmPreset:
        if "default" not in self.underlyings:
            raise ValueError("underlyings needs a 'default' entry for coins without their own parameters")
        return self


Lambda = Annotated[float, Sourced, _n(gt=0.0, lt=1.0)]
Confidence = Annotated[float, Sourced, _n(ge=0.9, lt=1.0)]
HorizonDays = Annotated[int, Sourced, Field(strict=True, ge=1, le=10)]
LookbackDays = Annotated[int, Sourced, Field(strict=True, ge=250, le=36500)]
Cap = Annotated[float, Sourced, _n(ge=1.0, le=100.0)]


class Apc(_Strict):
    """Anti-procyclicality tools of EMIR RTS 153/2013 Art. 28(1), each off at 0/null."""

    buffer: Annotated[float, Sourced, _n(ge=0.0, le=1.0)] = 0.0
    """(a) a buffer of this fraction of the margin, released while margins rise (Art. 28(1)(a): ≥ 25%)"""
    reference_lag_days: Annotated[int, Sourced, Field(strict=True, ge=1, le=365)] = 30
    """the buffer is held against the margin at the volatility of this many days ago"""
    stressed_weight: Fraction = 0.0
    """(b) weight of the stressed observations (Art. 28(1)(b): ≥ 25%)"""
    floor_years: Annotated[float, Sourced, _n(gt=0.0, le=100.0)] | None = None
    """(c) the margin is never below the one computed over this many years of history (Art. 28(1)(c): 10)"""
    floor_basis: Literal["volatility", "returns"] = "returns"
    """``returns``: the ES of the windows as they happened over the floor's span (unfiltered);
    ``volatility``: the same windows rescaled to the RMS daily return over that span. Both read Art. 28(1)(c)'s
    "volatility estimated over a 10 year historical lookback period"; docs/backtest.md measures both."""


class Liquidity(_Strict):
    """Close-out cost of each underlying's net delta by the square-root law: (2/3)·Y·σ_daily·√(|Q|/V)·|Q|."""

    y: Annotated[float, Sourced, _n(ge=0.0, le=10.0)] = 0.0
    daily_volume_usd: dict[str, Annotated[float, Sourced, _n(gt=0.0)]] = Field(default_factory=dict)


class FhsPreset(_Strict):
    """The ``fhs`` model: filtered historical simulation ES with anti-procyclicality (``margin/_fhs.py``)."""

    kind: Literal["fhs"] = "fhs"
    name: str
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    history: str = "crypto-daily"
    lambda_: Lambda = Field(0.94, alias="lambda")
    confidence: Confidence = 0.99
    horizon_days: HorizonDays = 2
    lookback_days: LookbackDays = 3653
    vol_ratio_cap: Cap | None = None
    apc: Apc = Apc()
    mm_factor: Fraction = 0.8
    short_option_minimum: Annotated[float, Sourced, _n(ge=0.0, le=1.0)] = 0.0
    """per coin of net short options, × the index: a floor on the requirement"""
    long_options_paid_in_full: bool = True
    liquidity: Liquidity = Liquidity()
    stablecoins: list[str] = Field(default_factory=lambda: ["USDC", "USDT"])
    collateral: CollateralSection = CollateralSection()


Preset = PmPreset | RatioPreset | StandardPreset | FhsPreset | DriftPreset | MangoPreset | DerivePreset
PRESET_TYPES: dict[
    str,
    type[PmPreset]
    | type[RatioPreset]
    | type[StandardPreset]
    | type[FhsPreset]
    | type[DriftPreset]
    | type[MangoPreset]
    | type[DerivePreset],
] = {
    "pm": PmPreset,
    "ratio": RatioPreset,
    "standard": StandardPreset,
    "fhs": FhsPreset,
    "drift": DriftPreset,
    "mango": MangoPreset,
    "derive": DerivePreset,
}


# -- loading ------------------------------------------------------------------------------------------------
def shipped_path(name: str) -> Path | None:
    """The shipped preset file of ``name`` (case-insensitive), or None."""
    folder = Path(str(files("xmargin.margin") / PRESET_DIR))
    path = folder / f"{name.lower()}.yaml"
    return path if path.is_file() else None


def shipped_presets() -> tuple[str, ...]:
    """Names of the presets shipped in ``xmargin/margin/presets``."""
    folder = Path(str(files("xmargin.margin") / PRESET_DIR))
    return tuple(sorted(p.stem for p in folder.glob("*.yaml")))


def preset_document(ref: PresetSource, *, default: str) -> tuple[dict[str, Any], str]:
    """The preset's raw document and its label for errors (a shipped name, a file, or a mapping)."""
    if ref is None:
        ref = default
    if isinstance(ref, Mapping):
        return dict(ref), str(ref.get("name", "preset"))
    path = shipped_path(str(ref)) if isinstance(ref, str) else None
    if path is None:
        path = Path(ref)
        if not path.is_file():
            raise InputError(
                where="preset",
                expected=f"a shipped preset ({', '.join(shipped_presets())}) or a YAML/JSON file",
                found=str(ref),
            )
    label = path.stem
    doc = load_document(path)
    if not isinstance(doc, dict):
        raise InputError(where=label, expected="a mapping of preset parameters", found=type(doc).__name__)
    return doc, label


def load_preset(ref: PresetSource | Preset, *, kinds: tuple[str, ...], default: str) -> Preset:
    """A preset of one of ``kinds`` (a shipped name, a file, a mapping, or a preset value)."""
    if isinstance(
        ref, PmPreset | RatioPreset | StandardPreset | FhsPreset | DriftPreset | MangoPreset | DerivePreset
    ):
        preset: Preset = ref
    else:
        doc, label = preset_document(ref, default=default)
        kind = doc.get("kind", kinds[0])
        if kind not in PRESET_TYPES:
            raise InputError(where=f"{label}: kind", expected=f"one of {', '.join(PRESET_TYPES)}", found=kind)
        try:
            preset = PRESET_TYPES[kind].model_validate(doc)
            if label != preset.name and not isinstance(ref, Mapping):  # a user's file: named by its file
                preset = preset.model_copy(update={"name": label})
        except ValidationError as exc:
            raise input_errors(
                exc, source=label, allowed_keys=PRESET_TYPES[kind].model_fields, sep="."
            ) from None
    if preset.kind not in kinds:
        raise InputError(
            where=f"preset {preset.name}",
            expected=f"a {' or '.join(kinds)} preset for this model",
            found=f"a {preset.kind} preset",
        )
    return preset


def load_pm_preset(preset: PresetSource | PmPreset = None, default: str = "pm-deribit") -> PmPreset:
    """A ``pm`` preset by name (``pm-deribit``, ``pm-span``, ``pm-cross-collateral``), file or mapping."""
    p = load_preset(preset, kinds=("pm",), default=default)
    assert isinstance(p, PmPreset)
    return p


def load_fhs_preset(preset: PresetSource | FhsPreset = None, default: str = "fhs") -> FhsPreset:
    """An ``fhs`` preset by name (``fhs``, ``fhs-plain``...), file or mapping."""
    p = load_preset(preset, kinds=("fhs",), default=default)
    assert isinstance(p, FhsPreset)
    return p


@dataclass(frozen=True, slots=True)
class PresetInfo:
    """One shipped preset, for ``xmargin models``: its kind, the models it serves, what it is and its sources."""

    name: str
    kind: str
    models: tuple[str, ...]
    description: str
    sources: Mapping[str, str]
    parameters: Mapping[str, Any]


def preset_info(name: str, models: tuple[str, ...]) -> PresetInfo:
    doc, _ = preset_document(name, default=name)
    preset = load_preset(doc, kinds=tuple(PRESET_TYPES), default=name)
    # the file's own parameters: each with its {value, source} where the preset gives one
    params = {k: v for k, v in doc.items() if k not in ("kind", "name", "description", "sources")}
    return PresetInfo(preset.name, preset.kind, models, preset.description, dict(preset.sources), params)
