"""Where an expiry's forward comes from: one rule for the scalar lookups and the vectorised resolution.

FORMATS.md, in order, for a dated instrument on underlying ``B`` expiring at ``E``:

1. ``EXPLICIT``: an explicit forward for ``B-E`` (a chain's ``underlying_price_usd``);
2. ``MARK``: the mark of the future ``B-E`` (a future's own mark first), else ``B_USDC-E``, else ``B_USDT-E``;
3. ``CURVE``: otherwise, when ``B`` has listed expiries (explicit forwards or dated futures marks), the
   forward interpolated linearly in log-forward over time between the listed expiries around ``E``, with
   the index as the forward at T = 0; beyond the last listed expiry, extrapolated at that expiry's carry
   ``ln(F_N / S) / T_N``. Never spot alone: spot is 3-4% below a ten-month forward on the shipped chains.
   This is an assumption, so every instrument priced on it is named in ``warnings``;
4. ``CARRY``: with no listed expiry at all (a plain market file), ``index × exp(rate × T)``.

Perpetuals take their mark, else the index (``INDEX``); spot assets their index.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from xmargin.core import year_fraction
from xmargin.instruments import Instrument, Kind, format_expiry, parse_name

FloatArray = NDArray[np.float64]
SETTLEMENT_VARIANTS = ("", "_USDC", "_USDT")
"""The futures whose mark gives an expiry's forward, in order: inverse, then linear in USDC, then USDT."""


class Source(enum.IntEnum):
    INDEX = 0
    MARK = 1
    EXPLICIT = 2
    CURVE = 3
    CARRY = 4


def expiry_key(inst: Instrument) -> str:
    """``BTC-27DEC26``: the key of an instrument's expiry in ``forwards_usd``."""
    assert inst.expiry is not None
    return f"{inst.base}-{format_expiry(inst.expiry)}"


def mark_keys(inst: Instrument) -> tuple[str, ...]:
    """The futures marks that give a dated instrument's forward, in the order of rule 2."""
    assert inst.expiry is not None
    e = format_expiry(inst.expiry)
    own = (inst.name,) if inst.kind is Kind.FUTURE else ()
    return (*own, *(f"{inst.base}{v}-{e}" for v in SETTLEMENT_VARIANTS if f"{inst.base}{v}-{e}" not in own))


def source_of(
    inst: Instrument, forwards: Mapping[str, float], marks: Mapping[str, float], listed: frozenset[str]
) -> tuple[Source, str]:
    """Where ``inst``'s forward (or a future's or perpetual's mark) comes from, and the key to read.

    ``listed``: the underlyings with at least one listed expiry (rule 3 applies to them)."""
    if inst.kind is Kind.SPOT:
        return Source.INDEX, ""
    if inst.kind is Kind.PERPETUAL:
        return (Source.MARK, inst.name) if inst.name in marks else (Source.INDEX, "")
    if inst.kind is Kind.FUTURE and inst.name in marks:
        return Source.MARK, inst.name
    key = expiry_key(inst)
    if key in forwards:
        return Source.EXPLICIT, key
    for m in mark_keys(inst):
        if m in marks:
            return Source.MARK, m
    return (Source.CURVE, inst.base) if inst.base in listed else (Source.CARRY, "")


@dataclass(frozen=True, slots=True)
class ForwardCurve:
    """The listed forwards of one underlying: ``t_years`` increasing (> 0), ``forward`` (USD), and the names
    of the expiries they come from (for warnings)."""

    underlying: str
    t_years: FloatArray
    forward: FloatArray
    labels: tuple[str, ...]

    def at(self, t_years: FloatArray | float, index_usd: float) -> FloatArray:
        """Forwards at ``t_years`` (rule 3): log-linear in T from (0, index) through the listed expiries."""
        t = np.maximum(np.asarray(t_years, dtype=np.float64), 0.0)
        ts = np.concatenate([[0.0], self.t_years])
        lf = np.log(np.concatenate([[index_usd], self.forward]))
        inside = np.interp(t, ts, lf)
        carry = (lf[-1] - lf[0]) / ts[-1]
        beyond = lf[0] + carry * t
        return np.asarray(np.exp(np.where(t > ts[-1], beyond, inside)), dtype=np.float64)

    def describe(self, t_years: float) -> str:
        """Which listed expiries a forward at ``t_years`` comes from (for a warning)."""
        j = int(np.searchsorted(self.t_years, t_years))
        if j >= self.t_years.size:
            return f"extrapolated beyond {self.labels[-1]} at its carry"
        if j == 0:
            return f"interpolated between the index and {self.labels[0]}"
        return f"interpolated between {self.labels[j - 1]} and {self.labels[j]}"


def build_curves(
    valuation_time: datetime, forwards: Mapping[str, float], marks: Mapping[str, float]
) -> dict[str, ForwardCurve]:
    """Every underlying's listed forwards: explicit forwards first, then dated futures marks (rule 2's order)."""
    nodes: dict[str, dict[float, tuple[float, str, int]]] = {}

    def add(name: str, price: float, rank: int) -> None:
        try:
            inst = parse_name(name)
        except ValueError:
            return
        if inst.expiry is None or inst.kind is Kind.OPTION:
            return
        t = year_fraction(valuation_time, inst.expiry)
        if t <= 0 or not math.isfinite(price) or price <= 0:
            return
        if rank > 0:  # a future's mark: inverse first, then USDC, then USDT (rule 2)
            variant = "" if inst.quote is None else f"_{inst.quote}"
            rank += (
                SETTLEMENT_VARIANTS.index(variant)
                if variant in SETTLEMENT_VARIANTS
                else len(SETTLEMENT_VARIANTS)
            )
        per = nodes.setdefault(inst.base, {})
        if t not in per or per[t][2] > rank:
            per[t] = (price, f"{inst.base}-{format_expiry(inst.expiry)}", rank)

    for key, price in forwards.items():
        add(key, price, 0)
    for key, price in marks.items():
        add(key, price, 1)
    out: dict[str, ForwardCurve] = {}
    for base, per in nodes.items():
        ts = sorted(per)
        out[base] = ForwardCurve(
            base,
            np.array(ts, dtype=np.float64),
            np.array([per[t][0] for t in ts], dtype=np.float64),
            tuple(per[t][1] for t in ts),
        )
    return out
