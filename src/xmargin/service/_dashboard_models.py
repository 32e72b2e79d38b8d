"""Response bodies of the dashboard's endpoints (pydantic, the edge): who a key is, an account's risk
matrix, the loaded market's instruments, the venue's book and a crash replay's time series.

Amounts are USD (JSON numbers: risk figures are float64, not ledger money); moves and shocks are fractions
(``-0.16`` = -16 %) unless a name says ``_pct`` or ``_points``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from xmargin.service._models import ErrorBody

Status = Literal["ok", "margin_call", "liquidatable"]


class Me(BaseModel):
    """The key that asked: its id, scope and account (``null`` for an admin key, which reads every
    account and the venue's book)."""

    key_id: int
    scope: Literal["read", "trade", "admin"]
    account: str | None
    market: str | None = Field(description="valuation_time of the loaded market, or null when none")
    model: str


# -- the risk matrix ----------------------------------------------------------------------------------------
class MatrixCell(BaseModel):
    """One scenario of a risk group: its price move, vol shock (+1 up, 0 flat, -1 down), kind, weight, the
    group's P&L in it and that P&L times the weight (what the margin counts)."""

    price_move: float
    vol_shock: int
    kind: Literal["standard", "extended"]
    weight: float
    pnl_usd: float
    weighted_pnl_usd: float


class VolRow(BaseModel):
    """A vol-shock row: the relative shock at the preset's pivot expiry (e.g. +0.5 = vol x 1.5 at 30
    days) and the same in vol points of the underlying's at-the-money vol there, when the market has one."""

    vol_shock: int
    label: Literal["down", "flat", "up"]
    relative_at_pivot: float
    vol_points_at_pivot: float | None


class MatrixGroup(BaseModel):
    """One risk group (an underlying, in one settlement currency): every scenario shown, the worst one
    (its index in ``cells``), and the group's requirement (USD)."""

    underlying: str
    settlement: str
    price_moves: list[float] = Field(description="the standard grid's moves, ascending")
    extended_moves: list[float]
    vol_rows: list[VolRow]
    pivot_days: float
    atm_vol_at_pivot: float | None
    cells: list[MatrixCell]
    worst: int = Field(description="index in cells of the model's worst scenario")
    worst_loss_usd: float
    requirement_usd: float
    scenarios_not_shown: int = Field(
        description="scenarios of the model outside the grid and the extended moves (rate shifts, extreme)"
    )


class RiskMatrix(BaseModel):
    account: str
    model: str
    preset: str
    valuation_time: str
    groups: list[MatrixGroup]
    warnings: list[str]


# -- instruments --------------------------------------------------------------------------------------------
class InstrumentOut(BaseModel):
    """An instrument of the loaded market: its name, kind, underlying, expiry (ISO date), strike (USD),
    call or put, its mark (USD per coin; an option's premium per coin in its settlement asset) and its
    implied vol (options)."""

    name: str
    kind: Literal["spot", "perpetual", "future", "option"]
    underlying: str
    settlement: str
    expiry: str | None
    strike: float | None
    call_put: Literal["call", "put"] | None
    mark: float | None
    iv: float | None


class InstrumentList(BaseModel):
    valuation_time: str
    total: int = Field(description="instruments that match, before the limit")
    instruments: list[InstrumentOut]


# -- the venue's book ---------------------------------------------------------------------------------------
class LiquidationOut(BaseModel):
    """One underlying's nearest liquidation prices (USD) below and above the index, and the distance of
    the nearer one from the index (a fraction; null when there is none)."""

    underlying: str
    index_usd: float
    below: float | None
    above: float | None
    distance: float | None


class VenueAccount(BaseModel):
    """One customer account's margin (USD) and how close it is to liquidation. ``utilisation`` = MM /
    margin balance (>= 1: liquidatable; null when the balance is not positive and there is margin);
    ``distance``: the smallest relative index move to a liquidation price over its underlyings."""

    account: str
    status: Status
    equity: float
    margin_balance: float
    initial_margin: float
    maintenance_margin: float
    available: float
    utilisation: float | None
    distance: float | None
    liquidation: list[LiquidationOut]
    underlyings: list[str]


class Band(BaseModel):
    """Accounts whose utilisation lies in [lo, hi) (hi null: no upper bound)."""

    label: str
    lo: float
    hi: float | None
    accounts: int
    maintenance_margin: float


class Concentration(BaseModel):
    """One underlying across the book: gross and net delta (USD) and the share of the book's gross delta;
    the accounts holding it."""

    underlying: str
    net_delta_usd: float
    gross_delta_usd: float
    share: float
    accounts: int


class BookTotals(BaseModel):
    accounts: int
    equity: float
    margin_balance: float
    initial_margin: float
    maintenance_margin: float
    insurance_fund_usd: float
    by_status: dict[str, int]


class VenueBook(BaseModel):
    """Every customer account (sorted by distance to liquidation, nearest first), the book's totals,
    the utilisation bands and the concentration by underlying."""

    valuation_time: str
    model: str
    totals: BookTotals
    accounts: list[VenueAccount]
    bands: list[Band]
    concentration: list[Concentration]
    warnings: list[str]


# -- replays ------------------------------------------------------------------------------------------------
class ReplayScenario(BaseModel):
    name: str
    title: str


class ReplayList(BaseModel):
    scenarios: list[ReplayScenario]
    venues: list[str]


class ReplaySeries(BaseModel):
    """The replay's time series, one value per path point: ``time`` (ISO-8601 UTC), per underlying the
    traded price after liquidation impact and the oracle's (DEX: the push oracle's last published price;
    CEX: the historical mark path, which the CEX liquidates on), and the book's totals (USD)."""

    time: list[str]
    price: dict[str, list[float]]
    oracle: dict[str, list[float]]
    margin_balance_usd: list[float]
    maintenance_margin_usd: list[float]
    liquidations: list[float]
    bad_debt_usd: list[float]
    insurance_fund_usd: list[float]


class ReplayOut(BaseModel):
    scenario: str
    title: str
    venue: str
    accounts: int
    seed: int
    model: str
    liquidations: int
    accounts_liquidated: int
    bad_debt_usd: float
    insurance_fund_used_usd: float
    adl_usd: float
    socialized_loss_usd: float
    wall_s: float
    series: ReplaySeries


ERROR_TEXT = {
    401: "No key, or an unknown or revoked one",
    403: "The key may not read this",
    422: "Bad input: where, expected, found",
    429: "Past the key's rate limit",
    503: "No market loaded (xmargin serve --market)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route for the OpenAPI document (every one is an ``ErrorBody``)."""
    return {s: {"model": ErrorBody, "description": ERROR_TEXT[s]} for s in statuses}
