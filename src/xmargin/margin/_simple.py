"""Ratio margin models: ``cross`` (collateral pooled) and ``isolated`` (each position on its own margin).

Both margin each instrument on its own net size (netting only within one instrument, never across
instruments), at ratios of its notional ``|N|·F`` (USD, ``F`` the mark), fixed or tiered by that notional in
the Binance style (``_tiers``). Short options by Deribit's formula; long options paid in full (``_ratio``).

**cross**: ``margin_balance = equity − haircuts``; IM and MM are the sums over instruments.

**isolated** (Binance/Bybit isolated mode): every position stands on its own margin ``M``:

- ``isolated_margin`` given: that amount (USD); ``leverage`` given: the entry notional over the leverage,
  ``|N| · entry · / leverage`` (entry: the position's ``avg_price``, else the mark), as Binance opens an
  isolated position; neither: the position's initial requirement (as if opened at its maximum leverage),
  named in ``warnings``; a long option: its premium;
- the position's balance is ``B = M + its unrealised P&L``; it is liquidated when ``B < MM`` of the position,
  whatever the rest of the account holds (the account is then ``liquidatable``: ``MarginResult.position_gap``);
  its liquidation price comes from ``M`` alone. For a linear future this is B1's isolated formula
  ``LP = (WB + cum − side·|N|·EP) / (|N|·MMR − side·|N|)`` with ``WB = M``;
- the account locks ``IM = Σ max(M, the position's initial requirement) + Σ unrealised profits`` (profits of
  isolated positions back nothing else until realised, so they never raise ``available``) and
  ``MM = Σ MM``. Its margin balance is its equity less the haircuts, plus the losses of positions beyond
  their own margin (carried by the venue's liquidation, not by the rest of the account).

Sources (URLs in the presets):
- B1: Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts",
  https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93
- B2: Binance announcement "Updates to Leverage and Margin Tiers of Binance Futures Contracts
  (2021-03-18)" (the full BTCUSDT table, research note §3.2b).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from xmargin.margin._collateral import CollateralPolicy
from xmargin.margin._model import MarginResult, register, sum_parts
from xmargin.margin._presets import PresetSource, RatioPreset, load_preset
from xmargin.margin._ratio import (
    Entries,
    EntryCharges,
    FloatArray,
    IntArray,
    long_option_locked,
    per_underlying,
    ratio_breakdowns,
)
from xmargin.margin._result import ALLOCATION_NAMES, RateTable, RatioBreakdown
from xmargin.margin._standard import RatioPrepared, prepare_ratio, prepared_for
from xmargin.margin._tiers import TierTable
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, Columns, equity_usd, pin_entries, upnl_settle

DEFAULT_WARNINGS_LISTED = 5
"""Positions named one by one in the default-allocation warning; beyond that, counted."""


@dataclass(frozen=True, slots=True, eq=False)
class IsolatedEntries:
    """Per entry of a book under the isolated model: margin ``M``, balance ``B = M + uPnL``, the position's
    own IM and MM, its unrealised P&L (USD) and how ``M`` was set (an index into ``ALLOCATION_NAMES``; −1 for a coin balance)."""

    entries: Entries
    charges: EntryCharges
    margin: FloatArray
    upnl: FloatArray
    allocation: IntArray
    leverage: FloatArray

    @property
    def balance(self) -> FloatArray:
        return self.margin + self.upnl


class _RatioMargin:
    """Shared computation of ``isolated`` and ``cross``; ``isolated`` sets ``_isolated``."""

    name: str
    source = (
        "Binance FAQ 'How to Calculate Liquidation Price of USDⓈ-M Futures Contracts' (B1) and its 2021-03-18 "
        "tier table (B2); Deribit's short-option formula (S4); docs/margin.md"
    )
    _isolated: ClassVar[bool]
    default_preset: ClassVar[str] = "cross-fixed"
    decomposes_by_underlying = True

    def __init__(
        self, preset: PresetSource | RatioPreset = None, collateral: CollateralPolicy | None = None
    ) -> None:
        p = load_preset(preset, kinds=("ratio",), default=self.default_preset)
        assert isinstance(p, RatioPreset)
        self.preset = p
        self.preset_name = p.name
        self.tiers: dict[str, TierTable] = {u: rates.table() for u, rates in p.futures.items()}
        self.collateral = collateral or p.collateral.policy()
        tiered = [u for u, t in self.tiers.items() if t.n_tiers > 1]
        self.scales_linearly = not tiered
        self.subadditive = not tiered
        self.scales_linearly_reason = (
            "" if not tiered else f"tiered rates ({', '.join(tiered)}): the rate rises with position notional"
        )
        self.subadditive_reason = self.scales_linearly_reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(preset={self.preset_name!r})"

    def prepare(self, columns: Columns, market: MarketSnapshot) -> RatioPrepared:
        return prepare_ratio(self.preset.options, columns, market)

    def combine(self, parts: FloatArray) -> FloatArray:
        return sum_parts(parts)

    def pin(self, book: Book, market: MarketSnapshot) -> Book:
        """Futures held without an entry price entered at today's mark (``risk.pin_entries``)."""
        return pin_entries(book, market)

    def _charges(self, book: Book, prep: RatioPrepared) -> tuple[Entries, EntryCharges, dict[str, TierTable]]:
        table = prep.table
        tables = per_underlying(table, self.tiers, where=f"{self.preset_name}.futures")
        e = Entries.of(book.q)
        c = e.cols
        size = np.abs(e.size)
        f = np.where(table.forward > 0, table.forward, 1.0)
        delta_one = table.is_linear_delta_one
        # futures and perpetuals: tier by the position's notional |N|·F (quote currency, USD)
        notional = np.where(delta_one[c], size * f[c], 0.0)
        fut_im = np.zeros(c.size)
        fut_mm = np.zeros(c.size)
        tier = np.full(c.size, -1, dtype=np.intp)
        entry_und = table.underlying[c]
        for u, tt in tables.items():  # a handful of underlyings
            m = delta_one[c] & (entry_und == u)
            fut_im[m], fut_mm[m], tier[m] = tt.margin(notional[m])
        short = np.maximum(-e.size, 0.0)
        locked = long_option_locked(e, table)
        conv = prep.conv[c]
        im = fut_im * conv + short * prep.opt_im[c] + locked
        mm = fut_mm * conv + short * prep.opt_mm[c] + locked
        usd_notional = np.where(delta_one[c], notional * conv, size * table.index_usd[c])
        safe = np.where(usd_notional > 0, usd_notional, 1.0)
        charges = EntryCharges(
            usd_notional,
            tier + 1,
            im,
            mm,
            np.where(usd_notional > 0, im / safe, 0.0),
            np.where(usd_notional > 0, mm / safe, 0.0),
            locked,
        )
        return e, charges, tables

    def _rates(self, tables: dict[str, TierTable]) -> dict[str, RateTable]:
        return {u: RateTable(tt.as_table(), self.preset.options.model_dump()) for u, tt in tables.items()}


