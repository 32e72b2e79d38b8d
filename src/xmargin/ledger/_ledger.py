"""``Ledger``: the commands (deposit, withdraw, trade, funding, settle, fee, liquidation transfer,
liquidation fill, bad debt and its covers) with idempotency keys, optimistic per-account concurrency and
pre-trade / pre-withdrawal risk checks.

Every command is one event. The path of a command:

1. its idempotency key (generated when absent) is looked up: a stored key returns the original result
   (the event and the account state right after it) and writes nothing;
2. the account's live state at version v is read (cached, topped up with newer events);
3. the event is folded onto it and the risk check runs on the state after (refusal: ``RefusedError``);
4. the event is appended only if the account is still at v; on a conflict, back to 1 (so the check is
   always made on the state the event is actually appended to).

A bad-debt cover (:meth:`Ledger.insurance_cover`, :meth:`Ledger.adl`, :meth:`Ledger.socialized_loss`) is
two events, the payer's and the debtor's ``cover_received``, appended in one transaction that checks both
accounts' versions (:meth:`EventStore.append_all`): the payer's balance and the debtor's outstanding bad
debt are checked on the states the events are appended to, so concurrent covers can never over-cover.

The margin layers (numba-compiled) are imported on the first check only, so appending without checks
(deposits, the crash-test writer) starts fast.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from xmargin.core import Clock, InputError, SystemClock
from xmargin.instruments import Instrument, Kind, parse_name
from xmargin.ledger._errors import ConcurrencyError
from xmargin.ledger._events import Event, EventKind
from xmargin.ledger._fold import INSURANCE_ACCOUNT, AccountState, VenueTotals, apply, replay, venue_totals
from xmargin.ledger._money import (
    MAX_PRICE,
    MAX_SIZE,
    PRICE_PLACES,
    RATE_PLACES,
    SIZE_PLACES,
    credit_amount,
    debit_amount,
    parse_decimal,
    quantum,
    to_text,
)
from xmargin.ledger._rules import check_withdrawal_without_market, shrinks
from xmargin.ledger._store import AppendResult, EventStore

if TYPE_CHECKING:
    from xmargin.ledger._checks import MarginAfter
    from xmargin.margin import MarginModel
    from xmargin.market import MarketSnapshot

ACCOUNT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}")
KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,127}")
DEFAULT_MAX_ATTEMPTS = 200

Check = Callable[[AccountState, AccountState], "MarginAfter | None"]


RESERVED_ACCOUNTS = frozenset({INSURANCE_ACCOUNT})
"""Venue accounts (names starting with ``~``, which no client account can take)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """The result of a command: its event, the account right after it, and the margin the check computed
    (``None`` when unchecked). ``replayed``: the key had been used, nothing new was written.
    ``linked``: the other events written in the same transaction with the account after each (a cover's
    ``cover_received`` on the debtor)."""

    event: Event
    state: AccountState
    replayed: bool = False
    margin: MarginAfter | None = None
    linked: tuple[tuple[Event, AccountState], ...] = ()


def check_account(account: object, *, reserved_ok: bool = False) -> str:
    """A client account name; with ``reserved_ok`` also a venue account (``~insurance``)."""
    if reserved_ok and isinstance(account, str) and account in RESERVED_ACCOUNTS:
        assert isinstance(account, str)
        return account
    if not isinstance(account, str) or not ACCOUNT_RE.fullmatch(account):
        raise InputError(
            where="ACCOUNT",
            expected="1-64 characters of letters, digits, _ . : @ - (starting alphanumeric)",
            found=account,
        )
    return account


def check_key(key: object) -> str:
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise InputError(
            where="--key", expected="1-128 characters of letters, digits, _ . : @ / + = -", found=key
        )
    return key


def check_asset(asset: object) -> str:
    try:
        inst = parse_name(asset) if isinstance(asset, str) else None
    except InputError:
        inst = None
    if inst is None or inst.kind is not Kind.SPOT:
        raise InputError(where="ASSET", expected="a coin code like BTC or USDC", found=asset)
    return inst.base


def check_instrument(name: object, *, where: str = "INSTRUMENT") -> Instrument:
    if not isinstance(name, str):
        raise InputError(where=where, expected="an instrument name like BTC-PERPETUAL", found=name)
    try:
        inst = parse_name(name)
    except InputError as exc:
        raise InputError(where=f"{where} {exc.where}", expected=exc.expected, found=exc.found) from None
    if inst.kind is Kind.SPOT:
        raise InputError(
            where=where, expected="a derivative (coins move by deposit and withdraw)", found=name
        )
    return inst


