"""The ``drift`` model kind (preset ``drift-v2``): Drift v2's cross margin on an xmargin book.

Each account is mapped to a Drift user and run through ``_drift.margin_calculation`` in Drift's integers, at
initial and at maintenance weights. The mapping (every assumption is also named in ``warnings``):

- a collateral balance of the preset's ``quote`` coin (USDC) is Drift's quote spot market (index 0); any other
  coin is the preset's spot market of that coin; a negative balance is a borrow. Token amounts are in the
  market's decimals, deposits rounded down and borrows up (in Drift's favour); deposits and borrows are taken
  as fresh (cumulative interest 1), so a scaled balance is the token amount;
- a linear (USDC-settled) perpetual is a Drift perp of its underlying; a dated linear future is treated as a
  perp (Drift lists none); its base size is rounded to 1e-9 and its quote amount is minus its entry notional
  (``avg_price``), or minus its notional at the oracle price when no entry price is given (P&L zero now);
- prices are the market's index prices (Drift's oracles), to 1e-6 USD; no 5-minute TWAP (non-strict mode);
  every oracle is taken as valid for margin (a snapshot has no confidence, slot delay or oracle TWAP for
  Drift's validity guard, ``_drift_oracle``);
- inverse futures and options have no Drift market: bad input.

Results (USD): ``equity = margin_balance`` = Drift's unweighted account value ``E`` (tokens at the oracle plus
perp P&L); ``IM = E − TC_init + REQ_init`` and ``MM = E − TC_maint + REQ_maint`` where TC is Drift's
``total_collateral`` and REQ its ``margin_requirement``, so ``available = TC_init − REQ_init`` is exactly
Drift's initial free collateral and the account is liquidatable exactly when Drift's maintenance check fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import ClassVar

import numpy as np

from xmargin.core import InputError
from xmargin.instruments import Kind
from xmargin.margin._model import FloatArray, MarginResult, check_prepared, register, sum_parts
from xmargin.margin._presets import PresetSource, load_preset
from xmargin.margin._result import MarginPair, VenueBreakdown
from xmargin.margin.venues._book import account_rows
from xmargin.margin.venues._drift import (
    BASE,
    PRICE,
    SPOT_BALANCE,
    MarginCalculation,
    MarginType,
    Markets,
    PerpMarket,
    PerpPosition,
    SpotMarket,
    SpotPosition,
    User,
    margin_calculation,
)
from xmargin.margin.venues._params import DriftPreset
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, Columns, pin_entries

SOURCE = (
    "drift-labs/protocol-v2 @ 0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62: programs/drift/src/math/margin.rs, "
    "state/spot_market.rs, state/perp_market.rs, state/user.rs (re-implemented; golden cases from "
    "math/margin/tests.rs); docs/venues.md"
)


def _units(x: float, scale: int, rounding: str) -> int:
    """``x · scale`` as an integer, from the decimal form of the float (so 0.29 is 0.29, not 0.28999…)."""
    return int((Decimal(repr(float(x))) * scale).to_integral_value(rounding=rounding))


@dataclass(frozen=True, slots=True, eq=False)
class DriftPrepared:
    """What the model needs of (columns, market): each column's Drift market and the integer prices."""

    market: MarketSnapshot
    columns: Columns
    role: tuple[str, ...]
    """per column: ``spot`` or ``perp``"""
    key: tuple[int, ...]
    """per column: the Drift market index it maps to"""
    markets: Markets
    decimals: dict[int, int]
    warnings: tuple[str, ...] = field(default=())


