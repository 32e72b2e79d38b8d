"""Resolving instrument columns against a market: ``Columns`` (what a column tuple says without a market)
and ``InstrumentTable`` (arrays of forward, vol, value and Greeks per column, plus the warnings of every
assumption made on the way).

``resolve_instruments(columns, market)`` is the one path from instruments to numbers: the margin models,
``xmargin price``, liquidation and the replays all price through it. Every unpriceable column is reported
at once (a missing index, an expired instrument); an assumption (a forward interpolated between listed
expiries, an option priced from the chain's surface, a stablecoin taken at 1.0 USD) is named in
``InstrumentTable.warnings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from xmargin.core import SECONDS_PER_YEAR, InputError, InputErrors
from xmargin.instruments import Instrument, Kind
from xmargin.market import MarketSnapshot, Source
from xmargin.pricing import black76

if TYPE_CHECKING:
    from xmargin.risk._book import Book

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

KIND_CODE = {Kind.SPOT: 0, Kind.PERPETUAL: 1, Kind.FUTURE: 2, Kind.OPTION: 3}
PLANS_KEPT = 8
"""Forward plans a ``Columns`` value keeps (one per set of market keys; a replay uses one)."""

Plan = list[tuple[Source, NDArray[np.intp], list[str], list[str]]]
"""Per forward source: its columns, their market keys and their bases."""


@dataclass(frozen=True, slots=True, eq=False)
class Columns:
    """What a tuple of instrument columns says without a market, computed once (names and lookups are slow).

    ``plans`` memoises, per set of market keys, where each column's forward comes from (a column tuple is
    priced on many markets with the same keys: every tick of a replay). It belongs to this value, which the
    book that holds it carries; nothing is global.
    """

    instruments: tuple[Instrument, ...]
    names: tuple[str, ...]
    kind: NDArray[np.int8]
    underlying: NDArray[np.str_]
    settle: NDArray[np.str_]
    inverse: BoolArray
    is_call: BoolArray
    strike: FloatArray
    expiry_s: FloatArray
    """Expiry as epoch seconds (NaN: no expiry)."""
    assets: tuple[str, ...]
    """Every underlying and settlement asset, once; ``base_pos`` / ``settle_pos`` index into it."""
    base_pos: NDArray[np.intp]
    settle_pos: NDArray[np.intp]
    options: NDArray[np.intp]
    plans: dict[tuple[tuple[str, ...], tuple[str, ...]], Plan] = field(default_factory=dict, repr=False)
    quoted: list[tuple[Mapping[str, float], FloatArray]] = field(default_factory=list, repr=False)
    """The last per-option IV mapping that quoted every option column, with those vols in column order (a
    replay prices the same columns on thousands of markets that share one ``option_iv`` object)."""

    def __getstate__(self) -> list[object]:
        """Pickled (a book sent to Dask workers) without the quoted-vols memo: it holds a market's read-only
        mapping, which does not pickle and means nothing in another process."""
        return [[] if f.name == "quoted" else getattr(self, f.name) for f in fields(self)]

    def __setstate__(self, state: list[object]) -> None:
        for f, value in zip(fields(self), state, strict=True):
            object.__setattr__(self, f.name, value)

    @classmethod
    def of(cls, instruments: tuple[Instrument, ...]) -> Columns:
        insts = tuple(instruments)
        n = len(insts)
        bases = [i.base for i in insts]
        settles = [i.settlement_asset() for i in insts]
        assets = tuple(sorted(set(bases) | set(settles)))
        pos = {a: k for k, a in enumerate(assets)}
        kind = np.array([KIND_CODE[i.kind] for i in insts], dtype=np.int8)
        return cls(
            insts,
            tuple(i.name for i in insts),
            kind,
            np.array(bases, dtype=np.str_) if n else np.array([], dtype=np.str_),
            np.array(settles, dtype=np.str_) if n else np.array([], dtype=np.str_),
            np.array([i.inverse for i in insts], dtype=np.bool_),
            np.array([bool(i.is_call) for i in insts], dtype=np.bool_),
            np.array([i.strike_usd or 0.0 for i in insts], dtype=np.float64),
            np.array(
                [i.expiry.timestamp() if i.expiry is not None else np.nan for i in insts], dtype=np.float64
            ),
            assets,
            np.array([pos[a] for a in bases], dtype=np.intp),
            np.array([pos[a] for a in settles], dtype=np.intp),
            np.flatnonzero(kind == KIND_CODE[Kind.OPTION]),
        )

    def plan(self, market: MarketSnapshot) -> Plan:
        """Where each column's forward comes from in ``market`` (``market.forward_source``), by source."""
        sig = (tuple(market.forwards_usd), tuple(market.marks_usd))
        hit = self.plans.get(sig)
        if hit is not None:
            return hit
        src = [market.forward_source(i) for i in self.instruments]
        plan: Plan = []
        for code in Source:
            cols = np.array([c for c, (s, _) in enumerate(src) if s is code], dtype=np.intp)
            if cols.size:
                at = cols.tolist()
                plan.append((code, cols, [src[c][1] for c in at], [self.instruments[c].base for c in at]))
        if len(self.plans) >= PLANS_KEPT:
            self.plans.pop(next(iter(self.plans)))
        self.plans[sig] = plan
        return plan

    def quoted_vols(self, iv: Mapping[str, float]) -> FloatArray | None:
        """Every option column's own IV from ``iv`` (column order), or None when one is not quoted there
        (the caller then prices from the surface and names it). Memoised on the mapping's identity: a
        snapshot's mappings are read-only, so the same object gives the same vols."""
        if self.quoted and self.quoted[0][0] is iv:
            return self.quoted[0][1]
        got = [iv.get(self.names[j]) for j in self.options.tolist()]
        if any(v is None for v in got):
            return None
        vols = np.array(got, dtype=np.float64)
        self.quoted[:] = [(iv, vols)]
        return vols


