"""Derived state: ``replay(events) -> AccountState``, a pure left fold used for live state and for replay.

Double entry. Every cash posting moves an amount between the account and one of the venue's books:
``fees`` (trading and other fees), ``insurance`` (liquidation transfers and liquidation penalties),
``clearing`` (option premiums, realised P&L, funding and settlement, whose other side is the counterparties
of the venue), ``bad_debt`` (recorded deficits and what covered them) or ``conversion`` (collateral
exchanged with the venue's conversion desk ``~conversion`` at the index). The account's side is rounded
toward minus infinity (:func:`._money.account_delta`), the venue's side is the exact negation, so per asset
and per account::

    balance + fees + insurance + clearing + bad_debt == deposited - withdrawn

Bad debt and its coverage (the loss tallies, ``AccountState.losses``):
- ``bad_debt`` on an account with no positions and a negative balance −D moves D from the ``bad_debt`` book
  to the account (balance exactly 0, book −D) and tallies ``losses["bad_debt"] += D``;
- a cover of X towards it (``insurance_cover`` from the fund account ``~insurance``, ``adl`` or
  ``socialized_loss`` from another account) debits the payer X into its ``bad_debt`` book (+X) and tallies
  ``losses[kind] += X`` on the payer; the debtor's ``cover_received`` (same transaction) tallies
  ``losses["covered"] += X``. A payer's balance may not go below zero, nor may a debtor's covered amount
  exceed its recorded bad debt (``LedgerCorruptError`` if stored events say otherwise).
Summed over all accounts, the ``bad_debt`` book is therefore minus what is still uncovered, and
``Σ bad_debt == Σ insurance_cover + Σ adl + Σ socialized_loss + outstanding`` (see :func:`venue_totals`).

Conversion (``conversion``): the account gives ``amount_from`` of one asset into its ``conversion`` book and
takes ``amount_to`` of another out of it; the desk ``~conversion`` writes the mirror event in the same
transaction, so summed over the two accounts each asset's ``conversion`` book nets to zero and no money is
created. A client's conversion must give at most its balance and receive at most the value given at the
stated index prices; the desk's must give at most the value it receives (``LedgerCorruptError`` otherwise).

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

BUCKETS = ("fees", "insurance", "clearing", "bad_debt", "conversion")
LOSSES = ("bad_debt", "covered", "insurance_cover", "adl", "socialized_loss")
"""Loss tallies per account: deficits recorded on it, how much of them was covered, and what it paid
towards other accounts' bad debts by each of the three ways."""
COVER_TALLIES = ("insurance_cover", "adl", "socialized_loss")
INSURANCE_ACCOUNT = "~insurance"
"""The insurance fund's account: seeded by deposits, pays ``insurance_cover`` events, never negative."""
CONVERSION_ACCOUNT = "~conversion"
"""The venue's conversion desk: the counterparty of every ``conversion``; its balances may be negative (the
venue's inventory, rebalanced outside the ledger) and net to about zero in USD at the index of each one."""
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

    ``venue[bucket][asset]``: what the venue's ``fees``, ``insurance``, ``clearing`` and ``bad_debt`` books
    received from this account (negative: paid to it). ``losses[tally][asset]``: see :data:`LOSSES`.
    """

    account: str
    version: int = 0
    balances: Mapping[str, Decimal] = field(default_factory=dict)
    positions: Mapping[str, PositionState] = field(default_factory=dict)
    venue: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    deposited: Mapping[str, Decimal] = field(default_factory=dict)
    withdrawn: Mapping[str, Decimal] = field(default_factory=dict)
    losses: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "balances", _freeze(self.balances))
        object.__setattr__(self, "positions", MappingProxyType(dict(sorted(self.positions.items()))))
        object.__setattr__(
            self, "venue", MappingProxyType({b: _freeze(self.venue.get(b, {})) for b in BUCKETS})
        )
        object.__setattr__(self, "deposited", _freeze(self.deposited))
        object.__setattr__(self, "withdrawn", _freeze(self.withdrawn))
        object.__setattr__(
            self, "losses", MappingProxyType({t: _freeze(self.losses.get(t, {})) for t in LOSSES})
        )

    def balance(self, asset: str) -> Decimal:
        return self.balances.get(asset, ZERO)

    def size(self, instrument: str) -> Decimal:
        pos = self.positions.get(instrument)
        return pos.size if pos is not None else ZERO

    def bad_debt_outstanding(self, asset: str) -> Decimal:
        """This account's recorded bad debt in ``asset`` not yet covered (≥ 0)."""
        return self.losses["bad_debt"].get(asset, ZERO) - self.losses["covered"].get(asset, ZERO)

    def assets(self) -> set[str]:
        out = set(self.balances) | set(self.deposited) | set(self.withdrawn)
        for book in (*self.venue.values(), *self.losses.values()):
            out |= set(book)
        return out


