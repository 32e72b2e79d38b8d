"""``MarketSnapshot``: everything pricing needs at one valuation time.

Lookups follow FORMATS.md:
- forward of an expiry: an explicit forward (a Deribit chain's ``underlying_price_usd``), else the mark of
  the future with that expiry, else ``index · exp(rate · T)``;
- the price of a perpetual: its mark, else the index;
- the vol of an option: its own mark IV (``option_iv``), else the underlying's surface, else its flat vol.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError, year_fraction
from xmargin.instruments import Instrument, Kind, format_expiry
from xmargin.market._surface import VolSurface

FloatArray = NDArray[np.float64]


def _frozen(m: Mapping[str, float] | None) -> Mapping[str, float]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Market state at ``valuation_time`` (UTC). Prices in USD per coin; vols annualised fractions."""

    valuation_time: datetime
    index_usd: Mapping[str, float]
    marks_usd: Mapping[str, float] = field(default_factory=dict)
    vol: Mapping[str, float] = field(default_factory=dict)
    option_iv: Mapping[str, float] = field(default_factory=dict)
    rate: float = 0.0
    forwards_usd: Mapping[str, float] = field(default_factory=dict)
    """Explicit forward per ``BASE-DMMMYY`` expiry key (from a chain); overrides the futures' marks."""
    surfaces: Mapping[str, VolSurface] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        if self.valuation_time.tzinfo is None:
            raise InputError(
                where="MarketSnapshot.valuation_time",
                expected="a UTC timestamp",
                found=str(self.valuation_time),
            )
        for name in ("index_usd", "marks_usd", "vol", "option_iv", "forwards_usd"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "surfaces", MappingProxyType(dict(self.surfaces)))

    def __getstate__(self) -> dict[str, object]:
        """Plain dicts for pickling (mapping proxies are not picklable): markets travel to Dask workers."""
        return {
            name: (dict(v) if isinstance(v, MappingProxyType) else v)
            for name in self.__dataclass_fields__
            for v in (getattr(self, name),)
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(
                self, name, MappingProxyType(dict(value)) if isinstance(value, dict) else value
            )

    # -- scalar lookups ------------------------------------------------------------------------------
    def index(self, asset: str) -> float:
        """USD index price of ``asset``; an asset without one is bad input."""
        try:
            return self.index_usd[asset]
        except KeyError:
            raise InputError(
                where=f"market index.{asset}", expected=f"an index price for {asset}", found="none"
            ) from None

    def has_index(self, asset: str) -> bool:
        return asset in self.index_usd

    def t_years(self, inst: Instrument) -> float:
        """Years (ACT/365) from the valuation time to the instrument's expiry; 0 for spot and perpetuals."""
        if inst.expiry is None:
            return 0.0
        return year_fraction(self.valuation_time, inst.expiry)

    def forward(self, inst: Instrument) -> float:
        """USD forward of the instrument's underlying at its expiry (perpetual: mark, else index)."""
        if inst.kind is Kind.SPOT:
            return self.index(inst.base)
        if inst.kind is Kind.PERPETUAL:
            mark = self.marks_usd.get(inst.name)
            return mark if mark is not None else self.index(inst.base)
        assert inst.expiry is not None
        key = f"{inst.base}-{format_expiry(inst.expiry)}"
        explicit = self.forwards_usd.get(key)
        if explicit is not None:
            return explicit
        for fut in (
            key,
            f"{inst.base}_USDC-{format_expiry(inst.expiry)}",
            f"{inst.base}_USDT-{format_expiry(inst.expiry)}",
        ):
            mark = self.marks_usd.get(fut)
            if mark is not None:
                return mark
        return self.index(inst.base) * math.exp(self.rate * max(self.t_years(inst), 0.0))

    def mark(self, inst: Instrument) -> float:
        """Mark price in USD per coin of a future or perpetual (its forward), or a spot asset's index."""
        if inst.kind is Kind.FUTURE and inst.name in self.marks_usd:
            return self.marks_usd[inst.name]
        return self.forward(inst)

    def implied_vol(self, inst: Instrument) -> float:
        """Mark IV of an option: its own, else its underlying's surface, else the flat vol."""
        if inst.kind is not Kind.OPTION:
            raise InputError(where=f"implied vol of {inst.name}", expected="an option", found=inst.kind.value)
        iv = self.option_iv.get(inst.name)
        if iv is not None:
            return iv
        surface = self.surfaces.get(inst.base)
        if surface is not None:
            assert inst.strike_usd is not None
            return float(
                surface.vol(
                    strike=inst.strike_usd, forward=self.forward(inst), t_years=max(self.t_years(inst), 0.0)
                )
            )
        flat = self.vol.get(inst.base)
        if flat is None:
            raise InputError(
                where=f"market vol.{inst.base}",
                expected=f"a vol for {inst.base} (or option_iv for {inst.name})",
                found="none",
            )
        return flat

    # -- vectorised lookups --------------------------------------------------------------------------
    def option_inputs(
        self, options: Iterable[Instrument]
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
        """Arrays ``(forward, strike, t_years, vol, is_call)`` for a sequence of options."""
        opts = list(options)
        f = np.array([self.forward(o) for o in opts], dtype=np.float64)
        k = np.array([o.strike_usd for o in opts], dtype=np.float64)
        t = np.array([self.t_years(o) for o in opts], dtype=np.float64)
        v = np.array([self.implied_vol(o) for o in opts], dtype=np.float64)
        c = np.array([bool(o.is_call) for o in opts], dtype=np.bool_)
        return f, k, t, v, c

    def replace(self, **changes: object) -> MarketSnapshot:
        """A copy with some fields changed (the snapshot itself is immutable)."""
        fields = {
            name: getattr(self, name)
            for name in (
                "valuation_time",
                "index_usd",
                "marks_usd",
                "vol",
                "option_iv",
                "rate",
                "forwards_usd",
                "surfaces",
                "source",
            )
        }
        fields.update(changes)
        return MarketSnapshot(**fields)  # type: ignore[arg-type,unused-ignore]

    def shifted(self, underlying: str, factor: float) -> MarketSnapshot:
        """The market with ``underlying``'s index, marks and forwards multiplied by ``factor`` (vols unchanged:
        sticky moneyness on surfaces, sticky strike for per-option IVs)."""
        prefix = (f"{underlying}-", f"{underlying}_")
        index = dict(self.index_usd)
        index[underlying] = index[underlying] * factor
        marks = {k: (v * factor if k.startswith(prefix) else v) for k, v in self.marks_usd.items()}
        fwds = {k: (v * factor if k.startswith(prefix) else v) for k, v in self.forwards_usd.items()}
        return self.replace(index_usd=index, marks_usd=marks, forwards_usd=fwds)
