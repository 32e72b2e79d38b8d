"""What the vault must hold to carry one account of a book: feeds, collaterals, markets and positions.

A :class:`VaultPlan` is plain data, computed from the engine's own resolution of the book against a market
(``CrossMargin.prepare``), so the contract and the engine see the same prices:

- one **index feed** per asset that is collateral or the settlement asset of an inverse instrument
  (``InstrumentTable.index_usd`` / ``settle_usd``);
- per future or perpetual a **mark feed** (the instrument's forward ``F``, ``InstrumentTable.forward``);
- per option a mark feed (its forward ``F``) and a **value feed** (its mark value in USD per coin,
  ``InstrumentTable.value_usd``: cross margin takes options at mark, as the engine does);
- per collateral asset its haircut under the model's collateral policy at this market
  (``CollateralPolicy.haircut``; the vault keeps it as a fixed parameter set by its risk role);
- per future its rates (fixed-ratio presets only: a tiered preset is refused with an ``InputError``);
- per position its size and entry: the book's average entry where given, the mark where not (the engine's
  ``pin_entries``: no unrealised P&L); a partly priced size enters at the size-weighted blend, which gives
  the same unrealised P&L for linear and inverse contracts.

Amounts become 18-decimal integers (:func:`to_wad`): the float's shortest decimal form (``repr``), rounded
half-even at the 18th decimal (docs/chain.md, "Fixed point").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from xmargin.core import InputError
from xmargin.instruments import Kind
from xmargin.margin import CrossMargin, PortfolioMargin
from xmargin.market import MarketSnapshot
from xmargin.risk import KIND_CODE, Book

WAD = 10**18
"""One unit in the vault's 18-decimal fixed point."""

KIND_PERPETUAL, KIND_FUTURE, KIND_OPTION = 0, 1, 2
"""Market kinds as the contract numbers them (``MarginVault.vy``)."""