_EMPTY: Mapping[str, Decimal] = MappingProxyType({})


def sorted_state(
    account: str,
    version: int,
    balances: dict[str, Decimal],
    positions: dict[str, PositionState],
    venue: Mapping[str, dict[str, Decimal]],
    deposited: dict[str, Decimal],
    withdrawn: dict[str, Decimal],
    losses: Mapping[str, dict[str, Decimal]],
) -> AccountState:
    """An ``AccountState`` from maps whose keys are already in sorted order (a snapshot's JSON, written with
    sorted keys), without copying and sorting them again: about four times faster than the constructor,
    which a snapshot of 100,000 accounts is read through. The caller vouches for the order; the result
    compares equal to the one the constructor makes."""
    st = object.__new__(AccountState)
    for name, value in (
        ("account", account),
        ("version", version),
        ("balances", MappingProxyType(balances) if balances else _EMPTY),
        ("positions", MappingProxyType(positions)),
        (
            "venue",
            MappingProxyType({b: MappingProxyType(venue[b]) if b in venue else _EMPTY for b in BUCKETS}),
        ),
        ("deposited", MappingProxyType(deposited) if deposited else _EMPTY),
        ("withdrawn", MappingProxyType(withdrawn) if withdrawn else _EMPTY),
        (
            "losses",
            MappingProxyType({t: MappingProxyType(losses[t]) if t in losses else _EMPTY for t in LOSSES}),
        ),
    ):
        object.__setattr__(st, name, value)
    return st


