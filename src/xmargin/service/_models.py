"""The HTTP API's request and response bodies (pydantic, the edge): requests are validated here and turned
into the ledger's and the engine's arguments; responses are built from the typed results.

The margin documents are :class:`xmargin.margin.MarginReport` itself (the route declares it, so
``/openapi.json`` shows the same schema as ``xmargin schema margin``). Amounts that the ledger holds exactly
are decimal strings; a portfolio's float figures are there too so that it can be posted back to
``POST /v1/margin``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from xmargin.ledger import AccountState, Receipt
from xmargin.ledger._checks import to_portfolio
from xmargin.ledger._money import to_text

Decimal = Annotated[
    str,
    Field(
        strict=True,
        min_length=1,
        max_length=64,
        description='A decimal number written as a string (exact), e.g. "1.5"',
        examples=["1.5"],
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CashBody(_Body):
    """A deposit or a withdrawal: ``amount`` of ``asset`` (credited rounded down, debited rounded up to the
    asset's unit)."""

    asset: str = Field(description="A coin code, e.g. BTC or USDC", examples=["USDC"])
    amount: Decimal


class TradeBody(_Body):
    """A fill of signed ``size`` (coin; + buy, - sell) at ``price`` (USD per coin; options: premium per
    coin in the settlement asset), with an optional ``fee`` in the settlement asset."""

    instrument: str = Field(examples=["BTC-PERPETUAL"])
    size: Decimal
    price: Decimal
    fee: Decimal = "0"


class WhatIfTrade(_Body):
    """A proposed trade: signed ``size`` in coin at ``price`` (the instrument's quote), at mark without."""

    instrument: str = Field(examples=["BTC-27DEC26-100000-C"])
    size: Decimal
    price: Decimal | None = None


class WhatIfBody(_Body):
    trades: list[WhatIfTrade] = Field(min_length=1, max_length=100)
    model: str | None = Field(default=None, description="A model or preset (the service's model if absent)")


class MarginBody(_Body):
    """A stateless margin request: a FORMATS.md portfolio file, optionally a market file (the service's
    market if absent) and a model (the service's model if absent)."""

    portfolio: dict[str, Any]
    market: dict[str, Any] | None = None
    model: str | None = None


class PositionOut(BaseModel):
    size: float
    avg_price: float | None = None


class ExactPosition(BaseModel):
    size: str
    avg_price: str


class ExactHoldings(BaseModel):
    """The ledger's exact figures (decimal strings)."""

    collateral: dict[str, str]
    positions: dict[str, ExactPosition]


class PortfolioOut(BaseModel):
    """An account as the ledger holds it: a FORMATS.md portfolio file (``account``, ``collateral``,
    ``positions``; futures and perpetuals with their entry price), its ``version`` (events folded) and the
    ``exact`` figures."""

    account: str
    version: int
    collateral: dict[str, float]
    positions: dict[str, PositionOut | float]
    exact: ExactHoldings


class ReceiptOut(BaseModel):
    """An accepted write: its event (``seq`` in the account, ``kind``, the stored payload with amounts
    rounded in the venue's favour) and the account right after it. A replay (same ``Idempotency-Key``,
    same body) gives the same document, with the header ``Idempotent-Replayed: true``."""

    account: str
    seq: int
    kind: str
    idempotency_key: str
    event: dict[str, str]
    portfolio: PortfolioOut


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    version: str
    market: str | None = Field(description="valuation_time of the loaded market, or null when none")
    model: str
    shard: str = Field(
        default="0/1", description="I/N: this process serves shard I of N (0/1: every account)"
    )


class ErrorDetail(BaseModel):
    where: str
    expected: str
    found: Any = None


class ErrorBody(BaseModel):
    """Every error: ``error`` names where, what was expected and what was found (``errors`` lists every
    problem when there are several)."""

    error: ErrorDetail
    errors: list[ErrorDetail] | None = None


class Refusal(BaseModel):
    reason: str
    model: str | None = None
    initial_margin_after: float | None = None
    margin_balance_after: float | None = None
    available_after: float | None = None


class RefusedBody(ErrorBody):
    """409: a risk check refused the command; nothing was written."""

    refused: Refusal


def portfolio_out(state: AccountState) -> PortfolioOut:
    pf = to_portfolio(state)
    positions: dict[str, PositionOut | float] = {}
    for p in pf.positions:
        positions[p.instrument.name] = (
            PositionOut(size=p.size_coin, avg_price=p.avg_price_usd)
            if p.avg_price_usd is not None
            else p.size_coin
        )
    exact = ExactHoldings(
        collateral={a: to_text(v) for a, v in state.balances.items() if v != 0},
        positions={
            name: ExactPosition(size=to_text(pos.size), avg_price=to_text(pos.avg_price))
            for name, pos in state.positions.items()
        },
    )
    return PortfolioOut(
        account=state.account,
        version=state.version,
        collateral=dict(pf.collateral),
        positions=positions,
        exact=exact,
    )


def receipt_out(r: Receipt, idempotency_key: str) -> ReceiptOut:
    return ReceiptOut(
        account=r.event.account,
        seq=r.event.seq,
        kind=r.event.kind.value,
        idempotency_key=idempotency_key,
        event={k: v for k, v in r.event.data.items() if k != "request"},
        portfolio=portfolio_out(r.state),
    )
