"""What the ratio models (``isolated``, ``cross``, ``standard``) share: the book's non-zero entries, the
short-option formula, the long-option rule, and the typed breakdown they all report.

**Short options** (Deribit's formula, S4 in ``_standard``), as fractions of the underlying ``U`` (the
forward of the option's expiry) per coin of size; coin per coin for an inverse option, × U USD for a linear
one::

    short call:  IM = max(im_base − OTM/U, im_floor) + mark          MM = mm_base + mark
    short put:   IM = max(max(im_base − OTM/U, im_floor) + mark, MM)  MM = max(mm_base, mm_base · mark) + mark

**Long options** are paid in full and back nothing else: their mark value is charged as IM and MM
(``locked_premium_usd``), so buying one at mark lowers ``available`` by its premium. This is Deribit's
standard margin: "margin sharing does not apply to long option positions unless portfolio margin is
enabled" (Deribit KB "Isolated margin availability",
https://support.deribit.com/hc/en-us/articles/25944777072669-Isolated-margin-availability).

**USD.** Settlement-currency amounts are valued in USD through the settlement asset's index: an inverse
instrument's coin amount × the coin's index, a linear one's USD-quoted amount as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.margin._presets import ShortOptions
from xmargin.margin._result import InstrumentCharge, MarginPair, RateTable, RatioBreakdown
from xmargin.risk import InstrumentTable

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]
DEFAULT_KEY = "default"
"""The per-underlying entry used for every coin not listed by name."""


def short_option_fractions(
    *, otm_fraction: FloatArray, mark_fraction: FloatArray, is_call: BoolArray, rates: ShortOptions
) -> tuple[FloatArray, FloatArray]:
    """IM and MM of one coin of a short option, as fractions of the underlying (module docstring).

    ``otm_fraction`` = OTM/U (≥ 0), ``mark_fraction`` = mark/U (coin per coin for an inverse option)."""
    im_raw = np.maximum(rates.im_base - otm_fraction, rates.im_floor) + mark_fraction
    mm_call = rates.mm_base + mark_fraction
    mm_put = np.maximum(rates.mm_base, rates.mm_base * mark_fraction) + mark_fraction
    mm = np.where(is_call, mm_call, mm_put)
    im = np.where(is_call, im_raw, np.maximum(im_raw, mm_put))
    return np.asarray(im, dtype=np.float64), np.asarray(mm, dtype=np.float64)


def usd_per_quote(table: InstrumentTable) -> FloatArray:
    """Per instrument: USD per unit of an amount quoted in USD at the instrument's own price ``F`` (linear 1;
    inverse: converted to coin at ``F`` and valued at the coin's index, ``settle_usd / F``)."""
    f = np.where(table.forward > 0, table.forward, 1.0)
    return np.where(table.inverse, table.settle_usd / f, 1.0)


def short_option_usd_per_coin(table: InstrumentTable, rates: ShortOptions) -> tuple[FloatArray, FloatArray]:
    """Per instrument: IM and MM (USD) of one coin of a short position; 0 for non-options."""
    opt = table.is_option
    u = np.where(table.forward > 0, table.forward, 1.0)
    conv = usd_per_quote(table)
    otm = np.where(table.is_call, np.maximum(table.strike - u, 0.0), np.maximum(u - table.strike, 0.0)) / u
    mark = table.value_usd / (u * conv)
    im, mm = short_option_fractions(otm_fraction=otm, mark_fraction=mark, is_call=table.is_call, rates=rates)
    scale = u * conv
    return np.where(opt, im * scale, 0.0), np.where(opt, mm * scale, 0.0)


