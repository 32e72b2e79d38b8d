"""Ratio margin models: ``isolated`` (collateral not shared) and ``cross`` (collateral pooled).

Both margin each instrument on its own net size (netting only within one instrument, never across
instruments), at ratios of its notional ``|N|·F`` (USD, ``F`` the mark), fixed or tiered by that notional in
the Binance style (B1). Margin is computed in the settlement currency and valued in USD as in
``_standard`` (an inverse instrument's coin amount at the coin's index).

**Tiers** (B1, B2). Tier ``n`` covers notionals from ``floor_n`` (inclusive) to ``floor_{n+1}``::

    IM = notional / max_leverage_n
    MM = notional · mmr_n − cum_n,     cum_1 = 0,  cum_n = floor_n · (mmr_n − mmr_{n−1}) + cum_{n−1}

The ``cum`` ("maintenance amount") recursion makes MM continuous in the notional; e.g. B1's
``250,000 × (1% − 0.5%) + 50 = 1,300``. A fixed-ratio preset is a single tier from 0 with ``cum = 0``.
Beyond the last floor the last tier applies (the venue would refuse the position; we do not cap).

**Short options**: Deribit's standard formula (``_standard.short_option_fractions``, S4), in both models.

**isolated**: every position is margined on its own and the account's IM and MM are the sums.

- A *long option* locks its premium in the position: IM = MM = its mark value (``N · value_usd``). The
  premium is in equity, but in isolated mode it is the position's own collateral and cannot back another
  position, so it is set aside (the account's ``available`` excludes it). xmargin's choice, documented.
- Collateral is not shared, so a profit on one position cannot cover a loss on another until it is
  realised: ``margin_balance = equity − haircuts − Σ max(unrealised P&L, 0)`` over futures and perpetuals
  bought at a known price (FORMATS.md ``avg_price``). This is a simplification of venues' per-position
  wallets (B1: in isolated mode WB is the position's own wallet balance), kept because a book holds one
  pooled balance per account; the requirement itself is per position.

**cross**: collateral is pooled; ``margin_balance = equity − haircuts``; long options need no margin
(their premium is paid and counted in equity).

**Breakdown** (``detail=True``), per account: ``instruments`` (per derivative: ``size``, ``notional_usd``
= |N|·F, ``tier`` 1-based for futures and 0 for options, ``initial_margin``, ``maintenance_margin`` and, in
isolated mode, ``locked_premium_usd``), ``underlyings`` (IM and MM summed), ``rates`` (the tier tables and
short-option coefficients used), ``haircut_usd`` and, in isolated mode, ``unrealised_profit_excluded_usd``.

Sources (URLs in the presets):
- B1: Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts",
  https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93
- B2: Binance announcement "Updates to Leverage and Margin Tiers of Binance Futures Contracts
  (2021-03-18)" (the full BTCUSDT table, research note §3.2b).
- S4: see ``_standard``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.margin._collateral import CollateralPolicy
from xmargin.margin._model import MarginResult, empty_breakdowns, register
from xmargin.margin._standard import (
    Entries,
    Interval,
    PresetSource,
    ShortOptionRates,
    breakdowns,
    check_keys,
    collateral_from,
    load_preset,
    param,
    param_value,
    per_underlying,
    section,
    short_option_usd_per_coin,
    usd_per_quote,
)
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, InstrumentTable, equity_usd, resolve

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

RATIO_KEYS = ("name", "description", "sources", "futures", "options", "collateral")
TIER_KEYS = ("floor_usd", "max_leverage", "initial", "maintenance")


@dataclass(frozen=True, slots=True, eq=False)
class TierTable:
    """Margin tiers of one underlying's futures and perpetuals, by position notional (USD).

    Arrays of length n_tiers: ``floor_usd`` (increasing, first 0), ``initial`` (IM rate = 1/max leverage),
    ``maintenance`` (MMR, non-decreasing) and ``cum_usd`` (maintenance amount, derived by B1's recursion).
    """

    floor_usd: FloatArray
    initial: FloatArray
    maintenance: FloatArray
    cum_usd: FloatArray

    constraints: ClassVar[Mapping[str, Interval]] = {
        "floor_usd": Interval(0.0, 1e15),
        "max_leverage": Interval(1.0, 1000.0),
        "initial": Interval(0.0, 1.0, lo_closed=False),
        "maintenance": Interval(0.0, 1.0, lo_closed=False),
    }

    @classmethod
    def build(
        cls,
        floor_usd: Sequence[float],
        initial: Sequence[float],
        maintenance: Sequence[float],
        *,
        where: str = "tiers",
    ) -> TierTable:
        f = np.asarray(floor_usd, dtype=np.float64)
        im = np.asarray(initial, dtype=np.float64)
        mmr = np.asarray(maintenance, dtype=np.float64)
        if f.size == 0 or f[0] != 0.0:
            raise InputError(
                where=f"{where}[0].floor_usd",
                expected="0 (the first tier starts at 0)",
                found=float(f[0]) if f.size else "no tiers",
            )
        for i in range(1, f.size):
            if f[i] <= f[i - 1]:
                raise InputError(
                    where=f"{where}[{i}].floor_usd",
                    expected=f"> {f[i - 1]:g} (increasing floors)",
                    found=float(f[i]),
                )
            if mmr[i] < mmr[i - 1]:
                raise InputError(
                    where=f"{where}[{i}].maintenance",
                    expected=f">= {mmr[i - 1]:g} (non-decreasing)",
                    found=float(mmr[i]),
                )
        for i in range(f.size):
            if im[i] < mmr[i]:
                raise InputError(
                    where=f"{where}[{i}].initial",
                    expected=f"an IM rate >= the maintenance rate {mmr[i]:g}",
                    found=float(im[i]),
                )
        # B1: cum_n = floor_n · (mmr_n − mmr_{n−1}) + cum_{n−1}, cum_1 = 0
        cum = np.concatenate([[0.0], np.cumsum(f[1:] * np.diff(mmr))])
        return cls(f, im, mmr, cum)

    @classmethod
    def fixed(cls, initial: float, maintenance: float) -> TierTable:
        return cls.build([0.0], [initial], [maintenance])

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any], *, where: str) -> TierTable:
        """An underlying's entry: ``{initial, maintenance}`` (fixed) or ``{tiers: [...]}`` (each parameter
        a value or ``{value, source}``; ``tiers`` carries one source for the table)."""
        if "tiers" not in doc:
            check_keys(doc, ("initial", "maintenance"), where=where)
            im = param(doc, "initial", cls.constraints["initial"], where=where)
            mmr = param(doc, "maintenance", cls.constraints["maintenance"], where=where)
            if mmr > im:
                raise InputError(where=f"{where}.maintenance", expected=f"<= initial ({im:g})", found=mmr)
            return cls.fixed(im, mmr)
        check_keys(doc, ("tiers",), where=where)
        rows = param_value(doc, "tiers", where=where)
        where = f"{where}.tiers"
        if not isinstance(rows, list) or not rows:
            raise InputError(
                where=where, expected="a list of tiers {floor_usd, max_leverage, maintenance}", found=rows
            )
        floors: list[float] = []
        ims: list[float] = []
        mmrs: list[float] = []
        for i, row in enumerate(rows):
            wi = f"{where}[{i}]"
            if not isinstance(row, Mapping):
                raise InputError(
                    where=wi, expected="a mapping {floor_usd, max_leverage, maintenance}", found=row
                )
            check_keys(row, TIER_KEYS, where=wi)
            if ("max_leverage" in row) == ("initial" in row):
                raise InputError(
                    where=wi, expected="exactly one of max_leverage or initial", found=sorted(row)
                )
            floors.append(param(row, "floor_usd", cls.constraints["floor_usd"], where=wi))
            if "max_leverage" in row:
                ims.append(1.0 / param(row, "max_leverage", cls.constraints["max_leverage"], where=wi))
            else:
                ims.append(param(row, "initial", cls.constraints["initial"], where=wi))
            mmrs.append(param(row, "maintenance", cls.constraints["maintenance"], where=wi))
        return cls.build(floors, ims, mmrs, where=where)

    @property
    def n_tiers(self) -> int:
        return int(self.floor_usd.size)

    def tier(self, notional_usd: FloatArray) -> IntArray:
        """0-based tier of each notional (a floor belongs to the tier it starts)."""
        return np.asarray(np.searchsorted(self.floor_usd, notional_usd, side="right") - 1, dtype=np.intp)

    def margin(self, notional_usd: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
        """``(IM, MM, tier)`` in the notional's currency, for notionals ≥ 0."""
        t = self.tier(notional_usd)
        im = notional_usd * self.initial[t]
        mm = np.maximum(notional_usd * self.maintenance[t] - self.cum_usd[t], 0.0)
        return im, mm, t

    def as_dict(self) -> dict[str, Any]:
        return {
            "floor_usd": self.floor_usd.tolist(),
            "initial": self.initial.tolist(),
            "maintenance": self.maintenance.tolist(),
            "maintenance_amount_usd": self.cum_usd.tolist(),
        }