@register("drift", preset_kinds=("drift",))
class DriftMargin:
    """Drift v2 cross margin: spot asset/liability weights and perp margin ratios with the IMF size premium."""

    name = "drift"
    source = SOURCE
    decomposes_by_underlying = False
    decomposes_by_underlying_reason = (
        "not declared: Drift margins one cross pool per account (quote balance and perp P&L shared)"
    )
    scales_linearly = False
    scales_linearly_reason = "the IMF size premium grows with √size, and Drift's integers round"
    subadditive = False
    subadditive_reason = (
        "the IMF size premium is charged on each market's net size (√ of the sum ≥ sum of √ fails)"
    )
    conformance_skips: ClassVar[dict[str, str]] = {
        "check_option_purchase_costs_premium": "Drift v2 lists no options",
    }

    def __init__(self, preset: PresetSource | DriftPreset = None) -> None:
        p = load_preset(preset, kinds=("drift",), default="drift-v2")
        assert isinstance(p, DriftPreset)
        self.preset = p
        self.preset_name = p.name

    def __repr__(self) -> str:
        return f"DriftMargin(preset={self.preset_name!r})"

    # -- the mapping --------------------------------------------------------------------------------------------
    def prepare(self, columns: Columns, market: MarketSnapshot) -> DriftPrepared:
        p = self.preset
        coins = [p.quote, *sorted(c for c in p.spot if c != p.quote)]
        spot_index = {c: i for i, c in enumerate(coins)}
        perp_names = sorted(p.perp)
        perp_index: dict[str, int] = {}  # one Drift perp market per underlying held
        role: list[str] = []
        key: list[int] = []
        dated: list[str] = []
        for inst in columns.instruments:
            if inst.kind is Kind.SPOT:
                if inst.base not in spot_index:
                    raise InputError(
                        where=f"{inst.name} balance",
                        expected=f"a coin with a Drift spot market in preset {p.name} ({', '.join(coins)})",
                        found=inst.base,
                    )
                role.append("spot")
                key.append(spot_index[inst.base])
                continue
            linear = inst.kind in (Kind.PERPETUAL, Kind.FUTURE) and inst.settlement_asset() == p.quote
            if not linear:
                what = "an option" if inst.kind is Kind.OPTION else f"an inverse or non-{p.quote} contract"
                raise InputError(
                    where=inst.name,
                    expected=f"spot balances or {p.quote}-settled perpetuals and futures (Drift v2's markets)",
                    found=what,
                )
            if inst.base not in p.perp and "default" not in p.perp:
                raise InputError(
                    where=inst.name,
                    expected=f"an underlying with a Drift perp market in preset {p.name} ({', '.join(perp_names)})",
                    found=inst.base,
                )
            if inst.kind is Kind.FUTURE:
                dated.append(inst.name)
            role.append("perp")
            key.append(perp_index.setdefault(inst.base, len(perp_index)))
        spot: dict[int, SpotMarket] = {}
        prices: dict[int, int] = {}
        for c, i in spot_index.items():
            s = p.spot[c]
            price = _units(market.index(c), PRICE, ROUND_HALF_EVEN) if c in market.index_usd else 0
            spot[i] = SpotMarket(
                decimals=s.decimals,
                initial_asset_weight=s.initial_asset_weight,
                maintenance_asset_weight=s.maintenance_asset_weight,
                initial_liability_weight=s.initial_liability_weight,
                maintenance_liability_weight=s.maintenance_liability_weight,
                imf_factor=s.imf_factor,
                scale_initial_asset_weight_start=s.scale_initial_asset_weight_start,
                deposit_balance=_units(s.total_deposits, SPOT_BALANCE, ROUND_FLOOR),
            )
            prices[i] = price
        if prices[0] == 0:
            prices[0] = PRICE
        perp = {
            i: PerpMarket(**(p.perp.get(u) or p.perp["default"]).model_dump()) for u, i in perp_index.items()
        }
        perp_price: dict[int, int] = {}
        for inst, r, k in zip(columns.instruments, role, key, strict=True):
            if r == "perp":
                perp_price[k] = _units(market.index(inst.base), PRICE, ROUND_HALF_EVEN)
        warnings = [
            "drift: prices are the market's index prices as Drift's oracles, to 1e-6 USD, without 5-minute TWAPs; "
            "balances are fresh deposits/borrows in each market's decimals (deposits rounded down, borrows up); "
            "funding is taken as settled"
        ]
        if dated:
            warnings.append(
                f"drift: dated futures margined as Drift perps (Drift lists no dated futures): {', '.join(dated)}"
            )
        scaled = [
            c for c in coins if p.spot[c].scale_initial_asset_weight_start and not p.spot[c].total_deposits
        ]
        if scaled:
            warnings.append(
                f"drift: total deposits not given for {', '.join(scaled)}: initial asset weights not scaled by them"
            )
        defaulted = sorted(u for u in perp_index if u not in p.perp)
        if defaulted:
            warnings.append(
                f"drift: perp parameters of the preset's default market used for {', '.join(defaulted)}"
            )
        markets = Markets(spot=spot, perp=perp, spot_price=prices, perp_price=perp_price)
        decimals = {i: m.decimals for i, m in spot.items()}
        return DriftPrepared(market, columns, tuple(role), tuple(key), markets, decimals, tuple(warnings))

    def _user(
        self, prep: DriftPrepared, cols: np.ndarray, size: np.ndarray, entry: np.ndarray, at: np.ndarray
    ) -> User:
        spots: dict[int, int] = {}
        perps: dict[int, tuple[int, int]] = {}
        for c, q, e, a in zip(cols.tolist(), size.tolist(), entry.tolist(), at.tolist(), strict=True):
            k = prep.key[c]
            if prep.role[c] == "spot":
                scale = 10 ** prep.decimals[k]
                units = _units(q, scale, ROUND_FLOOR if q >= 0 else ROUND_CEILING)
                spots[k] = spots.get(k, 0) + units
            else:
                base = _units(q, BASE, ROUND_HALF_EVEN)
                price = prep.markets.perp_price[k]
                # entered part at its avg price, the rest at the oracle (P&L zero now)
                rest = q - a
                notional = _units(e, PRICE, ROUND_HALF_EVEN) + _units(
                    rest * price / PRICE, PRICE, ROUND_HALF_EVEN
                )
                b0, n0 = perps.get(k, (0, 0))
                perps[k] = (b0 + base, n0 - notional)
        spot_positions = tuple(
            SpotPosition(
                k,
                scaled_balance=abs(u) * 10 ** (9 - prep.decimals[k]) if prep.decimals[k] <= 9 else abs(u),
                borrow=u < 0,
            )
            for k, u in sorted(spots.items())
            if u != 0
        )
        perp_positions = tuple(
            PerpPosition(k, base_asset_amount=b, quote_asset_amount=n)
            for k, (b, n) in sorted(perps.items())
            if b or n
        )
        return User(spot_positions, perp_positions, self.preset.max_margin_ratio)

    # -- the protocol -------------------------------------------------------------------------------------------
    def requirement(
        self,
        book: Book,
        market: MarketSnapshot,
        *,
        detail: bool = True,
        prepared: DriftPrepared | None = None,
    ) -> MarginResult:
        """IM, MM, equity and margin balance (USD) of every account (module docstring)."""
        if prepared is None:
            prep = self.prepare(book.columns, market)
        else:
            check_prepared(prepared.market, prepared.columns, book, market, where="drift.requirement")
            prep = prepared
        n = book.n_accounts
        im, mm, eq = np.zeros(n), np.zeros(n), np.zeros(n)
        breakdowns: list[VenueBreakdown] = []
        for r, (cols, size, entry, at) in enumerate(account_rows(book)):
            user = self._user(prep, cols, size, entry, at)
            init = margin_calculation(user, prep.markets, MarginType.INITIAL)
            maint = margin_calculation(user, prep.markets, MarginType.MAINTENANCE)
            im[r] = max(0, init.equity - init.total_collateral + init.margin_requirement) / PRICE
            mm[r] = max(0, maint.equity - maint.total_collateral + maint.margin_requirement) / PRICE
            eq[r] = init.equity / PRICE
            if detail:
                breakdowns.append(self._breakdown(init, maint))
        return MarginResult(self.name, book.accounts, im, mm, eq, eq.copy(), tuple(breakdowns), prep.warnings)

    def _breakdown(self, init: MarginCalculation, maint: MarginCalculation) -> VenueBreakdown:
        return VenueBreakdown(
            model="drift",
            preset=self.preset_name,
            source=SOURCE,
            weighted_collateral=MarginPair(init.total_collateral / PRICE, maint.total_collateral / PRICE),
            requirement=MarginPair(init.margin_requirement / PRICE, maint.margin_requirement / PRICE),
            exact={
                "total_collateral_initial": init.total_collateral,
                "margin_requirement_initial": init.margin_requirement,
                "total_collateral_maintenance": maint.total_collateral,
                "margin_requirement_maintenance": maint.margin_requirement,
                "equity": init.equity,
            },
        )

    def combine(self, parts: FloatArray) -> FloatArray:
        return sum_parts(parts)

    def pin(self, book: Book, market: MarketSnapshot) -> Book:
        """Perps held without an entry price entered at today's mark (``risk.pin_entries``)."""
        return pin_entries(book, market)