def to_wad(x: float, *, where: str) -> int:
    """``x`` as an 18-decimal integer: the shortest decimal that reads back as the float (``repr``, so 0.1 is
    0.1 and not the binary 0.1000000000000000055...), rounded half-even at the 18th decimal.

    >>> to_wad(1.5, where="x"), to_wad(-0.1, where="x"), to_wad(1e-19, where="x")
    (1500000000000000000, -100000000000000000, 0)
    """
    if not np.isfinite(x):
        raise InputError(where=where, expected="a finite number", found=x)
    return int((Decimal(repr(float(x))) * WAD).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_wad(x: int) -> float:
    """An 18-decimal integer as a float (nearest)."""
    return float(Decimal(x) / WAD)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A price feed: ``name`` (``index:BTC``, ``mark:BTC-27DEC26``, ``value:BTC-27DEC26-100000-C``) and its
    price (USD per coin)."""

    name: str
    price_usd: float


@dataclass(frozen=True, slots=True)
class CollateralSpec:
    """A collateral token: its asset, index feed (position in ``VaultPlan.feeds``) and haircut (fraction)."""

    asset: str
    feed: int
    haircut: float


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A market as ``MarginVault.list_market`` takes it (feeds by position in ``VaultPlan.feeds``)."""

    name: str
    kind: int
    inverse: bool
    is_call: bool
    strike_usd: float
    mark_feed: int
    value_feed: int
    settle_feed: int
    im_rate: float
    mm_rate: float


@dataclass(frozen=True, slots=True)
class PositionSpec:
    """A position: market (position in ``VaultPlan.markets``), size (coin, signed), entry (USD per coin)."""

    market: int
    size_coin: float
    entry_usd: float


@dataclass(frozen=True, slots=True)
class PmSpec:
    """The PM mode's parameters (``MarginVault.set_pm_*``): per underlying (ids 1.. in order) its price moves
    (fractions), per market its group id and, for an option, its vol feed, years to expiry and vol shocks,
    per collateral its group id (0: a stablecoin), and the maintenance factor. ``gate``: the vault judges
    withdrawals, new risk and kicks by this PM health (``set_pm_params``' gate) rather than the cross one."""

    underlyings: tuple[str, ...]
    moves: tuple[tuple[float, ...], ...]
    market_group: tuple[int, ...]
    market_vol_feed: tuple[int, ...]
    market_t_years: tuple[float, ...]
    market_vol_up: tuple[float, ...]
    market_vol_down: tuple[float, ...]
    collateral_group: tuple[int, ...]
    mm_factor: float
    gate: bool = True


@dataclass(frozen=True, slots=True)
class VaultPlan:
    """Everything one account needs in the vault (module docstring); amounts as floats, in USD and coin."""

    account: str
    feeds: tuple[FeedSpec, ...]
    collaterals: tuple[CollateralSpec, ...]
    markets: tuple[MarketSpec, ...]
    positions: tuple[PositionSpec, ...]
    balances: tuple[float, ...]
    """Per collateral (same order as ``collaterals``): the account's balance in asset units (≥ 0)."""
    option_params: tuple[float, float, float]
    """Deribit's short-option ``im_base``, ``im_floor``, ``mm_base`` (fractions)."""
    warnings: tuple[str, ...] = ()
    pm: PmSpec | None = None


def plan_cross(model: CrossMargin, book: Book, market: MarketSnapshot, *, row: int = 0) -> VaultPlan:
    """The vault's contents for account ``row`` of ``book`` under ``model`` (a ``cross`` model with fixed
    ratios) at ``market``."""
    prep = model.prepare(book.columns, market)
    table = prep.table
    q = book.q.getrow(row).toarray().reshape(-1)
    at = book.q_at_entry.getrow(row).toarray().reshape(-1)
    q_entry = book.q_entry.getrow(row).toarray().reshape(-1)
    feeds: dict[str, int] = {}
    feed_list: list[FeedSpec] = []

    def feed(name: str, price: float) -> int:
        if name not in feeds:
            if not (np.isfinite(price) and price > 0):
                raise InputError(where=f"market: {name}", expected="a price > 0", found=price)
            feeds[name] = len(feed_list)
            feed_list.append(FeedSpec(name, float(price)))
        return feeds[name]

    collaterals: list[CollateralSpec] = []
    balances: list[float] = []
    markets: list[MarketSpec] = []
    positions: list[PositionSpec] = []
    spot, perp, fut, opt = (KIND_CODE[k] for k in (Kind.SPOT, Kind.PERPETUAL, Kind.FUTURE, Kind.OPTION))
    for j in np.flatnonzero(q != 0.0).tolist():
        inst = book.instruments[j]
        kind = int(table.kind[j])
        if kind == spot:
            asset = str(table.underlying[j])
            if q[j] < 0:
                raise InputError(
                    where=f"{book.accounts[row]}.collateral.{asset}",
                    expected="a balance >= 0 (the vault lends no collateral)",
                    found=float(q[j]),
                )
            haircut = model.collateral.haircut(asset, market)
            collaterals.append(
                CollateralSpec(asset, feed(f"index:{asset}", float(table.index_usd[j])), haircut)
            )
            balances.append(float(q[j]))
            continue
        und = str(table.underlying[j])
        inverse = bool(table.inverse[j])
        f = float(table.forward[j])
        mark = feed(f"mark:{inst.name}", f)
        settle = feed(f"index:{table.settle[j]}", float(table.settle_usd[j])) if inverse else mark
        if kind == opt:
            value_feed = feed(f"value:{inst.name}", float(table.value_usd[j]))
            markets.append(
                MarketSpec(
                    inst.name,
                    KIND_OPTION,
                    inverse,
                    bool(table.is_call[j]),
                    float(table.strike[j]),
                    mark,
                    value_feed,
                    settle,
                    0.0,
                    0.0,
                )
            )
            positions.append(PositionSpec(len(markets) - 1, float(q[j]), 0.0))
            continue
        if kind not in (perp, fut):  # pragma: no cover - the four kinds are exhaustive
            raise InputError(where=inst.name, expected="spot, perpetual, future or option", found=kind)
        tt = model.tiers.get(und, model.tiers.get("default"))
        if tt is None:
            raise InputError(
                where=f"{model.preset_name}.futures.{und}",
                expected=f"rates for {und} or 'default'",
                found="none",
            )
        if tt.n_tiers != 1 or float(tt.cum_usd[0]) != 0.0:
            raise InputError(
                where=f"{model.preset_name}.futures.{und}",
                expected="one fixed ratio (the vault does not tier rates)",
                found=f"{tt.n_tiers} tiers",
            )
        markets.append(
            MarketSpec(
                inst.name,
                KIND_PERPETUAL if kind == perp else KIND_FUTURE,
                inverse,
                False,
                0.0,
                mark,
                mark,
                settle,
                float(tt.initial[0]),
                float(tt.maintenance[0]),
            )
        )
        # entry: the book's average where given, the mark for the rest (same unrealised P&L as the engine)
        entry = (float(q_entry[j]) + (float(q[j]) - float(at[j])) * f) / float(q[j])
        positions.append(PositionSpec(len(markets) - 1, float(q[j]), entry))
    o = model.preset.options
    return VaultPlan(
        book.accounts[row],
        tuple(feed_list),
        tuple(collaterals),
        tuple(markets),
        tuple(positions),
        tuple(balances),
        (float(o.im_base), float(o.im_floor), float(o.mm_base)),
        tuple(table.warnings) + model.collateral.warnings(table, market),
    )


MAX_GROUPS = 4
"""Underlyings the vault's PM mode holds scenarios for (``MAX_UNDERLYINGS`` in MarginVault.vy)."""


def _pm_supported(model: PortfolioMargin, market: MarketSnapshot, used: list[str]) -> None:
    """Refuse (InputError naming the setting) a PM preset with a part the vault does not compute."""
    p = model.preset
    where = f"{model.preset_name}"
    checks: list[tuple[str, bool, str, object]] = [
        ("view", model.view == "usd", "usd", model.view),
        ("extended", p.extended is None, "none", "a table"),
        ("extreme", p.extreme is None, "none", "moves"),
        ("rate_shift", p.rate_shift == 0.0, "0", p.rate_shift),
        ("delta_shock.max_fraction", p.delta_shock.max_fraction == 0.0, "0", p.delta_shock.max_fraction),
        (
            "short_option_minimum.per_coin",
            p.short_option_minimum.per_coin == 0.0,
            "0",
            p.short_option_minimum.per_coin,
        ),
        (
            "combine.correlation_offset",
            p.combine.correlation_offset == 0.0,
            "0",
            p.combine.correlation_offset,
        ),
        ("long_options_at_premium", not p.long_options_at_premium, "false", True),
        ("grid.vol_dirs", sorted(p.grid.vol_dirs) == [-1, 0, 1], "[1, 0, -1]", list(p.grid.vol_dirs)),
    ]
    for u in used:
        q = p.params(u)
        checks.append(
            (
                f"underlyings.{u}",
                q.annualised_move_risk == 0.0 and q.min_annualised_move == 0.0,
                "no roll shock (annualised_move_risk and min_annualised_move 0)",
                f"{q.annualised_move_risk}, {q.min_annualised_move}",
            )
        )
    for name, ok, expected, found in checks:
        if not ok:
            raise InputError(
                where=f"{where}.{name}", expected=f"{expected} (the vault's PM mode)", found=found
            )
    if market.rate != 0.0:
        raise InputError(
            where="market.rate", expected="0 (the vault prices options undiscounted)", found=market.rate
        )
    if len(p.grid.multiples()) > 16:
        raise InputError(
            where=f"{where}.grid", expected="at most 16 price moves", found=len(p.grid.multiples())
        )


def plan_pm(model: PortfolioMargin, book: Book, market: MarketSnapshot, *, row: int = 0) -> VaultPlan:
    """The vault's contents for account ``row`` under ``model`` (a ``pm`` preset the vault computes, such as
    ``pm-chain``): the cross plan's feeds, collaterals, markets and positions, plus vol feeds and the grid."""
    base = plan_cross(CrossMargin(collateral=model.collateral), book, market, row=row)
    table = model.prepare(book.columns, market).table
    stable = set(model.preset.stablecoins)
    names = [i.name for i in book.instruments]
    q = book.q.getrow(row).toarray().reshape(-1)
    held = [str(table.underlying[j]) for j in np.flatnonzero(q != 0.0).tolist()]
    used = sorted({u for u in held if u not in stable})
    if len(used) > MAX_GROUPS:
        raise InputError(
            where=book.accounts[row], expected=f"at most {MAX_GROUPS} underlyings", found=len(used)
        )
    _pm_supported(model, market, used)
    group = {u: k + 1 for k, u in enumerate(used)}
    up, down = model.vol_shocks(table)
    feeds = list(base.feeds)
    m_group, m_vol, m_t, m_up, m_down = [], [], [], [], []
    for m in base.markets:
        j = names.index(m.name)
        m_group.append(group[str(table.underlying[j])])
        if m.kind == KIND_OPTION:
            vol = float(table.vol[j])
            if not (np.isfinite(vol) and vol > 0):
                raise InputError(where=f"market: vol of {m.name}", expected="> 0", found=vol)
            feeds.append(FeedSpec(f"vol:{m.name}", vol))
            m_vol.append(len(feeds) - 1)
            m_t.append(max(float(table.t_years[j]), 0.0))
            m_up.append(float(up[j]))
            m_down.append(float(down[j]))
        else:
            m_vol.append(m.mark_feed)
            m_t.append(0.0)
            m_up.append(0.0)
            m_down.append(0.0)
    c_group = tuple(group.get(c.asset, 0) for c in base.collaterals)
    p = model.preset
    moves = tuple(tuple(x * p.params(u).price_range for x in p.grid.multiples()) for u in used)
    return replace(
        base,
        feeds=tuple(feeds),
        pm=PmSpec(
            tuple(used),
            moves,
            tuple(m_group),
            tuple(m_vol),
            tuple(m_t),
            tuple(m_up),
            tuple(m_down),
            c_group,
            float(p.mm_factor),
        ),
    )
