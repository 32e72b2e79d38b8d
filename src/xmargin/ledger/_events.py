"""Ledger events: the only thing stored. Balances and positions are derived from them (:mod:`._fold`).

Every event belongs to one account and carries that account's sequence number (1, 2, 3, ... with no gap).
Payload values are strings, so ``Decimal`` numbers survive storage exactly.

=============  ======================================================================================
kind           payload (all strings)
=============  ======================================================================================
deposit        ``asset``, ``amount`` (credited, rounded down), ``requested``
withdrawal     ``asset``, ``amount`` (debited, rounded up), ``requested``
trade          ``instrument``, ``size`` (signed, coin), ``price``, ``fee`` (settlement asset, rounded up)
funding        ``instrument`` (a perpetual), ``rate`` (positive: longs pay shorts), ``mark_price`` (USD)
settlement     ``instrument`` (a future or option), ``price`` (USD settlement price)
fee            ``asset``, ``amount`` (rounded up), ``reason``
liquidation    ``asset``, ``amount`` (rounded up; moved from the account to the insurance fund)
=============  ======================================================================================

Trade prices: futures and perpetuals in USD per coin; options as premium per coin in the settlement asset
(BTC for ``BTC-...`` options, USDC for ``BTC_USDC-...``), as Deribit quotes them.
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


PAYLOAD_KEYS: Mapping[EventKind, tuple[str, ...]] = MappingProxyType(
    {
        EventKind.DEPOSIT: ("asset", "amount", "requested"),
        EventKind.WITHDRAWAL: ("asset", "amount", "requested"),
        EventKind.TRADE: ("instrument", "size", "price", "fee"),
        EventKind.FUNDING: ("instrument", "rate", "mark_price"),
        EventKind.SETTLEMENT: ("instrument", "price"),
        EventKind.FEE: ("asset", "amount", "reason"),
        EventKind.LIQUIDATION: ("asset", "amount"),
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
