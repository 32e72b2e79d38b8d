"""Instrument value types: spot assets, perpetuals, futures and European options, linear or inverse.

One frozen dataclass covers every kind (as NautilusTrader's instruments share one base): the kind and the
``inverse`` flag say how it pays, and :meth:`Instrument.settlement_asset` says in one place which currency its
P&L is in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from xmargin.core import InputError

EXPIRY_HOUR_UTC = 8
"""Every listed expiry is at 08:00 UTC (Deribit's settlement time; FORMATS.md)."""


class Kind(enum.Enum):
    SPOT = "spot"
    PERPETUAL = "perpetual"
    FUTURE = "future"
    OPTION = "option"


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable instrument.

    ``base`` is the underlying coin (``BTC``). ``quote`` is the settlement asset of a linear product
    (``USDC``) and ``None`` for an inverse product, which settles in ``base``. Expiries are UTC datetimes at
    08:00. ``strike_usd`` and ``is_call`` are set for options only.
    """

    kind: Kind
    base: str
    quote: str | None = None
    expiry: datetime | None = None
    strike_usd: float | None = None
    is_call: bool | None = None
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __hash__(self) -> int:
        # cached: instruments key every column lookup of a book and the margin models' caches
        return self._hash

    def __reduce__(self) -> tuple[type[Instrument], tuple[object, ...]]:
        # rebuilt through __init__, so the cached hash is recomputed in the receiving process
        return (Instrument, (self.kind, self.base, self.quote, self.expiry, self.strike_usd, self.is_call))

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "_hash",
            hash((self.kind, self.base, self.quote, self.expiry, self.strike_usd, self.is_call)),
        )
        where = f"Instrument({self.base})"
        if self.kind is Kind.SPOT:
            if self.quote is not None or self.expiry is not None or self.strike_usd is not None:
                raise InputError(
                    where=where, expected="a spot asset without quote, expiry or strike", found=self
                )
            return
        if self.kind in (Kind.FUTURE, Kind.OPTION) and self.expiry is None:
            raise InputError(where=where, expected=f"an expiry for a {self.kind.value}", found=None)
        if self.kind is Kind.PERPETUAL and self.expiry is not None:
            raise InputError(where=where, expected="no expiry for a perpetual", found=self.expiry)
        if self.expiry is not None:
            e = self.expiry
            offset = e.utcoffset()
            if (
                offset is None
                or offset.total_seconds() != 0
                or (e.hour, e.minute, e.second, e.microsecond) != (EXPIRY_HOUR_UTC, 0, 0, 0)
            ):
                # names carry the date only (FORMATS.md): another hour would not survive a round trip
                raise InputError(
                    where=f"{where}.expiry",
                    expected=f"an expiry at {EXPIRY_HOUR_UTC:02d}:00 UTC (every expiry is at 08:00 UTC)",
                    found=e.isoformat(),
                )
        if self.kind is Kind.OPTION:
            if self.strike_usd is None or not self.strike_usd > 0:
                raise InputError(where=f"{where}.strike_usd", expected="a strike > 0", found=self.strike_usd)
            if self.is_call is None:
                raise InputError(where=f"{where}.is_call", expected="True (call) or False (put)", found=None)
        elif self.strike_usd is not None or self.is_call is not None:
            raise InputError(where=where, expected="strike and call/put only on options", found=self)

    @property
    def inverse(self) -> bool:
        """Coin-settled (Deribit's ``BTC-...``): P&L and premium are in the base coin."""
        return self.kind is not Kind.SPOT and self.quote is None

    @property
    def linear(self) -> bool:
        return self.kind is not Kind.SPOT and self.quote is not None

    def settlement_asset(self) -> str:
        """The asset this instrument's P&L and premium are paid in."""
        if self.kind is Kind.SPOT:
            return self.base
        return self.quote if self.quote is not None else self.base

    @property
    def is_derivative(self) -> bool:
        return self.kind is not Kind.SPOT

    @property
    def name(self) -> str:
        from xmargin.instruments._names import format_name

        return format_name(self)

    def __str__(self) -> str:
        return self.name
