"""The ``mango`` model kind (preset ``mango-v4``): Mango v4's account health on an xmargin book.

Each account is mapped to a Mango account and its health computed by ``_mango.health`` (init, maint and
liquidation-end). The mapping (every assumption is also named in ``warnings``):

- amounts are in coin and prices in USD per coin (Mango's health is linear in native amounts and its prices
  are native per native, so the units cancel); a collateral balance is a token position of the preset's bank
  of that coin (negative: a borrow); a coin without a bank is bad input;
- a perpetual or dated future settled in the preset's ``settle`` token (USDC) is a Mango perp of its
  underlying, settled in that token: its size in whole base lots (rounded to the nearest lot, named in
  ``warnings`` when that changes it), its quote minus its entry notional (``avg_price``), or minus its
  notional at the oracle when no entry price is given;
- oracle prices are the market's index prices, and the stable price is taken equal to the oracle (a snapshot
  has no stable-price history), so init health uses the oracle too; no open orders, funding settled;
- inverse contracts and options have no Mango market: bad input.

Results (USD): ``equity = margin_balance`` = the account's unweighted value ``E`` (balances and perp P&L at the
oracle); ``IM = E − init health`` and ``MM = E − maint health``, so ``available`` is Mango's init health and the
account is liquidatable exactly when its maint health is negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from xmargin.core import InputError
from xmargin.instruments import Kind
from xmargin.margin._model import FloatArray, MarginResult, check_prepared, register, sum_parts
from xmargin.margin._presets import PresetSource, load_preset
from xmargin.margin._result import MarginPair, VenueBreakdown
from xmargin.margin.venues._book import account_rows
from xmargin.margin.venues._mango import (
    Account,
    Bank,
    Health,
    HealthType,
    PerpMarket,
    PerpPosition,
    Prices,
    health,
)
from xmargin.margin.venues._params import MangoPreset
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, Columns, pin_entries

SOURCE = (
    "blockworks-foundation/mango-v4 @ 1303a4a16228eb1e8e8d4f0eef724eaf63310c86: programs/mango-v4/src/health/"
    "cache.rs, state/bank.rs (re-implemented; golden cases from health/cache.rs and health/client.rs tests); "
    "docs/venues.md"
)


@dataclass(frozen=True, slots=True, eq=False)
class MangoPrepared:
    """Each column's Mango token or perp and the banks and perp markets at today's prices."""

    market: MarketSnapshot
    columns: Columns
    role: tuple[str, ...]
    key: tuple[int, ...]
    banks: tuple[Bank, ...]
    perps: tuple[PerpMarket, ...]
    warnings: tuple[str, ...] = field(default=())


@register("mango", preset_kinds=("mango",))
class MangoMargin:
    """Mango v4 health: token weights with deposit/borrow scaling, perps with base and overall weights."""

    name = "mango"
    source = SOURCE
    decomposes_by_underlying = False
    decomposes_by_underlying_reason = "not declared: perp P&L is weighted inside its settle token's balance"
    scales_linearly = False
    scales_linearly_reason = "perp sizes are rounded to whole base lots"
    subadditive = False
    subadditive_reason = "perp sizes are rounded to whole base lots"
    conformance_skips = {"check_option_purchase_costs_premium": "Mango v4 lists no options"}  # noqa: RUF012

    def __init__(self, preset: PresetSource | MangoPreset = None) -> None:
        p = load_preset(preset, kinds=("mango",), default="mango-v4")
        assert isinstance(p, MangoPreset)
        self.preset = p
        self.preset_name = p.name

    def __repr__(self) -> str:
        return f"MangoMargin(preset={self.preset_name!r})"

    def prepare(self, columns: Columns, market: MarketSnapshot) -> MangoPrepared:
        p = self.preset
        coins = [p.settle, *sorted(c for c in p.tokens if c != p.settle)]
        token_index = {c: i for i, c in enumerate(coins)}
        perp_index: dict[str, int] = {}
        role: list[str] = []
        key: list[int] = []
        for inst in columns.instruments:
            if inst.kind is Kind.SPOT:
                if inst.base not in token_index:
                    raise InputError(
                        where=f"{inst.name} balance",
                        expected=f"a coin with a Mango bank in preset {p.name} ({', '.join(coins)})",
                        found=inst.base,
                    )
                role.append("token")
                key.append(token_index[inst.base])
                continue
            if inst.kind not in (Kind.PERPETUAL, Kind.FUTURE) or inst.settlement_asset() != p.settle:
                what = "an option" if inst.kind is Kind.OPTION else f"an inverse or non-{p.settle} contract"
                raise InputError(
                    where=inst.name,
                    expected=f"token balances or {p.settle}-settled perpetuals and futures (Mango v4's markets)",
                    found=what,
                )
            if inst.base not in p.perp and "default" not in p.perp:
                raise InputError(
                    where=inst.name,
                    expected=f"an underlying with a Mango perp market in preset {p.name} ({', '.join(sorted(p.perp))})",
                    found=inst.base,
                )
            role.append("perp")
            key.append(perp_index.setdefault(inst.base, len(perp_index)))
        banks = []
        for c in coins:
            t = p.tokens[c]
            # a coin the market has no price for is held by no column (resolution would have failed): unused
            price = market.index(c) if c in market.index_usd else 1.0
            banks.append(
                Bank(
                    Prices(price),
                    t.init_asset_weight,
                    t.init_liab_weight,
                    t.maint_asset_weight,
                    t.maint_liab_weight,
                    deposits=t.total_deposits,
                    borrows=t.total_borrows,
                    deposit_weight_scale_start_quote=t.deposit_weight_scale_start_quote or math.inf,
                    borrow_weight_scale_start_quote=t.borrow_weight_scale_start_quote or math.inf,
                )
            )
        perps = []
        for u in perp_index:
            m = p.perp.get(u) or p.perp["default"]
            perps.append(
                PerpMarket(
                    Prices(market.index(u)),
                    m.init_base_asset_weight,
                    m.init_base_liab_weight,
                    m.maint_base_asset_weight,
                    m.maint_base_liab_weight,
                    m.init_overall_asset_weight,
                    m.maint_overall_asset_weight,
                    base_lot_size=m.base_lot_size,
                    settle=0,
                )
            )
        warnings = [
            "mango: prices are the market's index prices as Mango's oracles, and stable prices are taken equal "
            "to them (no stable-price history in a snapshot); no open orders; funding taken as settled"
        ]
        defaulted = sorted(u for u in perp_index if u not in p.perp)
        if defaulted:
            warnings.append(
                f"mango: perp parameters of the preset's default market used for {', '.join(defaulted)}"
            )
        return MangoPrepared(
            market, columns, tuple(role), tuple(key), tuple(banks), tuple(perps), tuple(warnings)
        )

    def _account(
        self, prep: MangoPrepared, cols: np.ndarray, size: np.ndarray, entry: np.ndarray, at: np.ndarray
    ) -> tuple[Account, float, list[str]]:
        balances = [0.0] * len(prep.banks)
        perp_size = [0.0] * len(prep.perps)
        perp_quote = [0.0] * len(prep.perps)
        for c, q, e, a in zip(cols.tolist(), size.tolist(), entry.tolist(), at.tolist(), strict=True):
            k = prep.key[c]
            if prep.role[c] == "token":
                balances[k] += q
            else:
                perp_size[k] += q
                perp_quote[k] -= e + (q - a) * prep.perps[k].prices.oracle
        notes: list[str] = []
        perps = []
        for k, m in enumerate(prep.perps):
            lots = round(perp_size[k] / m.base_lot_size)
            if not math.isclose(lots * m.base_lot_size, perp_size[k], rel_tol=1e-9, abs_tol=1e-12):
                notes.append(
                    f"mango: perp size {perp_size[k]:g} rounded to {lots} base lots of {m.base_lot_size:g}"
                )
            if lots or perp_quote[k]:
                perps.append(PerpPosition(m, lots, perp_quote[k]))
        value = sum(b * bank.prices.oracle for b, bank in zip(balances, prep.banks, strict=True))
        value += sum(p.quote + p.base_lots * p.market.base_lot_size * p.market.prices.oracle for p in perps)
        return Account(prep.banks, balances, (), perps), value, notes

    def requirement(
        self,
        book: Book,
        market: MarketSnapshot,
        *,
        detail: bool = True,
        prepared: MangoPrepared | None = None,
    ) -> MarginResult:
        """IM, MM, equity and margin balance (USD) of every account (module docstring)."""
        if prepared is None:
            prep = self.prepare(book.columns, market)
        else:
            check_prepared(prepared.market, prepared.columns, book, market, where="mango.requirement")
            prep = prepared
        n = book.n_accounts
        im, mm, eq = np.zeros(n), np.zeros(n), np.zeros(n)
        breakdowns: list[VenueBreakdown] = []
        warnings = list(prep.warnings)
        for r, (cols, size, entry, at) in enumerate(account_rows(book)):
            account, value, notes = self._account(prep, cols, size, entry, at)
            warnings.extend(notes)
            init = health(account, HealthType.INIT)
            maint = health(account, HealthType.MAINT)
            im[r] = max(0.0, value - init.health)
            mm[r] = max(0.0, value - maint.health)
            eq[r] = value
            if detail:
                end = health(account, HealthType.LIQUIDATION_END)
                breakdowns.append(self._breakdown(init, maint, end))
        return MarginResult(
            self.name, book.accounts, im, mm, eq, eq.copy(), tuple(breakdowns), tuple(dict.fromkeys(warnings))
        )

    def _breakdown(self, init: Health, maint: Health, end: Health) -> VenueBreakdown:
        return VenueBreakdown(
            model="mango",
            preset=self.preset_name,
            source=SOURCE,
            weighted_collateral=MarginPair(init.assets, maint.assets),
            requirement=MarginPair(init.liabs, maint.liabs),
            health={"init": init.health, "maint": maint.health, "liquidation_end": end.health},
        )

    def combine(self, parts: FloatArray) -> FloatArray:
        return sum_parts(parts)

    def pin(self, book: Book, market: MarketSnapshot) -> Book:
        """Perps held without an entry price entered at today's mark (``risk.pin_entries``)."""
        return pin_entries(book, market)
