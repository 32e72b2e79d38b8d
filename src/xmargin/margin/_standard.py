"""Deribit standard margin (``standard``): per-instrument rates for futures, the short-option formula.

Sources (also in ``presets/standard-deribit.yaml``; research: ``docs/research/margin_methodology.md`` §2):

- S1: Deribit KB "11 January 2022", https://support.deribit.com/hc/en-us/articles/25944826427293-11-January-2022
- S2: Deribit KB "Linear Perpetual", https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual
- S3: Deribit KB "Standard Margin", https://support.deribit.com/hc/en-us/articles/25944811528477-Standard-Margin
- S4: TSLab's copy of Deribit's option formulas, https://doc.tslab.pro/tslab/eng/data-providers/
  connection-to-broker/deribit-cryptocurrency-exchange/deribit-margin-requirements-calculation

**Futures and perpetuals** (S1, S2), per instrument on its net size ``N`` (coin), margin in the settlement
currency::

    IM = |N| · (initial + |N| · size_increment)          coin (inverse), × F in USDC (linear)
    MM = |N| · (maintenance + |N| · size_increment)

e.g. BTC 2% / 1% + 0.005% per coin: 25 BTC → IM rate 2.125%, IM 0.53125 BTC (S2's table). The size
increment makes the requirement grow faster than the size: the model does not scale linearly.

**Options**: short options by Deribit's formula, long options paid in full (``_ratio``).

Collateral: ``margin_balance = equity − CollateralPolicy.haircut_usd`` (no haircuts by default). Spot
balances (collateral, negative when borrowed) carry no requirement in this model, only their haircut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from xmargin.margin._collateral import CollateralPolicy
from xmargin.margin._model import MarginResult, check_prepared, register, sum_parts
from xmargin.margin._presets import PresetSource, ShortOptions, StandardPreset, load_preset
from xmargin.margin._ratio import (
    Entries,
    EntryCharges,
    FloatArray,
    long_option_locked,
    per_underlying,
    ratio_breakdowns,
    short_option_usd_per_coin,
    usd_per_quote,
)
from xmargin.margin._result import RateTable, RatioBreakdown
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, Columns, InstrumentTable, equity_usd, pin_entries, resolve_instruments


class RatioModel(Protocol):
    def prepare(self, columns: Columns, market: MarketSnapshot) -> RatioPrepared: ...


@dataclass(frozen=True, slots=True, eq=False)
class RatioPrepared:
    """What a ratio model needs of (columns, market), independent of sizes."""

    market: MarketSnapshot
    columns: Columns
    table: InstrumentTable
    opt_im: FloatArray
    opt_mm: FloatArray
    conv: FloatArray


def prepare_ratio(options: ShortOptions, columns: Columns, market: MarketSnapshot) -> RatioPrepared:
    """Resolve the columns and price one coin of each short option (what a ratio model needs of a market)."""
    table = resolve_instruments(columns, market)
    opt_im, opt_mm = short_option_usd_per_coin(table, options)
    return RatioPrepared(market, columns, table, opt_im, opt_mm, usd_per_quote(table))


def prepared_for(
    model: RatioModel, book: Book, market: MarketSnapshot, prepared: RatioPrepared | None
) -> RatioPrepared:
    """``prepared`` if it was prepared for this book's columns and this market (else bad input), or a new one."""
    if prepared is None:
        return model.prepare(book.columns, market)
    check_prepared(
        prepared.market, prepared.columns, book, market, where=f"{type(model).__name__}.requirement"
    )
    return prepared


