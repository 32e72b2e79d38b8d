"""Ledger events: the only thing stored. Balances and positions are derived from them (:mod:`._fold`).

Every event belongs to one account and carries that account's sequence number (1, 2, 3, ... with no gap).
Payload values are strings, so ``Decimal`` numbers survive storage exactly.

================  ===================================================================================
kind              payload (all strings)
================  ===================================================================================
deposit           ``asset``, ``amount`` (credited, rounded down), ``requested``
withdrawal        ``asset``, ``amount`` (debited, rounded up), ``requested``
trade             ``instrument``, ``size`` (signed, coin), ``price``, ``fee`` (settlement asset, rounded up)
funding           ``instrument`` (a perpetual), ``rate`` (positive: longs pay shorts), ``mark_price`` (USD)
settlement        ``instrument`` (a future or option), ``price`` (USD settlement price)
fee               ``asset``, ``amount`` (rounded up), ``reason``
liquidation       ``asset``, ``amount`` (rounded up; moved from the account to the insurance book)
liquidation_fill  ``instrument``, ``size`` (signed, only reduces the position), ``price``, ``penalty``
                  (settlement asset, rounded up; paid to the insurance book in the same event)
bad_debt          ``asset``, ``amount`` (> 0: the negative balance, exactly; moved to the ``bad_debt`` book,
                  leaving the balance at zero)
insurance_cover   ``asset``, ``amount`` (rounded up), ``debtor``: the insurance-fund account pays towards
                  ``debtor``'s recorded bad debt (the event is on the fund's account, ``~insurance``)
adl               ``asset``, ``amount`` (rounded up), ``debtor``: an auto-deleveraged account pays
socialized_loss   ``asset``, ``amount`` (rounded up), ``debtor``: an account's share of a socialized loss
cover_received    ``asset``, ``amount``, ``payer``, ``via`` (one of the three kinds above): the debtor's
                  side of a cover, written atomically with the payer's event; moves no money
conversion        ``asset_from``, ``amount_from``, ``price_from``, ``asset_to``, ``amount_to``, ``price_to``,
                  ``counterparty``: the account gives ``amount_from`` of ``asset_from`` and receives
                  ``amount_to`` of ``asset_to`` at the index prices (USD per unit) ``price_from`` and
                  ``price_to``. A client account's counterparty is the venue's conversion desk
                  ``~conversion``, whose own ``conversion`` event (the mirror: it gives what the client
                  receives) is appended in the same transaction. The venue's side is favoured: a client
                  receives at most the value it gives, ``amount_to × price_to ≤ amount_from × price_from``,
                  and gives at most what it holds of ``asset_from``; the desk may go negative (the venue's
                  own inventory, rebalanced outside the ledger)
================  ===================================================================================

Trade prices: futures and perpetuals in USD per coin; options as premium per coin in the settlement asset
(BTC for ``BTC-...`` options, USDC for ``BTC_USDC-...``), as Deribit quotes them.
A cover is two events appended in one transaction (the payer's and the debtor's ``cover_received``),
each on its own account's sequence; see :mod:`._fold` for the books they post to.
Every payload also holds ``request``: a fingerprint of the command, so a reused idempotency key with a
different command is detected.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType


class EventKind(enum.StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRADE = "trade"
    FUNDING = "funding"
    SETTLEMENT = "settlement"
    FEE = "fee"
    LIQUIDATION = "liquidation"
    LIQUIDATION_FILL = "liquidation_fill"
    BAD_DEBT = "bad_debt"
    INSURANCE_COVER = "insurance_cover"
    ADL = "adl"
    SOCIALIZED_LOSS = "socialized_loss"
    COVER_RECEIVED = "cover_received"
    CONVERSION = "conversion"


COVER_KINDS = (EventKind.INSURANCE_COVER, EventKind.ADL, EventKind.SOCIALIZED_LOSS)
"""The three ways a recorded bad debt is covered (the payer's side; the debtor's is ``cover_received``)."""


PAYLOAD_KEYS: Mapping[EventKind, tuple[str, ...]] = MappingProxyType(
    {
        EventKind.DEPOSIT: ("asset", "amount", "requested"),
        EventKind.WITHDRAWAL: ("asset", "amount", "requested"),
        EventKind.TRADE: ("instrument", "size", "price", "fee"),
        EventKind.FUNDING: ("instrument", "rate", "mark_price"),
        EventKind.SETTLEMENT: ("instrument", "price"),
        EventKind.FEE: ("asset", "amount", "reason"),
        EventKind.LIQUIDATION: ("asset", "amount"),
        EventKind.LIQUIDATION_FILL: ("instrument", "size", "price", "penalty"),
        EventKind.BAD_DEBT: ("asset", "amount"),
        EventKind.INSURANCE_COVER: ("asset", "amount", "debtor"),
        EventKind.ADL: ("asset", "amount", "debtor"),
        EventKind.SOCIALIZED_LOSS: ("asset", "amount", "debtor"),
        EventKind.COVER_RECEIVED: ("asset", "amount", "payer", "via"),
        EventKind.CONVERSION: (
            "asset_from",
            "amount_from",
            "price_from",
            "asset_to",
            "amount_to",
            "price_to",
            "counterparty",
        ),
    }
)
"""Keys every payload of a kind must hold (``request`` comes on top)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One immutable fact about one account: ``seq`` is the account's sequence number (from 1)."""

    account: str
    seq: int
    kind: EventKind
    data: Mapping[str, str]
    key: str
    created_at: datetime
    id: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))

    def as_dict(self) -> dict[str, object]:
        return {
            "account": self.account,
            "seq": self.seq,
            "kind": self.kind.value,
            "key": self.key,
            "created_at": self.created_at.isoformat(),
            "data": dict(self.data),
        }