@register("cross", preset_kinds=("ratio",))
class CrossMargin(_RatioMargin):
    """Cross margin: collateral pooled, each instrument charged a ratio of its notional, fixed or tiered."""

    name = "cross"
    _isolated = False

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
        e, ch, tables = self._charges(book, prep)
        equity = equity_usd(book, prep.table)
        haircut = self.collateral.haircut_usd(book, prep.table, market)
        breakdown: tuple[RatioBreakdown, ...] = ()
        if detail:
            breakdown = ratio_breakdowns(
                "cross", self.preset_name, e, prep.table, ch, self._rates(tables), haircut
            )
        return MarginResult(
            self.name,
            book.accounts,
            e.row_sums(ch.im),
            e.row_sums(ch.mm),
            equity,
            equity - haircut,
            breakdown,
            prep.table.warnings + self.collateral.warnings(prep.table, market),
        )


@register("isolated", preset_kinds=("ratio",))
class IsolatedMargin(_RatioMargin):
    """Isolated margin: each position on its own margin, liquidated on that margin alone."""

    name = "isolated"
    _isolated = True

    def pin(self, book: Book, market: MarketSnapshot) -> Book:
        """Futures entered at today's mark, and every position without an allocation given its default
        margin as of today (its initial requirement now): an isolated wallet does not follow the price."""
        pinned = pin_entries(book, market)
        prep = self.prepare(pinned.columns, market)
        x = self._entries(pinned, prep)[0]
        e, table = x.entries, prep.table
        # options held without an entry premium: entered at today's mark premium (settlement asset)
        no_entry = table.is_option[e.cols] & (e.aligned(pinned.q_at_entry) == 0)
        rows, cols, size = e.rows[no_entry], e.cols[no_entry], e.size[no_entry]
        shape = pinned.q.shape
        q_entry = pinned.q_entry + sp.csr_matrix((size * table.value_settle[cols], (rows, cols)), shape=shape)
        q_at_entry = pinned.q_at_entry + sp.csr_matrix((size, (rows, cols)), shape=shape)
        default = np.flatnonzero(x.allocation == ALLOCATION_NAMES.index("default"))
        fixed = sp.csr_matrix((x.margin[default], (e.rows[default], e.cols[default])), shape=shape)
        return replace(
            pinned,
            q_entry=q_entry.tocsr(),
            q_at_entry=q_at_entry.tocsr(),
            q_isolated=(pinned.q_isolated + fixed).tocsr(),
        )

    def entries(
        self, book: Book, market: MarketSnapshot, prepared: RatioPrepared | None = None
    ) -> IsolatedEntries:
        """Every position's margin, balance and requirement (the per-position side of the model)."""
        prep = prepared_for(self, book, market, prepared)
        return self._entries(book, prep)[0]

    def _entries(self, book: Book, prep: RatioPrepared) -> tuple[IsolatedEntries, dict[str, TierTable]]:
        table = prep.table
        e, ch, tables = self._charges(book, prep)
        c = e.cols
        size = np.abs(e.size)
        iso = e.aligned(book.q_isolated)
        lev = e.aligned(book.q_leverage)
        at = e.aligned(book.q_at_entry)
        entry = e.aligned(book.q_entry)
        opt = table.is_option[c]
        has_entry = at != 0
        avg = np.where(has_entry, entry / np.where(has_entry, at, 1.0), 0.0)
        fwd = table.forward[c]
        fut_avg = np.where(has_entry & ~opt, avg, fwd)
        conv = prep.conv[c]
        settle = table.settle_usd[c]
        # futures: P&L since entry (the equity's); options: the premium's change since entry (settlement asset)
        upnl = np.where(
            has_entry & ~opt,
            upnl_settle(e.size, fut_avg, fwd, table.inverse[c]) * np.where(table.inverse[c], settle, 1.0),
            np.where(has_entry & opt, e.size * (table.value_settle[c] - avg) * settle, 0.0),
        )
        long_opt = opt & (e.size > 0)
        margin = np.where(
            iso > 0,
            iso,
            np.where(
                lev > 0,
                size * fut_avg * conv / np.where(lev > 0, lev, 1.0),
                np.where(long_opt, ch.locked, ch.im),
            ),
        )
        allocation = np.where(iso > 0, 2, np.where(lev > 0, 1, np.where(long_opt, 3, 0))).astype(np.intp)
        spot = table.is_spot[c]
        margin = np.where(spot, 0.0, margin)
        allocation = np.where(spot, -1, allocation)
        return IsolatedEntries(e, ch, margin, upnl, allocation, lev), tables

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
        x, tables = self._entries(book, prep)
        e, ch = x.entries, x.charges
        equity = equity_usd(book, prep.table)
        haircut = self.collateral.haircut_usd(book, prep.table, market)
        profit = e.row_sums(np.maximum(x.upnl, 0.0))
        beyond = e.row_sums(np.maximum(-x.upnl - x.margin, 0.0))
        # unrealised profits of isolated positions back nothing else until realised: they are locked with
        # the positions' margins (so they never raise ``available``), while the margin balance counts them
        im = e.row_sums(np.maximum(x.margin, ch.im)) + profit
        pgap = np.full(book.n_accounts, np.inf)
        # a long option is paid in full (its margin is its premium): it cannot be liquidated
        liable = (x.allocation >= 0) & (x.allocation != ALLOCATION_NAMES.index("premium"))
        np.minimum.at(pgap, e.rows, np.where(liable, x.balance - ch.mm, np.inf))
        warnings = [*prep.table.warnings, *self.collateral.warnings(prep.table, market)]
        default = np.flatnonzero(x.allocation == 0)
        if default.size:
            warnings.append(self._default_warning(book, x, default))
        breakdown: tuple[RatioBreakdown, ...] = ()
        if detail:
            breakdown = ratio_breakdowns(
                "isolated",
                self.preset_name,
                e,
                prep.table,
                ch,
                self._rates(tables),
                haircut,
                profit_excluded=profit,
                beyond_margin=beyond,
            )
        return MarginResult(
            self.name,
            book.accounts,
            im,
            e.row_sums(ch.mm),
            equity,
            equity - haircut + beyond,
            breakdown,
            tuple(warnings),
            position_gap=pgap,
        )

    def _default_warning(self, book: Book, x: IsolatedEntries, default: IntArray) -> str:
        names = [book.instruments[int(c)].name for c in x.entries.cols[default]]
        if len(names) <= DEFAULT_WARNINGS_LISTED:
            what = ", ".join(
                f"{n} ({m:,.2f} USD)" for n, m in zip(names, x.margin[default].tolist(), strict=True)
            )
        else:
            what = f"{len(names)} positions"
        return (
            f"no leverage or isolated_margin given for {what}: each is isolated with its own initial margin "
            f"requirement as its margin"
        )


Model = Literal["isolated", "cross"]