@dataclass(frozen=True, slots=True, eq=False)
class InstrumentTable:
    """Instrument columns resolved against a market: arrays of length n_instruments.

    ``value_settle``: mark value per coin of size in the settlement asset (options: premium; futures and
    perpetuals: 0, they are marked to market; spot: 1 unit of itself). ``value_usd`` = value_settle ×
    index of the settlement asset. Greeks are of the USD value per coin (spot and futures: delta 1).
    ``warnings``: one sentence per assumption made for these columns.
    """

    instruments: tuple[Instrument, ...]
    kind: NDArray[np.int8]
    underlying: NDArray[np.str_]
    settle: NDArray[np.str_]
    inverse: BoolArray
    is_call: BoolArray
    strike: FloatArray
    t_years: FloatArray
    forward: FloatArray
    vol: FloatArray
    index_usd: FloatArray
    settle_usd: FloatArray
    value_settle: FloatArray
    value_usd: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    warnings: tuple[str, ...] = ()

    @property
    def is_option(self) -> BoolArray:
        return np.asarray(self.kind == KIND_CODE[Kind.OPTION], dtype=np.bool_)

    @property
    def is_spot(self) -> BoolArray:
        return np.asarray(self.kind == KIND_CODE[Kind.SPOT], dtype=np.bool_)

    @property
    def is_linear_delta_one(self) -> BoolArray:
        return np.asarray(
            (self.kind == KIND_CODE[Kind.FUTURE]) | (self.kind == KIND_CODE[Kind.PERPETUAL]), dtype=np.bool_
        )


def resolve(book: Book, market: MarketSnapshot) -> InstrumentTable:
    """Resolve the book's instrument columns against ``market`` (errors for every unpriceable column)."""
    return resolve_instruments(book.columns, market)


def _unpriceable(cols: Columns, market: MarketSnapshot, expired: BoolArray, missing: set[str]) -> InputErrors:
    errors: list[InputError] = []
    for c, inst in enumerate(cols.instruments):
        for asset in sorted({inst.base, inst.settlement_asset()} & missing):
            errors.append(
                InputError(
                    where=inst.name, expected=f"an index price for {asset} in the market", found="none"
                )
            )
        if expired[c]:
            errors.append(
                InputError(
                    where=inst.name,
                    expected=f"an instrument not expired at the market time {market.valuation_time:%Y-%m-%d %H:%M}Z",
                    found=f"expired {inst.expiry:%Y-%m-%d %H:%M}Z",
                )
            )
    return InputErrors(list({str(e): e for e in errors}.values()))


