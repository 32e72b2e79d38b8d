"""``MarketSnapshot``: everything pricing needs at one valuation time, checked when it is built.

Lookups follow FORMATS.md:
- forward of an expiry: ``_forwards`` (an explicit forward, else a future's mark, else interpolated between
  the listed expiries, else ``index · exp(rate · T)``);
- the price of a perpetual: its mark, else the index;
- the vol of an option: its own mark IV (``option_iv``), else the underlying's surface, else its flat vol;
- a stablecoin without an index is taken at 1.0 USD (``defaulted_index`` names it; resolution warns).

A snapshot refuses nonsense however it is built (a file, a chain, Python): prices must be finite and within
``[MIN_PRICE_USD, MAX_PRICE_USD]``, vols finite and within ``(0, MAX_VOL]``, the rate within [−1, 1]. A
price of ``1e-300`` for BTC would otherwise let a 1 USDC account sell a thousand BTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError, InputErrors, year_fraction
from xmargin.instruments import Instrument, Kind
from xmargin.market._forwards import ForwardCurve, Source, build_curves, source_of
from xmargin.market._surface import VolSurface

FloatArray = NDArray[np.float64]
MIN_PRICE_USD = 1e-8
"""The smallest index or mark accepted (a memecoin trades near 1e-5 USD)."""
MAX_PRICE_USD = 1e12
MAX_VOL = 10.0
"""1,000% annualised: above any listed option's mark IV."""
STABLECOINS = ("USDC", "USDT", "DAI")
"""Stablecoins taken at 1.0 USD when the market gives them no index (and named in ``warnings``)."""


def _frozen(m: Mapping[str, float] | None) -> Mapping[str, float]:
    return MappingProxyType(dict(m or {}))