def _unsigned_zero(x: Decimal) -> Decimal:
    """``x``, with a zero shown as ``0`` rather than ``-0`` (sums of opposite amounts round toward minus
    infinity in :data:`ARITHMETIC`, which signs an exact zero negative; the value compares equal anyway)."""
    return x.copy_abs() if x == 0 else x


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
        self.losses = {t: dict(state.losses.get(t, {})) for t in LOSSES}

    def freeze(self) -> AccountState:
        return AccountState(
            self.account,
            self.version,
            {a: v for a, v in self.balances.items()},
            self.positions,
            self.venue,
            self.deposited,
            self.withdrawn,
            self.losses,
        )

    def post(self, asset: str, amount: Decimal, bucket: str) -> Decimal:
        """Move ``amount`` (signed, to the account) between the account and a venue book; returns the
        account's side as posted (rounded toward minus infinity)."""
        delta = account_delta(asset, amount)
        if delta == 0:
            return delta
        self.balances[asset] = _unsigned_zero(self.balances.get(asset, ZERO) + delta)
        book = self.venue[bucket]
        book[asset] = _unsigned_zero(book.get(asset, ZERO) - delta)
        return delta

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
        asset = self._fill(name, Decimal(d["size"]), Decimal(d["price"]))
        fee = Decimal(d["fee"])
        if fee:
            self.post(asset, -fee, "fees")

    def _liquidation_fill(self, d: Mapping[str, str]) -> None:
        name, size = d["instrument"], Decimal(d["size"])
        s0 = self.size(name)
        if s0 == 0 or size == 0 or (size > 0) == (s0 > 0) or abs(size) > abs(s0):
            raise LedgerCorruptError(
                f"liquidation fill of {d['size']} {name} does not reduce the position {s0}"
            )
        asset = self._fill(name, size, Decimal(d["price"]))
        penalty = Decimal(d["penalty"])
        if penalty:
            self.post(asset, -penalty, "insurance")

    def _exact(self, d: Mapping[str, str]) -> tuple[str, Decimal]:
        """``asset`` and ``amount`` of a loss event: a positive whole number of the asset's units."""
        return d["asset"], self._units(d["asset"], d["amount"])

    @staticmethod
    def _units(asset: str, text: str) -> Decimal:
        """``text`` as an amount of ``asset``: a positive whole number of the asset's units."""
        amount = Decimal(text)
        if amount <= 0 or account_delta(asset, amount) != amount:
            raise LedgerCorruptError(f"amount {text} {asset}: expected a positive multiple of its unit")
        return amount

    def _bad_debt(self, d: Mapping[str, str]) -> None:
        asset, amount = self._exact(d)
        if self.positions or self.balances.get(asset, ZERO) != -amount:
            raise LedgerCorruptError(
                f"bad debt of {d['amount']} {asset} on an account with balance "
                f"{self.balances.get(asset, ZERO)} and {len(self.positions)} open position(s)"
            )
        self.post(asset, amount, "bad_debt")
        self._tally("bad_debt", asset, amount)

    def _cover(self, d: Mapping[str, str], kind: str) -> None:
        asset, amount = self._exact(d)
        if self.balances.get(asset, ZERO) < amount:
            raise LedgerCorruptError(
                f"{kind} of {d['amount']} {asset} exceeds the payer's balance {self.balances.get(asset, ZERO)}"
            )
        self.post(asset, -amount, "bad_debt")
        self._tally(kind, asset, amount)

    def _insurance_cover(self, d: Mapping[str, str]) -> None:
        self._cover(d, "insurance_cover")  # the fund's own account: never below zero either

    def _adl(self, d: Mapping[str, str]) -> None:
        self._cover(d, "adl")

    def _socialized_loss(self, d: Mapping[str, str]) -> None:
        self._cover(d, "socialized_loss")

    def _cover_received(self, d: Mapping[str, str]) -> None:
        asset, amount = self._exact(d)
        outstanding = self.losses["bad_debt"].get(asset, ZERO) - self.losses["covered"].get(asset, ZERO)
        if amount > outstanding:
            raise LedgerCorruptError(
                f"cover of {d['amount']} {asset} exceeds the bad debt outstanding {outstanding}"
            )
        self._tally("covered", asset, amount)

    def _conversion(self, d: Mapping[str, str]) -> None:
        give, got = self._units(d["asset_from"], d["amount_from"]), self._units(d["asset_to"], d["amount_to"])
        p_from, p_to = Decimal(d["price_from"]), Decimal(d["price_to"])
        asset_from, asset_to, other = d["asset_from"], d["asset_to"], d["counterparty"]
        if asset_from == asset_to or not (p_from > 0 and p_to > 0) or other == self.account:
            raise LedgerCorruptError(
                f"conversion of {asset_from} into {asset_to} at prices {d['price_from']}, {d['price_to']} "
                f"with {other!r}: expected two assets, positive prices and another account"
            )
        desk = self.account == CONVERSION_ACCOUNT
        if desk == (other == CONVERSION_ACCOUNT):
            raise LedgerCorruptError(
                f"conversion between {self.account!r} and {other!r}: one side must be {CONVERSION_ACCOUNT!r}"
            )
        fair = got * p_to <= give * p_from if not desk else give * p_from <= got * p_to
        if not fair:
            raise LedgerCorruptError(
                f"conversion of {d['amount_from']} {asset_from} into {d['amount_to']} {asset_to} favours "
                f"{self.account!r} over the venue at prices {d['price_from']} and {d['price_to']}"
            )
        if not desk and self.balances.get(asset_from, ZERO) < give:
            raise LedgerCorruptError(
                f"conversion of {d['amount_from']} {asset_from} exceeds the balance "
                f"{self.balances.get(asset_from, ZERO)}"
            )
        self.post(asset_from, -give, "conversion")
        self.post(asset_to, got, "conversion")

    # -- helpers -----------------------------------------------------------------------------------------
    def size(self, name: str) -> Decimal:
        pos = self.positions.get(name)
        return pos.size if pos is not None else ZERO

    def _tally(self, tally: str, asset: str, amount: Decimal) -> None:
        book = self.losses[tally]
        book[asset] = book.get(asset, ZERO) + amount

    def _fill(self, name: str, size: Decimal, price: Decimal) -> str:
        """A fill of signed ``size`` at ``price``: premium or realised P&L against the clearing book, the
        position updated. Returns the settlement asset."""
        inst = instrument(name)
        asset = inst.settlement_asset()
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
        return asset

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