Request = tuple[dict[str, str], dict[str, str]]
"""(event payload, the command as requested: the idempotency fingerprint is taken over the latter)."""


def deposit_request(asset: object, amount: object) -> Request:
    asset = check_asset(asset)
    requested = parse_decimal(amount, where="AMOUNT", positive=True)
    credited = credit_amount(asset, requested)
    if credited <= 0:
        raise InputError(
            where="AMOUNT", expected=f"at least {to_text(quantum(asset))} {asset}", found=str(amount)
        )
    data = {"asset": asset, "amount": to_text(credited), "requested": to_text(requested)}
    return data, {"asset": asset, "amount": to_text(requested)}


def withdrawal_request(asset: object, amount: object) -> Request:
    asset = check_asset(asset)
    requested = parse_decimal(amount, where="AMOUNT", positive=True)
    data = {
        "asset": asset,
        "amount": to_text(debit_amount(asset, requested)),
        "requested": to_text(requested),
    }
    return data, {"asset": asset, "amount": to_text(requested)}


def _fill_request(
    name: object, size: object, price: object, charge: object, charge_key: str, where: str
) -> Request:
    """A fill of ``size`` at ``price`` with a charge (fee or penalty, settlement asset, rounded up)."""
    inst = check_instrument(name)
    s = parse_decimal(size, where="SIZE", nonzero=True, max_abs=MAX_SIZE, max_places=SIZE_PLACES)
    p = parse_decimal(price, where="PRICE", positive=True, max_abs=MAX_PRICE, max_places=PRICE_PLACES)
    f = parse_decimal(charge, where=where, non_negative=True)
    data = {
        "instrument": inst.name,
        "size": to_text(s),
        "price": to_text(p),
        charge_key: to_text(debit_amount(inst.settlement_asset(), f)),
    }
    return data, {"instrument": inst.name, "size": to_text(s), "price": to_text(p), charge_key: to_text(f)}


def trade_request(name: object, size: object, price: object, fee: object) -> Request:
    return _fill_request(name, size, price, fee, "fee", "--fee")


def funding_request(name: object, rate: object, mark_price: object) -> Request:
    inst = check_instrument(name)
    if inst.kind is not Kind.PERPETUAL:
        raise InputError(where="INSTRUMENT", expected="a perpetual", found=name)
    r = parse_decimal(rate, where="RATE", max_abs=Decimal(1), max_places=RATE_PLACES)
    m = parse_decimal(mark_price, where="MARK", positive=True, max_abs=MAX_PRICE, max_places=PRICE_PLACES)
    data = {"instrument": inst.name, "rate": to_text(r), "mark_price": to_text(m)}
    return data, dict(data)


def settlement_request(name: object, price: object) -> Request:
    inst = check_instrument(name)
    if inst.expiry is None:
        raise InputError(where="INSTRUMENT", expected="a future or an option (with an expiry)", found=name)
    p = parse_decimal(price, where="PRICE", positive=True, max_abs=MAX_PRICE, max_places=PRICE_PLACES)
    data = {"instrument": inst.name, "price": to_text(p)}
    return data, dict(data)


def liquidation_fill_request(name: object, size: object, price: object, penalty: object) -> Request:
    return _fill_request(name, size, price, penalty, "penalty", "PENALTY")


def _linked_key(key: str) -> str:
    """The key of the debtor's ``cover_received``: ``~`` never starts (or occurs in) a client's key."""
    return f"{key}~debtor" if len(key) <= 121 else "~" + hashlib.sha256(key.encode()).hexdigest()