class _RatioMargin:
    """Shared computation of ``isolated`` and ``cross``; ``isolated`` sets ``_isolated``."""

    name: str
    _isolated: ClassVar[bool]
    default_preset: ClassVar[str] = "cross-fixed"

    def __init__(self, preset: PresetSource = None, collateral: CollateralPolicy | None = None) -> None:
        doc, label = load_preset(preset, default=self.default_preset)
        check_keys(doc, RATIO_KEYS, where=label)
        futures = section(doc, "futures", where=label)
        self.preset_name = label
        self.tiers: dict[str, TierTable] = {
            str(u): TierTable.from_mapping(
                section(futures, u, where=f"{label}.futures"), where=f"{label}.futures.{u}"
            )
            for u in futures
        }
        self.options = ShortOptionRates.from_mapping(
            section(doc, "options", where=label), where=f"{label}.options"
        )
        self.collateral = collateral_from(doc, collateral, where=label)
        tiered = [u for u, t in self.tiers.items() if t.n_tiers > 1]
        self.scales_linearly = not tiered
        self.subadditive = not tiered
        self.scales_linearly_reason = (
            "" if not tiered else f"tiered rates ({', '.join(tiered)}): the rate rises with position notional"
        )
        self.subadditive_reason = self.scales_linearly_reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(preset={self.preset_name!r})"

    def requirement(self, book: Book, market: MarketSnapshot, *, detail: bool = True) -> MarginResult:
        """IM, MM, equity and margin balance (USD) of every account of ``book``."""
        table = resolve(book, market)
        tables = per_underlying(table, self.tiers, where=f"{self.preset_name}.futures")
        e = Entries.of(book.q)
        c = e.cols
        size = np.abs(e.size)
        f = np.where(table.forward > 0, table.forward, 1.0)
        conv = usd_per_quote(table)
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
        # options: the standard short-option formula; a long option locks its premium only in isolated mode
        opt_im, opt_mm = short_option_usd_per_coin(table, self.options)
        short = np.maximum(-e.size, 0.0)
        long_value = np.maximum(e.size, 0.0) * np.where(table.is_option, table.value_usd, 0.0)[c]
        locked_premium = long_value if self._isolated else np.zeros(c.size)
        im = fut_im * conv[c] + short * opt_im[c] + locked_premium
        mm = fut_mm * conv[c] + short * opt_mm[c] + locked_premium

        equity = equity_usd(book, table)
        haircut = self.collateral.haircut_usd(book, table, market)
        profit = positive_upnl_usd(book, table) if self._isolated else np.zeros(book.n_accounts)
        result_bd = empty_breakdowns(book.n_accounts)
        if detail:
            per_entry = {
                "size": e.size,
                "notional_usd": notional,
                "tier": tier + 1,
                "initial_margin": im,
                "maintenance_margin": mm,
            }
            if self._isolated:
                per_entry["locked_premium_usd"] = locked_premium
            rates = {
                u: {"futures": tt.as_dict(), "short_options": self.options.as_dict()}
                for u, tt in tables.items()
            }
            fields = {"haircut_usd": haircut}
            if self._isolated:
                fields["unrealised_profit_excluded_usd"] = profit
            result_bd = breakdowns(
                e,
                table,
                per_entry,
                rates=rates,
                account_fields=fields,
                header={"model": self.name, "preset": self.preset_name},
            )
        return MarginResult(
            model=self.name,
            accounts=book.accounts,
            initial_margin=e.row_sums(im),
            maintenance_margin=e.row_sums(mm),
            equity=equity,
            margin_balance=equity - haircut - profit,
            breakdown=result_bd,
        )


