"""Derived state: ``replay(events) -> AccountState``, a pure left fold used for live state and for replay.

Double entry. Every cash posting moves an amount between the account and one of the venue's books:
``fees`` (trading and other fees), ``insurance`` (liquidation transfers) or ``clearing`` (option premiums,
realised P&L, funding and settlement, whose other side is the counterparties of the venue). The account's
side is rounded toward minus infinity (:func:`._money.account_delta`), the venue's side is the exact
negation, so per asset and per account::

    balance + fees + insurance + clearing == deposited - withdrawn

P&L conventions (sizes in coin, USD prices):
- linear futures and perpetuals (``BTC_USDC-...``): realised P&L = closed size × (exit − entry), in the quote;
- inverse (``BTC-...``): P&L in coin = closed size × (1 − entry / exit);
- entry price: size-weighted average while the position grows; kept while it shrinks; the trade price when
  it flips;
- funding on a perpetual: payment = rate × size × mark (linear, quote) or rate × size (inverse, coin: the
  USD notional size × mark divided by the mark); a positive rate makes longs pay and shorts receive;
- settlement at price S: futures realise their P&L at S; options pay intrinsic value, max(S − K, 0) for a
  call, max(K − S, 0) for a put, per coin of size (linear, in the quote) or that divided by S (inverse,
  coin). The position is closed. Option premiums are paid at the trade (size × price, settlement asset).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from functools import lru_cache
from types import MappingProxyType

from xmargin.instruments import Instrument, Kind, parse_name
from xmargin.ledger._errors import LedgerCorruptError
from xmargin.ledger._events import PAYLOAD_KEYS, Event
from xmargin.ledger._money import ARITHMETIC, account_delta

BUCKETS = ("fees", "insurance", "clearing")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PositionState:
    """A signed position in coin; ``avg_price``: entry price (USD per coin for futures and perpetuals,
    premium per coin in the settlement asset for options)."""

    size: Decimal
    avg_price: Decimal


def _freeze(m: Mapping[str, Decimal]) -> Mapping[str, Decimal]:
    return MappingProxyType({k: v for k, v in sorted(m.items())})


@dataclass(frozen=True, slots=True)
class AccountState:
    """One account after its first ``version`` events. Amounts in units of each asset (``Decimal``).

    ``venue[bucket][asset]``: what the venue's ``fees``, ``insurance`` and ``clearing`` books received from
    this account (negative: paid to it).
    """

    account: str
    version: int = 0
    balances: Mapping[str, Decimal] = field(default_factory=dict)
    positions: Mapping[str, PositionState] = field(default_factory=dict)
    venue: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    deposited: Mapping[str, Decimal] = field(default_factory=dict)
    withdrawn: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "balances", _freeze(self.balances))
        object.__setattr__(self, "positions", MappingProxyType(dict(sorted(self.positions.items()))))
        object.__setattr__(
            self, "venue", MappingProxyType({b: _freeze(self.venue.get(b, {})) for b in BUCKETS})
        )
        object.__setattr__(self, "deposited", _freeze(self.deposited))
        object.__setattr__(self, "withdrawn", _freeze(self.withdrawn))

    def balance(self, asset: str) -> Decimal:
        return self.balances.get(asset, ZERO)

    def size(self, instrument: str) -> Decimal:
        pos = self.positions.get(instrument)
        return pos.size if pos is not None else ZERO

    def assets(self) -> set[str]:
        out = set(self.balances) | set(self.deposited) | set(self.withdrawn)
        for book in self.venue.values():
            out |= set(book)
        return out


@lru_cache(maxsize=4096)
def instrument(name: str) -> Instrument:
    """Parse (and cache) a stored instrument name."""
    return parse_name(name)


class _Builder:
    """Mutable scratch state of one fold; frozen into an ``AccountState`` at the end."""

    def __init__(self, state: AccountState) -> None:
        self.account = state.account
        self.version = state.version
        self.balances = dict(state.balances)
        self.positions = dict(state.positions)
        self.venue = {b: dict(state.venue.get(b, {})) for b in BUCKETS}
        self.deposited = dict(state.deposited)
        self.withdrawn = dict(state.withdrawn)

    def freeze(self) -> AccountState:
        return AccountState(
            self.account,
            self.version,
            {a: v for a, v in self.balances.items()},
            self.positions,
            self.venue,
            self.deposited,
            self.withdrawn,
        )

    def post(self, asset: str, amount: Decimal, bucket: str) -> None:
        """Move ``amount`` (signed, to the account) between the account and a venue book."""
        delta = account_delta(asset, amount)
        if delta == 0:
            return
        self.balances[asset] = self.balances.get(asset, ZERO) + delta
        book = self.venue[bucket]
        book[asset] = book.get(asset, ZERO) - delta

    def apply(self, ev: Event) -> None:
        if ev.account != self.account:
            raise LedgerCorruptError(
                f"event {ev.key!r} of account {ev.account!r} folded into {self.account!r}"
            )
        if ev.seq != self.version + 1:
            raise LedgerCorruptError(
                f"account {self.account!r}: event seq {ev.seq} after version {self.version}"
            )
        missing = [k for k in PAYLOAD_KEYS[ev.kind] if k not in ev.data]
        if missing:
            raise LedgerCorruptError(f"event {ev.key!r} ({ev.kind.value}) lacks {', '.join(missing)}")
        d = ev.data
        try:
            with localcontext(ARITHMETIC):
                getattr(self, f"_{ev.kind.value}")(d)
        except (ArithmeticError, ValueError) as exc:
            raise LedgerCorruptError(f"event {ev.key!r}: {type(exc).__name__}: {exc}") from exc
        self.version = ev.seq

    # -- one method per kind -------------------------------------------------------------------------
    def _deposit(self, d: Mapping[str, str]) -> None:
        asset, amount = d["asset"], Decimal(d["amount"])
        self.balances[asset] = self.balances.get(asset, ZERO) + amount
        self.deposited[asset] = self.deposited.get(asset, ZERO) + amount

    def _withdrawal(self, d: Mapping[str, str]) -> None:
        asset, amount = d["asset"], Decimal(d["amount"])
        self.balances[asset] = self.balances.get(asset, ZERO) - amount
        self.withdrawn[asset] = self.withdrawn.get(asset, ZERO) + amount

    def _fee(self, d: Mapping[str, str]) -> None:
        self.post(d["asset"], -Decimal(d["amount"]), "fees")

    def _liquidation(self, d: Mapping[str, str]) -> None:
        self.post(d["asset"], -Decimal(d["amount"]), "insurance")

    def _trade(self, d: Mapping[str, str]) -> None:
        name = d["instrument"]
        inst = instrument(name)
        asset = inst.settlement_asset()
        size, price, fee = Decimal(d["size"]), Decimal(d["price"]), Decimal(d["fee"])
        old = self.positions.get(name)
        s0, avg0 = (old.size, old.avg_price) if old is not None else (ZERO, ZERO)
        s1 = s0 + size
        if inst.kind is Kind.OPTION:
            self.post(asset, -size * price, "clearing")  # premium: the buyer pays, the seller receives
        elif s0 != 0 and (s0 > 0) != (size > 0):
            closed = min(abs(s0), abs(size))
            signed = closed if s0 > 0 else -closed
            pnl = signed * (price - avg0) if inst.linear else signed * (1 - avg0 / price)
            self.post(asset, pnl, "clearing")
        if s1 == 0:
            self.positions.pop(name, None)
        elif s0 == 0 or (s1 > 0) != (s0 > 0):
            self.positions[name] = PositionState(s1, price)
        elif abs(s1) > abs(s0):
            avg = (abs(s0) * avg0 + abs(size) * price) / abs(s1)
            self.positions[name] = PositionState(s1, avg)
        else:
            self.positions[name] = PositionState(s1, avg0)
        if fee:
            self.post(asset, -fee, "fees")

    def _funding(self, d: Mapping[str, str]) -> None:
        name = d["instrument"]
        inst = instrument(name)
        size = self.positions[name].size if name in self.positions else ZERO
        rate, mark = Decimal(d["rate"]), Decimal(d["mark_price"])
        payment = rate * size * mark if inst.linear else rate * size
        self.post(inst.settlement_asset(), -payment, "clearing")

    def _settlement(self, d: Mapping[str, str]) -> None:
        name = d["instrument"]
        inst = instrument(name)
        pos = self.positions.pop(name, None)
        if pos is None:
            return
        price = Decimal(d["price"])
        if inst.kind is Kind.OPTION:
            strike = Decimal(str(inst.strike_usd))
            intrinsic = max(price - strike, ZERO) if inst.is_call else max(strike - price, ZERO)
            value = pos.size * intrinsic if inst.linear else pos.size * intrinsic / price
        elif inst.linear:
            value = pos.size * (price - pos.avg_price)
        else:
            value = pos.size * (1 - pos.avg_price / price)
        self.post(inst.settlement_asset(), value, "clearing")


def replay(events: Iterable[Event], start: AccountState | str) -> AccountState:
    """Fold ``events`` (in sequence order) onto ``start``: an ``AccountState``, or an account name for an
    empty account. Pure: the same events give the same state, live or replayed."""
    state = AccountState(start) if isinstance(start, str) else start
    builder = _Builder(state)
    for ev in events:
        builder.apply(ev)
    return builder.freeze()


def apply(state: AccountState, event: Event) -> AccountState:
    """The state after one more event."""
    return replay((event,), state)


def conservation_gap(state: AccountState) -> dict[str, Decimal]:
    """Per asset, ``balance + venue books − (deposited − withdrawn)``: all zero for a sound fold."""
    out: dict[str, Decimal] = {}
    for asset in state.assets():
        total = state.balance(asset) + sum((state.venue[b].get(asset, ZERO) for b in BUCKETS), ZERO)
        gap = total - (state.deposited.get(asset, ZERO) - state.withdrawn.get(asset, ZERO))
        if gap:
            out[asset] = gap
    return out