def _fingerprint(account: str, kind: EventKind, request: Mapping[str, str]) -> str:
    text = json.dumps([account, kind.value, sorted(request.items())], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Ledger:
    """The account ledger on one database URL (see :mod:`xmargin.ledger._store`).

    ``model``: the margin model for the checks (a name, ``pm`` by default, or a model); ``clock``: the
    source of ``created_at``. A ``Ledger`` may be shared by threads; several processes may share a database.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str | MarginModel = "pm",
        clock: Clock | None = None,
        migrate: bool = True,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.store = EventStore(url, migrate=migrate)
        self._model_spec = model
        self._model: MarginModel | None = None
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.max_attempts = max_attempts
        self._cache: dict[str, AccountState] = {}

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model(self) -> MarginModel:
        if self._model is None:
            if isinstance(self._model_spec, str):
                from xmargin.margin import get_model

                self._model = get_model(self._model_spec)
            else:
                self._model = self._model_spec
        return self._model

    # -- reading -------------------------------------------------------------------------------------------
    def state(self, account: str) -> AccountState:
        """Live state: the cached fold topped up with the events appended since (by anyone)."""
        cached = self._cache.get(account) or AccountState(account)
        newer = self.store.load(account, after=cached.version)
        if not newer:
            return cached
        st = replay(newer, cached)
        self._remember(st)
        return st

    def live_state(self, account: str) -> AccountState:
        """This instance's view of the account, without reading the database: exact while it is the only
        writer; :meth:`state` also folds in what other writers appended."""
        return self._cache.get(account) or AccountState(account)

    def replay(self, account: str, *, upto: int | None = None) -> AccountState:
        """The account folded from its stored events alone (up to ``seq <= upto``), bypassing every cache."""
        return replay(self.store.load(account, upto=upto), account)

    def events(self, account: str) -> list[Event]:
        return self.store.load(account)

    def accounts(self) -> list[str]:
        return self.store.account_names()

    def _remember(self, st: AccountState) -> None:
        old = self._cache.get(st.account)
        if old is None or old.version < st.version:
            self._cache[st.account] = st

    # -- commands ------------------------------------------------------------------------------------------
    def deposit(self, account: str, asset: str, amount: object, *, key: str | None = None) -> Receipt:
        """Credit ``amount`` of ``asset`` (rounded down to the asset's unit). Never checked. The insurance
        fund's account, ``~insurance``, takes deposits too (its seed)."""
        account = check_account(account, reserved_ok=True)
        data, request = deposit_request(asset, amount)
        return self._submit(account, EventKind.DEPOSIT, data, request, key)

    def withdraw(
        self,
        account: str,
        asset: str,
        amount: object,
        *,
        market: MarketSnapshot | None = None,
        key: str | None = None,
    ) -> Receipt:
        """Debit ``amount`` of ``asset`` (rounded up), refused if it would leave ``available < 0``."""
        account = check_account(account)
        data, request = withdrawal_request(asset, amount)
        coin = data["asset"]

        def check(before: AccountState, after: AccountState) -> MarginAfter | None:
            if market is None:
                check_withdrawal_without_market(before, after, coin)
                return None
            from xmargin.ledger._checks import check_withdrawal

            return check_withdrawal(before, after, coin, self.model, market)

        return self._submit(account, EventKind.WITHDRAWAL, data, request, key, check)

    def trade(
        self,
        account: str,
        instrument: str,
        size: object,
        price: object,
        *,
        market: MarketSnapshot | None,
        fee: object = "0",
        key: str | None = None,
    ) -> Receipt:
        """A fill of signed ``size`` (coin) at ``price`` with ``fee`` (settlement asset, rounded up), refused if
        it would leave ``available < 0``; a reduce-only fill is always allowed. Needs a market."""
        account = check_account(account)
        data, request = trade_request(instrument, size, price, fee)
        name = data["instrument"]
        if market is None:
            raise InputError(where="--market", expected="a market file to check the trade", found="none")

        def check(before: AccountState, after: AccountState) -> MarginAfter | None:
            from xmargin.ledger._checks import check_trade

            return check_trade(before, after, name, self.model, market)

        return self._submit(account, EventKind.TRADE, data, request, key, check)

    def preview_trade(
        self,
        account: str,
        instrument: str,
        size: object,
        price: object,
        *,
        market: MarketSnapshot,
        fee: object = "0",
    ) -> MarginAfter | None:
        """The pre-trade check alone (nothing written): the margin after, or ``RefusedError``."""
        from xmargin.ledger._checks import check_trade

        account = check_account(account)
        data, _ = trade_request(instrument, size, price, fee)
        before = self.state(account)
        ev = Event(account, before.version + 1, EventKind.TRADE, data, "preview", self.clock.now())
        return check_trade(before, apply(before, ev), data["instrument"], self.model, market)

    def funding(
        self, account: str, instrument: str, rate: object, mark_price: object, *, key: str | None = None
    ) -> Receipt:
        """A funding payment on a perpetual: rate × size × mark; a positive rate makes longs pay shorts."""
        account = check_account(account)
        data, request = funding_request(instrument, rate, mark_price)
        return self._submit(account, EventKind.FUNDING, data, request, key)

    def settle(self, account: str, instrument: str, price: object, *, key: str | None = None) -> Receipt:
        """Settle the account's position in an expiring future or option at the settlement ``price`` (USD)."""
        account = check_account(account)
        data, request = settlement_request(instrument, price)
        return self._submit(account, EventKind.SETTLEMENT, data, request, key)

    def charge_fee(
        self, account: str, asset: str, amount: object, *, reason: str = "fee", key: str | None = None
    ) -> Receipt:
        """A fee (rounded up) from the account to the venue's fee book."""
        account, asset = check_account(account), check_asset(asset)
        a = parse_decimal(amount, where="AMOUNT", positive=True)
        data = {"asset": asset, "amount": to_text(debit_amount(asset, a)), "reason": str(reason)[:64]}
        return self._submit(account, EventKind.FEE, data, {"asset": asset, "amount": to_text(a)}, key)

    def liquidation_transfer(
        self, account: str, asset: str, amount: object, *, key: str | None = None
    ) -> Receipt:
        """Move ``amount`` (rounded up) of ``asset`` from the account to the insurance fund."""
        account, asset = check_account(account), check_asset(asset)
        a = parse_decimal(amount, where="AMOUNT", positive=True)
        data = {"asset": asset, "amount": to_text(debit_amount(asset, a))}
        return self._submit(account, EventKind.LIQUIDATION, data, {"asset": asset, "amount": to_text(a)}, key)

    def liquidation_fill(
        self,
        account: str,
        instrument: str,
        size: object,
        price: object,
        *,
        penalty: object = "0",
        key: str | None = None,
    ) -> Receipt:
        """A fill by the liquidation engine: signed ``size`` (coin) of ``instrument`` closed at ``price``
        (P&L against the clearing book, as a trade), with ``penalty`` (settlement asset, rounded up) paid to
        the insurance book, in one event. The size must reduce the position, never open, grow or flip it
        (bad input otherwise). No margin check: the liquidation engine decides. The penalty follows
        Deribit's liquidation fee, charged on top of the fill and added to the insurance fund
        (https://support.deribit.com/hc/en-us/articles/25944777576477-Insurance-Fund)."""
        account = check_account(account)
        data, request = liquidation_fill_request(instrument, size, price, penalty)
        name = data["instrument"]

        def build(states: Mapping[str, AccountState]) -> list[tuple[str, EventKind, dict[str, str]]]:
            before = states[account]
            s0 = before.size(name)
            if not shrinks(s0, s0 + Decimal(data["size"])):
                raise InputError(
                    where="SIZE",
                    expected=f"a size reducing the {name} position {to_text(s0)} (never opening, "
                    "growing or flipping it)",
                    found=data["size"],
                )
            return [(account, EventKind.LIQUIDATION_FILL, data)]

        return self._submit_linked(key, EventKind.LIQUIDATION_FILL, request, (account,), build)

    def record_bad_debt(self, account: str, asset: str, *, key: str | None = None) -> Receipt:
        """Record the account's deficit in ``asset``: its negative balance moves to the venue's
        ``bad_debt`` book, leaving the balance at exactly zero. Only for an account holding no positions
        (close them with :meth:`liquidation_fill` first) and a negative balance of ``asset`` (bad input
        otherwise). Balances are not netted across assets."""
        account, asset = check_account(account), check_asset(asset)

        def build(states: Mapping[str, AccountState]) -> list[tuple[str, EventKind, dict[str, str]]]:
            before = states[account]
            if before.positions:
                raise InputError(
                    where="ACCOUNT",
                    expected="an account without open positions (close them by liquidation fills first)",
                    found=f"{account} with {len(before.positions)} position(s)",
                )
            balance = before.balance(asset)
            if balance >= 0:
                raise InputError(
                    where="ASSET",
                    expected="an asset whose balance is negative",
                    found=f"{asset} {to_text(balance)}",
                )
            return [(account, EventKind.BAD_DEBT, {"asset": asset, "amount": to_text(-balance)})]

        return self._submit_linked(key, EventKind.BAD_DEBT, {"asset": asset}, (account,), build)

    def insurance_cover(self, debtor: str, asset: str, amount: object, *, key: str | None = None) -> Receipt:
        """The insurance fund (the ``~insurance`` account, seeded by deposits) pays ``amount`` (rounded up)
        towards ``debtor``'s recorded bad debt in ``asset``. Bad input if it exceeds the fund's balance or
        the debt outstanding. The fund covers bankrupt accounts' deficits first, as on Binance
        (https://www.binance.com/en/support/faq/introduction-to-futures-insurance-funds-360033525371) and
        Deribit (https://support.deribit.com/hc/en-us/articles/25944777576477-Insurance-Fund)."""
        return self._cover(EventKind.INSURANCE_COVER, INSURANCE_ACCOUNT, debtor, asset, amount, key)

    def adl(self, payer: str, debtor: str, asset: str, amount: object, *, key: str | None = None) -> Receipt:
        """Auto-deleveraging: the profitable ``payer`` gives up ``amount`` (rounded up) of ``asset``,
        at most its balance of it, towards ``debtor``'s bad debt. The ledger records the cash; choosing
        the payer (ranked by profit and leverage, when the insurance fund cannot cover, as Binance does:
        https://www.binance.com/en/support/faq/360033525471) and closing its position belong to the
        liquidation engine (:mod:`xmargin.liquidation`)."""
        return self._cover(EventKind.ADL, check_account(payer), debtor, asset, amount, key)

    def socialized_loss(
        self, payer: str, debtor: str, asset: str, amount: object, *, key: str | None = None
    ) -> Receipt:
        """``payer``'s share (rounded up, never more than its balance of ``asset``) of a loss socialized
        over accounts, towards ``debtor``'s bad debt: Deribit's last resort once the insurance fund is
        depleted (https://insights.deribit.com/education/the-deribit-insurance-fund-and-socialised-loss-system)."""
        return self._cover(EventKind.SOCIALIZED_LOSS, check_account(payer), debtor, asset, amount, key)

    def _cover(
        self, kind: EventKind, payer: str, debtor: str, asset: str, amount: object, key: str | None
    ) -> Receipt:
        debtor, asset = check_account(debtor), check_asset(asset)
        if payer == debtor:
            raise InputError(where="PAYER", expected="an account other than the debtor", found=payer)
        requested = parse_decimal(amount, where="AMOUNT", positive=True)
        x = debit_amount(asset, requested)
        text = to_text(x)
        who = "the insurance fund" if payer == INSURANCE_ACCOUNT else payer

        def build(states: Mapping[str, AccountState]) -> list[tuple[str, EventKind, dict[str, str]]]:
            outstanding = states[debtor].bad_debt_outstanding(asset)
            if x > outstanding:
                raise InputError(
                    where="AMOUNT",
                    expected=f"at most {debtor}'s {asset} bad debt outstanding, {to_text(outstanding)}",
                    found=text,
                )
            balance = states[payer].balance(asset)
            if x > balance:
                raise InputError(
                    where="AMOUNT",
                    expected=f"at most {who}'s {asset} balance, {to_text(balance)}",
                    found=text,
                )
            return [
                (payer, kind, {"asset": asset, "amount": text, "debtor": debtor}),
                (
                    debtor,
                    EventKind.COVER_RECEIVED,
                    {"asset": asset, "amount": text, "payer": payer, "via": kind.value},
                ),
            ]

        request = {"asset": asset, "amount": to_text(requested), "debtor": debtor}
        return self._submit_linked(key, kind, request, (payer, debtor), build)

    # -- venue-wide queries ----------------------------------------------------------------------------
    def venue_totals(self) -> VenueTotals:
        """Sums per asset over every account, folded from one query (a consistent snapshot of the store):
        ``held`` (balances + venue books) against ``net_deposits``, the books, the loss tallies, bad debt
        ``outstanding`` and the ``insurance_fund``. For a sound ledger ``conservation_gap()`` and
        ``bad_debt_gap()`` are empty (``Σ bad_debt = Σ insurance_cover + Σ adl + Σ socialized_loss +
        outstanding``). Folds every event: an audit query, not a hot path."""
        by_account: dict[str, list[Event]] = {}
        for e in self.store.iter_all():
            by_account.setdefault(e.account, []).append(e)
        return venue_totals(replay(evs, account) for account, evs in by_account.items())

    def bad_debt_outstanding(self) -> dict[str, dict[str, Decimal]]:
        """Recorded bad debt not yet covered: ``{account: {asset: amount}}`` (only non-zero amounts)."""
        out: dict[str, dict[str, Decimal]] = {}
        for account in self.accounts():
            st = self.state(account)
            owed = {a: st.bad_debt_outstanding(a) for a in st.losses["bad_debt"]}
            owed = {a: v for a, v in owed.items() if v}
            if owed:
                out[account] = owed
        return out

    # -- the one write path ----------------------------------------------------------------------------
    def _submit(
        self,
        account: str,
        kind: EventKind,
        data: dict[str, str],
        request: Mapping[str, str],
        key: str | None,
        check: Check | None = None,
    ) -> Receipt:
        key = check_key(key) if key is not None else uuid.uuid4().hex
        fingerprint = _fingerprint(account, kind, request)
        payload = {**data, "request": fingerprint}
        for _ in range(self.max_attempts):
            original = self.store.find_key(key)
            if original is not None:
                return self._original(original, fingerprint)
            before = self.state(account)
            ev = Event(account, before.version + 1, kind, payload, key, self.clock.now())
            after = apply(before, ev)
            margin = check(before, after) if check is not None else None
            result = self.store.append(ev, expected_version=before.version)
            if result is AppendResult.COMMITTED:
                self._remember(after)
                return Receipt(ev, after, replayed=False, margin=margin)
            # CONFLICT: someone appended to this account first; DUPLICATE_KEY: a concurrent retry won.
        raise ConcurrencyError(f"account {account!r}: gave up after {self.max_attempts} conflicting appends")

    def _submit_linked(
        self,
        key: str | None,
        kind: EventKind,
        request: Mapping[str, str],
        accounts: tuple[str, ...],
        build: Callable[[Mapping[str, AccountState]], list[tuple[str, EventKind, dict[str, str]]]],
    ) -> Receipt:
        """The write path of commands whose events depend on the state: ``build`` gets the states of
        ``accounts`` and returns the events' (account, kind, payload), the first on ``accounts[0]`` of
        ``kind``, or raises ``InputError``. It runs on every attempt, on the states the events are then
        appended to (in one transaction, all or none). The first event takes ``key``, a second one a key
        derived from it; the fingerprint covers ``accounts[0]``, ``kind`` and ``request``, and a stored key
        returns its original result before ``build`` runs (a retry is not re-validated)."""
        key = check_key(key) if key is not None else uuid.uuid4().hex
        fingerprint = _fingerprint(accounts[0], kind, request)
        for _ in range(self.max_attempts):
            original = self.store.find_key(key)
            if original is not None:
                return self._original(original, fingerprint, linked=len(accounts) > 1)
            states = {a: self.state(a) for a in accounts}
            parts = build(states)
            assert parts[0][:2] == (accounts[0], kind)
            now = self.clock.now()
            items: list[tuple[Event, int]] = []
            afters: list[AccountState] = []
            for i, (account, kind, data) in enumerate(parts):
                before = states[account]
                ev = Event(
                    account,
                    before.version + 1,
                    kind,
                    {**data, "request": fingerprint},
                    key if i == 0 else _linked_key(key),
                    now,
                )
                items.append((ev, before.version))
                afters.append(apply(before, ev))
            result = self.store.append_all(items)
            if result is AppendResult.COMMITTED:
                for st in afters:
                    self._remember(st)
                linked = tuple((ev, st) for (ev, _), st in zip(items[1:], afters[1:], strict=True))
                return Receipt(items[0][0], afters[0], replayed=False, linked=linked)
        raise ConcurrencyError(
            f"accounts {accounts!r}: gave up after {self.max_attempts} conflicting appends"
        )

    def _original(self, original: Event, fingerprint: str, *, linked: bool = False) -> Receipt:
        if original.data.get("request") != fingerprint:
            raise InputError(
                where="--key",
                expected="a new key, or the same command the key was first used with",
                found=original.key,
            )
        others: tuple[tuple[Event, AccountState], ...] = ()
        if linked:
            other = self.store.find_key(_linked_key(original.key))
            if other is not None:
                others = ((other, self.replay(other.account, upto=other.seq)),)
        return Receipt(
            original, self.replay(original.account, upto=original.seq), replayed=True, linked=others
        )