@dataclass(frozen=True, slots=True, eq=False)
class Entries:
    """The non-zero entries of ``q[account, instrument]``: arrays of length nnz, in row order."""

    n_accounts: int
    rows: IntArray
    cols: IntArray
    size: FloatArray
    nz: IntArray
    """Positions of these entries among the CSR's stored entries (to read other matrices aligned)."""

    @classmethod
    def of(cls, q: sp.csr_matrix) -> Entries:
        q = sp.csr_matrix(q)
        if not q.has_canonical_format:
            q = q.copy()  # never touch the caller's matrix
            q.sum_duplicates()
        rows = np.repeat(np.arange(q.shape[0], dtype=np.intp), np.diff(q.indptr))
        data = np.asarray(q.data, dtype=np.float64)
        keep = np.flatnonzero(data != 0.0)
        return cls(int(q.shape[0]), rows[keep], np.asarray(q.indices, dtype=np.intp)[keep], data[keep], keep)

    def row_sums(self, values: FloatArray) -> FloatArray:
        """Per account: the sum of ``values`` (one per entry)."""
        return np.bincount(self.rows, weights=values, minlength=self.n_accounts).astype(np.float64)

    def aligned(self, m: sp.csr_matrix) -> FloatArray:
        """The values of ``m`` at these entries (0 where ``m`` stores none)."""
        if m.nnz == 0 or self.rows.size == 0:
            return np.zeros(self.rows.size)
        return np.asarray(m[self.rows, self.cols], dtype=np.float64).reshape(-1)


def per_underlying(table: InstrumentTable, lookup: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """The entry of ``lookup`` for each underlying of the table's derivatives (``default`` for others)."""
    out: dict[str, Any] = {}
    for u in np.unique(table.underlying[~table.is_spot]).tolist():
        if u in lookup:
            out[u] = lookup[u]
        elif DEFAULT_KEY in lookup:
            out[u] = lookup[DEFAULT_KEY]
        else:
            raise InputError(
                where=f"{where}.{u}", expected=f"rates for {u} or a '{DEFAULT_KEY}' entry", found="none"
            )
    return out


def long_option_locked(e: Entries, table: InstrumentTable) -> FloatArray:
    """Per entry: the mark value (USD) of a long option, charged as IM and MM (module docstring)."""
    return np.maximum(e.size, 0.0) * np.where(table.is_option, table.value_usd, 0.0)[e.cols]


@dataclass(frozen=True, slots=True, eq=False)
class EntryCharges:
    """Per entry of a ratio model: notional (USD), 1-based tier, IM and MM (USD), rates of the notional, and
    the long-option value locked."""

    notional: FloatArray
    tier: IntArray
    im: FloatArray
    mm: FloatArray
    im_rate: FloatArray
    mm_rate: FloatArray
    locked: FloatArray


def ratio_breakdowns(
    model: Literal["isolated", "cross", "standard"],
    preset: str,
    e: Entries,
    table: InstrumentTable,
    ch: EntryCharges,
    rates: Mapping[str, RateTable],
    haircut: FloatArray,
    *,
    profit_excluded: FloatArray | None = None,
    beyond_margin: FloatArray | None = None,
) -> tuple[RatioBreakdown, ...]:
    """One typed breakdown per account (packaging only: the numbers are computed by the model)."""
    n = e.n_accounts
    names = [inst.name for inst in table.instruments]
    und = table.underlying.tolist()
    spot = table.is_spot.tolist()
    instruments: list[dict[str, InstrumentCharge]] = [{} for _ in range(n)]
    totals: list[dict[str, list[float]]] = [{} for _ in range(n)]
    cols = (ch.notional, ch.tier, ch.im, ch.mm, ch.im_rate, ch.mm_rate, ch.locked)
    lists = [np.asarray(c).tolist() for c in (e.size, *cols)]
    for k, (r, c) in enumerate(zip(e.rows.tolist(), e.cols.tolist(), strict=True)):
        if spot[c]:
            continue
        size, notional, tier, im, mm, imr, mmr, locked = (x[k] for x in lists)
        instruments[r][names[c]] = InstrumentCharge(size, notional, int(tier), im, mm, imr, mmr, locked)
        pair = totals[r].setdefault(und[c], [0.0, 0.0])
        pair[0] += im
        pair[1] += mm
    zero = np.zeros(n)
    pe = zero if profit_excluded is None else profit_excluded
    bm = zero if beyond_margin is None else beyond_margin
    return tuple(
        RatioBreakdown(
            model=model,
            preset=preset,
            instruments=instruments[i],
            underlyings={u: MarginPair(a, b) for u, (a, b) in totals[i].items()},
            rates={u: rates[u] for u in totals[i]},
            haircut_usd=float(haircut[i]),
            unrealised_profit_excluded_usd=float(pe[i]),
            loss_beyond_isolated_margin_usd=float(bm[i]),
        )
        for i in range(n)
    )