def _check_values(
    section: str,
    values: Mapping[str, float],
    lo: float,
    hi: float,
    *,
    open_lo: bool,
    errors: list[InputError],
) -> None:
    """Append one error per value of ``values`` that is not a finite number in [lo, hi] ((lo, hi])."""
    if not values:
        return
    try:
        arr = np.fromiter(values.values(), dtype=np.float64, count=len(values))
        ok = np.isfinite(arr) & (arr > lo if open_lo else arr >= lo) & (arr <= hi)
        if bool(ok.all()):
            return
    except (TypeError, ValueError):
        pass
    bracket = "(" if open_lo else "["
    for key, v in values.items():
        good = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        good = good and (v > lo if open_lo else v >= lo) and v <= hi
        if not good:
            errors.append(
                InputError(
                    where=f"market {section}.{key}",
                    expected=f"a finite number in {bracket}{lo:g}, {hi:g}]",
                    found=v,
                )
            )


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
    defaulted_index: frozenset[str] = field(default=frozenset(), compare=False)
    """Stablecoins the snapshot took at 1.0 USD because no index was given (set when built)."""
    curves: Mapping[str, ForwardCurve] = field(init=False, default_factory=dict, compare=False, repr=False)
    """Listed forwards per underlying (derived when built; see ``_forwards``)."""

    def __post_init__(self) -> None:
        errors: list[InputError] = []
        vt = self.valuation_time
        if not isinstance(vt, datetime) or vt.tzinfo is None or vt.utcoffset() is None:
            raise InputError(where="market valuation_time", expected="a UTC timestamp", found=str(vt))
        for name in ("index_usd", "marks_usd", "vol", "option_iv", "forwards_usd"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "surfaces", MappingProxyType(dict(self.surfaces)))
        _check_values("index", self.index_usd, MIN_PRICE_USD, MAX_PRICE_USD, open_lo=False, errors=errors)
        _check_values("marks", self.marks_usd, MIN_PRICE_USD, MAX_PRICE_USD, open_lo=False, errors=errors)
        _check_values(
            "forwards", self.forwards_usd, MIN_PRICE_USD, MAX_PRICE_USD, open_lo=False, errors=errors
        )
        _check_values("vol", self.vol, 0.0, MAX_VOL, open_lo=True, errors=errors)
        _check_values("option_iv", self.option_iv, 0.0, MAX_VOL, open_lo=True, errors=errors)
        if not (isinstance(self.rate, int | float) and math.isfinite(self.rate) and -1.0 <= self.rate <= 1.0):
            errors.append(
                InputError(where="market rate", expected="a finite number in [-1, 1]", found=self.rate)
            )
        if errors:
            raise InputErrors(errors)
        kept = frozenset(a for a in self.defaulted_index if self.index_usd.get(a) == 1.0)
        missing = frozenset(s for s in STABLECOINS if s not in self.index_usd)
        if missing:
            object.__setattr__(
                self, "index_usd", MappingProxyType({**self.index_usd, **dict.fromkeys(missing, 1.0)})
            )
        object.__setattr__(self, "defaulted_index", kept | missing)
        object.__setattr__(
            self, "curves", MappingProxyType(build_curves(vt, self.forwards_usd, self.marks_usd))
        )

    def __getstate__(self) -> dict[str, object]:
        """Plain dicts for pickling (mapping proxies are not picklable): markets travel to Dask workers."""
        return {
            f.name: (dict(v) if isinstance(v, MappingProxyType) else v)
            for f in fields(self)
            for v in (getattr(self, f.name),)
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

    def forward_source(self, inst: Instrument) -> tuple[Source, str]:
        """Where ``inst``'s forward comes from (``_forwards`` rules) and the key to read."""
        return source_of(inst, self.forwards_usd, self.marks_usd, frozenset(self.curves))

    def forwards_from(
        self, source: Source, keys: Iterable[str], bases: Iterable[str], t_years: FloatArray
    ) -> FloatArray:
        """Forwards of several instruments sharing one ``source`` (``keys``, ``bases`` and ``t_years`` each)."""
        keys, bases = list(keys), list(bases)
        t = np.asarray(t_years, dtype=np.float64)
        if source is Source.MARK:
            return np.array([self.marks_usd[k] for k in keys], dtype=np.float64)
        if source is Source.EXPLICIT:
            return np.array([self.forwards_usd[k] for k in keys], dtype=np.float64)
        index = np.array([self.index_usd[b] for b in bases], dtype=np.float64)
        if source is Source.INDEX:
            return index
        if source is Source.CARRY:
            return np.asarray(index * np.exp(self.rate * np.maximum(t, 0.0)), dtype=np.float64)
        out = np.empty(t.size)
        for b in set(bases):
            sel = np.array([x == b for x in bases])
            out[sel] = self.curves[b].at(t[sel], self.index_usd[b])
        return out

    def forward(self, inst: Instrument) -> float:
        """USD forward of the instrument's underlying at its expiry (perpetual: mark, else index)."""
        if inst.kind is not Kind.SPOT and inst.base not in self.index_usd:
            self.index(inst.base)  # the error names the missing index
        src, key = self.forward_source(inst)
        return float(self.forwards_from(src, [key], [inst.base], np.array([self.t_years(inst)]))[0])

    def forward_note(self, inst: Instrument) -> str | None:
        """A warning sentence if ``inst``'s forward is interpolated (rule 3), else None."""
        src, _ = self.forward_source(inst)
        if src is not Source.CURVE:
            return None
        how = self.curves[inst.base].describe(self.t_years(inst))
        return (
            f"{inst.name}: no future or forward is listed for its expiry; its forward "
            f"{self.forward(inst):,.2f} USD is {how}"
        )

    def mark(self, inst: Instrument) -> float:
        """Mark price in USD per coin of a future or perpetual (its forward), or a spot asset's index."""
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

    def vol_note(self, inst: Instrument) -> str | None:
        """A warning sentence if ``inst`` is an option priced off its chain (from the surface), else None."""
        if inst.kind is not Kind.OPTION or inst.name in self.option_iv or inst.base not in self.surfaces:
            return None
        return (
            f"{inst.name} is not on the loaded chain: priced at {self.implied_vol(inst):.2%} implied vol from "
            f"the chain's {inst.base} surface (interpolated in strike and time)"
        )

    def index_notes(self, assets: Iterable[str]) -> list[str]:
        """Warning sentences for the ``assets`` whose index was defaulted (stablecoins at 1.0 USD)."""
        return [
            f"{a} has no index in the market: taken at 1.0 USD (give index.{a} to model a depeg)"
            for a in sorted(set(assets) & self.defaulted_index)
        ]

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

    def replace(self, **changes: Any) -> MarketSnapshot:
        """A copy with some fields changed (the snapshot itself is immutable)."""
        kept = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "curves"}
        kept.update(changes)
        return MarketSnapshot(**kept)

    def shifted(self, underlying: str, factor: float) -> MarketSnapshot:
        """The market with ``underlying``'s index, marks and forwards multiplied by ``factor`` (vols unchanged:
        sticky moneyness on surfaces, sticky strike for per-option IVs).

        Equal, field for field and curve for curve, to the snapshot built from the changed mappings (tested),
        but only what moved is checked again and rebuilt: every other value was checked when this snapshot
        was built, and ``underlying``'s listed forwards are its marks and forwards (all keyed ``U-…`` or
        ``U_…``), so its curve is the old one × ``factor``. A replay or a liquidation-price scan builds
        thousands of these; a full build re-parses every mark's name."""
        prefix = (f"{underlying}-", f"{underlying}_")
        index = dict(self.index_usd)
        index[underlying] = index[underlying] * factor
        moved_marks = {k: v * factor for k, v in self.marks_usd.items() if k.startswith(prefix)}
        moved_fwds = {k: v * factor for k, v in self.forwards_usd.items() if k.startswith(prefix)}
        errors: list[InputError] = []
        _check_values(
            "index",
            {underlying: index[underlying]},
            MIN_PRICE_USD,
            MAX_PRICE_USD,
            open_lo=False,
            errors=errors,
        )
        _check_values("marks", moved_marks, MIN_PRICE_USD, MAX_PRICE_USD, open_lo=False, errors=errors)
        _check_values("forwards", moved_fwds, MIN_PRICE_USD, MAX_PRICE_USD, open_lo=False, errors=errors)
        if errors:
            raise InputErrors(errors)
        curves = dict(self.curves)
        old = curves.get(underlying)
        if old is not None:
            curves[underlying] = ForwardCurve(underlying, old.t_years, old.forward * factor, old.labels)
        out = object.__new__(MarketSnapshot)
        put = object.__setattr__
        for f in fields(self):
            put(out, f.name, getattr(self, f.name))
        put(out, "index_usd", MappingProxyType(index))
        put(out, "marks_usd", MappingProxyType({**self.marks_usd, **moved_marks}))
        put(out, "forwards_usd", MappingProxyType({**self.forwards_usd, **moved_fwds}))
        put(out, "curves", MappingProxyType(curves))
        if underlying in self.defaulted_index and index[underlying] != 1.0:
            put(out, "defaulted_index", self.defaulted_index - {underlying})
        return out