@dataclass(frozen=True, slots=True)
class VenueTotals:
    """Venue-wide sums per asset over a set of accounts (all of them, for the whole venue).

    ``held``: Σ balances + every venue book (what the accounts and the venue's books hold together);
    ``net_deposits``: Σ deposited − Σ withdrawn; ``books[bucket]``: Σ of each venue book;
    ``losses[tally]``: Σ of each loss tally (:data:`LOSSES`); ``outstanding``: recorded bad debt not yet
    covered; ``insurance_fund``: the balance of the ``~insurance`` account.
    """

    held: Mapping[str, Decimal]
    net_deposits: Mapping[str, Decimal]
    books: Mapping[str, Mapping[str, Decimal]]
    losses: Mapping[str, Mapping[str, Decimal]]
    outstanding: Mapping[str, Decimal]
    insurance_fund: Mapping[str, Decimal]

    def conservation_gap(self) -> dict[str, Decimal]:
        """Per asset, ``held − net_deposits``: empty when the venue is conserved."""
        assets = set(self.held) | set(self.net_deposits)
        gaps = {a: self.held.get(a, ZERO) - self.net_deposits.get(a, ZERO) for a in assets}
        return {a: g for a, g in sorted(gaps.items()) if g}

    def bad_debt_paid(self, asset: str) -> Decimal:
        """Σ insurance_cover + Σ adl + Σ socialized_loss in ``asset``."""
        return sum((self.losses[t].get(asset, ZERO) for t in COVER_TALLIES), ZERO)

    def bad_debt_gap(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Per asset where either is non-zero: (``bad_debt − paid − outstanding``, ``bad_debt book +
        outstanding``), ``paid`` being :meth:`bad_debt_paid`. Empty when every unit of recorded loss is
        accounted for, in the tallies and in the money (the book holds minus what is uncovered)."""
        out: dict[str, tuple[Decimal, Decimal]] = {}
        assets = set(self.losses["bad_debt"]) | set(self.outstanding) | set(self.books["bad_debt"])
        for a in sorted(assets):
            outstanding = self.outstanding.get(a, ZERO)
            tallies = self.losses["bad_debt"].get(a, ZERO) - self.bad_debt_paid(a) - outstanding
            book = self.books["bad_debt"].get(a, ZERO) + outstanding
            if tallies or book:
                out[a] = (tallies, book)
        return out


def venue_totals(states: Iterable[AccountState]) -> VenueTotals:
    """Sum accounts into :class:`VenueTotals` (pure; pass every account of the venue for venue totals)."""
    held: dict[str, Decimal] = {}
    net: dict[str, Decimal] = {}
    books: dict[str, dict[str, Decimal]] = {b: {} for b in BUCKETS}
    losses: dict[str, dict[str, Decimal]] = {t: {} for t in LOSSES}
    outstanding: dict[str, Decimal] = {}
    fund: dict[str, Decimal] = {}

    def add(m: dict[str, Decimal], asset: str, v: Decimal) -> None:
        m[asset] = m.get(asset, ZERO) + v

    for s in states:
        for a, v in s.balances.items():
            add(held, a, v)
            if s.account == INSURANCE_ACCOUNT:
                add(fund, a, v)
        for b in BUCKETS:
            for a, v in s.venue[b].items():
                add(held, a, v)
                add(books[b], a, v)
        for a, v in s.deposited.items():
            add(net, a, v)
        for a, v in s.withdrawn.items():
            add(net, a, -v)
        for t in LOSSES:
            for a, v in s.losses[t].items():
                add(losses[t], a, v)
        for a in s.losses["bad_debt"]:
            add(outstanding, a, s.bad_debt_outstanding(a))
    return VenueTotals(
        _freeze(held),
        _freeze(net),
        MappingProxyType({b: _freeze(m) for b, m in books.items()}),
        MappingProxyType({t: _freeze(m) for t, m in losses.items()}),
        _freeze(outstanding),
        _freeze(fund),
    )