def values_and_greeks(
    cols: Columns, fwd: FloatArray, t: FloatArray, vol: FloatArray, index_usd: FloatArray, rate: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Each column's USD value and Greeks (value, delta, gamma, vega, theta) from its forward, time, vol and
    index: options by Black-76, spot at its index, futures and perpetuals 0 (delta 1)."""
    n = len(cols.instruments)
    opt = cols.kind == KIND_CODE[Kind.OPTION]
    value_usd = np.zeros(n)
    delta = np.where(opt, 0.0, 1.0)
    gamma = np.zeros(n)
    vega = np.zeros(n)
    theta = np.zeros(n)
    if opt.any():
        g = black76(
            forward=fwd[opt],
            strike=cols.strike[opt],
            t_years=t[opt],
            vol=vol[opt],
            is_call=cols.is_call[opt],
            rate=rate,
        )
        # an inverse option's value in USD is its coin premium P/F at the coin's index S
        conv = np.where(cols.inverse[opt], index_usd[opt] / fwd[opt], 1.0)
        value_usd[opt] = g.price * conv
        delta[opt], gamma[opt], vega[opt], theta[opt] = g.delta, g.gamma, g.vega, g.theta
    spot = cols.kind == KIND_CODE[Kind.SPOT]
    value_usd[spot] = index_usd[spot]
    return value_usd, delta, gamma, vega, theta


def resolve_instruments(
    instruments: Columns | tuple[Instrument, ...], market: MarketSnapshot
) -> InstrumentTable:
    """Resolve instrument columns against ``market`` (one ``InputError`` per unpriceable column)."""
    cols = instruments if isinstance(instruments, Columns) else Columns.of(tuple(instruments))
    insts = cols.instruments
    n = len(insts)
    t = (cols.expiry_s - market.valuation_time.timestamp()) / SECONDS_PER_YEAR
    t = np.where(np.isnan(t), 0.0, t)
    expired = ~np.isnan(cols.expiry_s) & (t <= 0)
    missing = {a for a in cols.assets if not market.has_index(a)}
    if expired.any() or missing:
        raise _unpriceable(cols, market, expired, missing)
    asset_px = np.array([market.index_usd[a] for a in cols.assets], dtype=np.float64)
    fwd = np.empty(n)
    notes: list[str] = market.index_notes(cols.assets)
    for code, where, keys, bases in cols.plan(market):
        fwd[where] = market.forwards_from(code, keys, bases, t[where])
        if code is Source.CURVE:
            notes.extend(note for c in where.tolist() if (note := market.forward_note(insts[c])) is not None)
    kind = cols.kind
    iv = market.option_iv
    vol = np.zeros(n)
    quoted = cols.quoted_vols(iv) if isinstance(iv, MappingProxyType) else None
    if quoted is not None:
        vol[cols.options] = quoted
    else:
        for j in cols.options.tolist():
            v = iv.get(cols.names[j])
            if v is None:
                v = market.implied_vol(insts[j])
                note = market.vol_note(insts[j])
                if note is not None:
                    notes.append(note)
            vol[j] = v
    index_usd = asset_px[cols.base_pos]
    settle_usd = asset_px[cols.settle_pos]
    value_usd, delta, gamma, vega, theta = values_and_greeks(cols, fwd, t, vol, index_usd, market.rate)
    value_settle = value_usd / settle_usd
    return InstrumentTable(
        insts,
        kind,
        cols.underlying,
        cols.settle,
        cols.inverse,
        cols.is_call,
        cols.strike,
        t,
        fwd,
        vol,
        index_usd,
        settle_usd,
        value_settle,
        value_usd,
        delta,
        gamma,
        vega,
        theta,
        tuple(dict.fromkeys(notes)),
    )
