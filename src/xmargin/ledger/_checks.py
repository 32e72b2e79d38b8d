"""Risk checks before a trade or a withdrawal, through the margin models (``pm`` by default).

A command is refused (:class:`RefusedError`, CLI exit 3) when the account *after* it would not have
``available = margin_balance − initial_margin ≥ 0`` under the model at the given market (written that way
round, so a NaN from a model refuses). A trade's price must lie in the price band
(:mod:`xmargin.ledger._bands`), reduce-only or not; a trade that only reduces ``|position|`` skips the
margin check. A withdrawal never takes more than the balance held of the asset; without a market it is
allowed only from an account that holds no positions. A trade always needs a market.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from xmargin.core import InputError
from xmargin.instruments import Instrument, Kind, Portfolio, Position
from xmargin.ledger._bands import PriceBand, check_fill_price
from xmargin.ledger._errors import RefusedError
from xmargin.ledger._fold import AccountState, instrument
from xmargin.ledger._rules import check_withdrawal_held, check_withdrawal_without_market, is_reduce_only
from xmargin.margin import MarginModel
from xmargin.market import MarketSnapshot
from xmargin.risk import Book


def to_portfolio(state: AccountState) -> Portfolio:
    """The account as a ``Portfolio`` (floats, for the risk layers): non-zero balances and positions;
    futures and perpetuals carry their entry price, options count at mark."""
    positions = []
    for name, pos in state.positions.items():
        inst = instrument(name)
        avg = float(pos.avg_price) if inst.kind in (Kind.FUTURE, Kind.PERPETUAL) else None
        positions.append(Position(inst, float(pos.size), avg))
    collateral = {a: float(v) for a, v in state.balances.items() if v != 0}
    return Portfolio(state.account, collateral, tuple(positions))


@dataclass(frozen=True, slots=True)
class MarginAfter:
    """One account's margin (USD) under ``model``."""

    model: str
    initial_margin: float
    maintenance_margin: float
    margin_balance: float
    equity: float

    @property
    def available(self) -> float:
        return self.margin_balance - self.initial_margin


def margin_of(state: AccountState, model: MarginModel, market: MarketSnapshot) -> MarginAfter:
    r = model.requirement(Book.from_portfolio(to_portfolio(state)), market, detail=False)
    return MarginAfter(
        model.name,
        float(r.initial_margin[0]),
        float(r.maintenance_margin[0]),
        float(r.margin_balance[0]),
        float(r.equity[0]),
    )


def check_live(inst: Instrument, market: MarketSnapshot) -> None:
    """An instrument expired at the market's valuation time is bad input for a fill."""
    if inst.expiry is not None and inst.expiry <= market.valuation_time:
        raise InputError(
            where="INSTRUMENT",
            expected=f"an instrument not expired at the market time {market.valuation_time.isoformat()}",
            found=inst.name,
        )


def check_trade(
    before: AccountState,
    after: AccountState,
    name: str,
    model: MarginModel,
    market: MarketSnapshot,
    *,
    price: Decimal,
    band: PriceBand,
) -> MarginAfter | None:
    """Refuse a trade at a ``price`` outside the band, or leaving ``available < 0``; a reduce-only trade in
    the band is allowed without the margin check (returns None)."""
    inst = instrument(name)
    check_live(inst, market)
    check_fill_price(inst, price, market, band)
    if is_reduce_only(before, after, name):
        return None
    return _refuse_if_short(
        margin_of(after, model, market), f"trade {name} {after.size(name) - before.size(name)}"
    )


def check_withdrawal(
    before: AccountState,
    after: AccountState,
    asset: str,
    model: MarginModel,
    market: MarketSnapshot | None,
) -> MarginAfter | None:
    """Refuse a withdrawal of more than the balance held of ``asset``, or leaving ``available < 0`` (a
    market is needed for an account holding positions)."""
    if market is None:
        check_withdrawal_without_market(before, after, asset)
        return None
    check_withdrawal_held(before, after, asset)
    return _refuse_if_short(margin_of(after, model, market), f"withdrawal of {asset}")


def _refuse_if_short(m: MarginAfter, what: str) -> MarginAfter:
    """Raise ``RefusedError`` (model, IM, margin balance and available after) unless ``m.available >= 0``
    (so a NaN anywhere in the model's numbers refuses)."""
    if not (m.available >= 0):
        raise RefusedError(
            f"{what} would leave available < 0",
            model=m.model,
            initial_margin_after=m.initial_margin,
            margin_balance_after=m.margin_balance,
            available_after=m.available,
        )
    return m
