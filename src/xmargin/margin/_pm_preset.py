"""Portfolio-margin presets: YAML files validated with pydantic (unknown or out-of-range keys are bad input)."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from xmargin.core import InputError, input_errors, load_document

PRESET_DIR = "presets"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnderlyingParams(_Strict):
    price_range: float = Field(gt=0, le=0.95)
    vol_up: float = Field(ge=0, le=5)
    vol_down: float = Field(ge=0, lt=1)
    annualised_move_risk: float = Field(ge=0, le=1)
    min_annualised_move: float = Field(ge=0, le=1)


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
    factor: float = Field(ge=0, le=10)


class Extreme(_Strict):
    multiple: float = Field(gt=0, le=20)
    cover: float = Field(ge=0, le=1)


class VolShockParams(_Strict):
    pivot_days: float = Field(gt=0, le=3650)
    short_term_power: float = Field(ge=0, le=2)
    long_term_power: float = Field(ge=0, le=2)


class DeltaShock(_Strict):
    threshold_usd: float = Field(ge=0)
    max_fraction: float = Field(ge=0, le=1)
    slope: float = Field(ge=0, le=1)


class ShortOptionMinimum(_Strict):
    per_coin: float = Field(ge=0, le=1)
    mode: Literal["add", "max"]


class Combine(_Strict):
    correlation_offset: float = Field(ge=0, le=1)


class PmPreset(_Strict):
    """A portfolio-margin preset; see ``presets/pm-deribit.yaml`` for every field with its source."""

    name: str
    description: str = ""
    view: Literal["settlement", "usd"]
    mm_factor: float = Field(gt=0, le=1)
    stablecoins: tuple[str, ...] = ("USDC", "USDT")
    grid: Grid
    extended: Extended | None = None
    extreme: Extreme | None = None
    vol_shock: VolShockParams
    rate_shift: float = Field(default=0.0, ge=0, le=0.2)
    delta_shock: DeltaShock
    short_option_minimum: ShortOptionMinimum
    combine: Combine
    long_options_at_premium: bool = True
    """Charge a group also as 'all but its long options, plus their value' and keep the smaller."""
    underlyings: dict[str, UnderlyingParams]
    collateral: dict[str, Any] = Field(default_factory=dict)

    def params(self, underlying: str) -> UnderlyingParams:
        return self.underlyings.get(underlying) or self.underlyings["default"]

    @model_validator(mode="after")
    def _default(self) -> PmPreset:
        if "default" not in self.underlyings:
            raise ValueError("underlyings needs a 'default' entry for coins without their own parameters")
        return self


def builtin_preset_path(name: str) -> Path:
    return Path(str(files("xmargin.margin") / PRESET_DIR / f"{name}.yaml"))


def load_pm_preset(
    preset: str | Path | Mapping[str, Any] | PmPreset | None, default: str = "pm-deribit"
) -> PmPreset:
    """A built-in preset by name (``pm-deribit``, ``pm-span``), a YAML/JSON file, or a mapping."""
    if isinstance(preset, PmPreset):
        return preset
    source = "preset"
    if preset is None or isinstance(preset, str | Path):
        ref = default if preset is None else str(preset)
        path = builtin_preset_path(ref) if builtin_preset_path(ref).exists() else Path(ref)
        if not path.exists():
            raise InputError(
                where="--preset",
                expected="a preset name (pm-deribit, pm-span, pm-cross-collateral) or a YAML file",
                found=ref,
            )
        doc: Any = load_document(path)
        source = str(path) if preset is not None else ref
    else:
        doc = dict(preset)
    if not isinstance(doc, dict):
        raise InputError(where=source, expected="a mapping of preset parameters", found=type(doc).__name__)
    try:
        return PmPreset.model_validate(doc)
    except ValidationError as exc:
        raise input_errors(exc, source=source, allowed_keys=PmPreset.model_fields) from None