@register("standard")
class StandardMargin:
    """Deribit standard margin: each instrument on its own net size, futures at rates growing with size.

    The formulas are in the module docstring.

    ``preset``: a shipped preset name (default ``standard-deribit``), a YAML/JSON path or a mapping;
    ``collateral``: haircuts (default: the preset's ``collateral`` section, else none).
    """

    name = "standard"
    source = (
        "Deribit KB 'Standard Margin', '11 January 2022' and 'Linear Perpetual' (S1-S3); Deribit's option "
        "formulas as TSLab copies them (S4); docs/margin.md"
    )
    decomposes_by_underlying = True
    scales_linearly = False
    scales_linearly_reason = "futures rates grow with net size (Deribit's size increment, S1)"
    subadditive = False
    subadditive_reason = "two same-side positions in one instrument add their sizes into a higher rate"

    def __init__(
        self, preset: PresetSource | StandardPreset = None, collateral: CollateralPolicy | None = None
    ) -> None:
        p = load_preset(preset, kinds=("standard",), default="standard-deribit")
        assert isinstance(p, StandardPreset)
        self.preset = p
        self.preset_name = p.name
        self.collateral = collateral or p.collateral.policy()

    def __repr__(self) -> str:
        return f"StandardMargin(preset={self.preset_name!r})"

    def prepare(self, columns: Columns, market: MarketSnapshot) -> RatioPrepared:
        return prepare_ratio(self.preset.options, columns, market)

    def pin(self, book: Book, market: MarketSnapshot) -> Book:
        """Futures held without an entry price entered at today's mark (``risk.pin_entries``)."""
        return pin_entries(book, market)

    def combine(self, parts: FloatArray) -> FloatArray:
        return sum_parts(parts)

    def requirement(
        self,
        book: Book,
        market: MarketSnapshot,
        *,
        detail: bool = True,
        prepared: RatioPrepared | None = None,
    ) -> MarginResult:
        """IM, MM, equity and margin balance (USD) of every account of ``book``."""
        prep = prepared_for(self, book, market, prepared)
        table = prep.table
        n_inst = len(table.instruments)
        rates = per_underlying(table, self.preset.futures, where=f"{self.preset_name}.futures")
        initial, maint, inc = np.zeros(n_inst), np.zeros(n_inst), np.zeros(n_inst)
        delta_one = table.is_linear_delta_one
        for u, r in rates.items():
            m = delta_one & (table.underlying == u)
            initial[m], maint[m], inc[m] = r.initial, r.maintenance, r.size_increment
        # USD per coin of size, quoted at F (the mark of a future, the forward of an option's expiry)
        quote_usd = np.where(table.forward > 0, table.forward, 1.0) * prep.conv

        e = Entries.of(book.q)
        size = np.abs(e.size)
        c = e.cols
        short = e.size < 0
        locked = long_option_locked(e, table)
        # futures and perpetuals: |N|·(rate + |N|·inc) of notional (S1, S2); short options by S4
        im_rate = np.where(
            delta_one[c], initial[c] + size * inc[c], np.where(short, prep.opt_im[c] / quote_usd[c], 0.0)
        )
        mm_rate = np.where(
            delta_one[c], maint[c] + size * inc[c], np.where(short, prep.opt_mm[c] / quote_usd[c], 0.0)
        )
        im = size * im_rate * quote_usd[c] + locked
        mm = size * mm_rate * quote_usd[c] + locked

        equity = equity_usd(book, table)
        haircut = self.collateral.haircut_usd(book, table, market)
        breakdown: tuple[RatioBreakdown, ...] = ()
        if detail:
            charges = EntryCharges(
                size * quote_usd[c], np.where(delta_one[c], 1, 0), im, mm, im_rate, mm_rate, locked
            )
            tables = {
                u: RateTable(
                    {
                        "initial": (r.initial,),
                        "maintenance": (r.maintenance,),
                        "size_increment": (r.size_increment,),
                    },
                    self.preset.options.model_dump(),
                )
                for u, r in rates.items()
            }
            breakdown = ratio_breakdowns("standard", self.preset_name, e, table, charges, tables, haircut)
        return MarginResult(
            model=self.name,
            accounts=book.accounts,
            initial_margin=e.row_sums(im),
            maintenance_margin=e.row_sums(mm),
            equity=equity,
            margin_balance=equity - haircut,
            breakdown=breakdown,
            warnings=table.warnings + self.collateral.warnings(table, market),
        )