def positive_upnl_usd(book: Book, table: InstrumentTable) -> FloatArray:
    """Per account: Σ over futures/perpetuals of max(unrealised P&L, 0), USD (the terms of ``equity_usd``)."""
    m = np.where(table.forward > 0, table.forward, 1.0)
    lin = (~table.inverse).astype(np.float64)
    inv = table.inverse.astype(np.float64)
    at_price = lin * m + inv * table.settle_usd  # per coin carrying an entry price
    per_entry = lin + inv * table.settle_usd / m  # per USD of size × entry price
    upnl = sp.csr_matrix(book.q_at_entry.multiply(at_price)) - sp.csr_matrix(book.q_entry.multiply(per_entry))
    upnl = sp.csr_matrix(upnl)
    upnl.data = np.maximum(upnl.data, 0.0)
    return np.asarray(upnl.sum(axis=1), dtype=np.float64).reshape(-1)


@register("isolated")
class IsolatedMargin(_RatioMargin):
    """Each position margined on its own; profits of one position do not back another (module docstring)."""

    name = "isolated"
    _isolated = True


@register("cross")
class CrossMargin(_RatioMargin):
    """Collateral pooled; ratios on each instrument's net notional, fixed or tiered (module docstring)."""

    name = "cross"
    _isolated = False
