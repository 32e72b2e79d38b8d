"""What a command asks for, checked before anything is read or written: account names, keys, assets,
instruments, and each command's event payload and request (the fingerprint of the command).

Every builder returns ``(payload, request)``: ``payload`` is what the event stores (amounts rounded in the
venue's favour), ``request`` the command as the caller wrote it (parsed, not rounded). The idempotency
fingerprint (:func:`fingerprint`) is taken over ``request`` with every number normalised, so ``100``,
``100.0``, ``1e2`` and ``1.00E+2`` are one command while ``100.0000001`` is another.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from decimal import Decimal

from xmargin.core import InputError
from xmargin.instruments import Instrument, Kind, parse_name
from xmargin.ledger._events import EventKind
from xmargin.ledger._fold import CONVERSION_ACCOUNT, INSURANCE_ACCOUNT
from xmargin.ledger._money import (
    MAX_PRICE,
    MAX_SIZE,
    PRICE_PLACES,
    RATE_PLACES,
    SIZE_PLACES,
    credit_amount,
    debit_amount,
    normal_text,
    parse_decimal,
    quantum,
    to_text,
)

ACCOUNT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}")
KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,127}")

RESERVED_ACCOUNTS = frozenset({INSURANCE_ACCOUNT, CONVERSION_ACCOUNT})
"""Venue accounts (names starting with ``~``, which no client account can take)."""

NUMERIC_KEYS = frozenset({"amount", "size", "price", "fee", "penalty", "rate", "mark_price"})
"""Request fields holding numbers: normalised before they are fingerprinted."""

MAX_SEQ = 2**63 - 1
"""The largest sequence number a query may name (a signed 64-bit integer, what SQLite and PostgreSQL
``BIGINT`` hold); larger is bad input, never an overflow inside the database driver."""

Request = tuple[dict[str, str], dict[str, str]]
"""(event payload, the command as requested: the idempotency fingerprint is taken over the latter)."""


def check_account(account: object, *, reserved_ok: bool = False) -> str:
    """A client account name; with ``reserved_ok`` also a venue account (``~insurance``, ``~conversion``)."""
    if reserved_ok and isinstance(account, str) and account in RESERVED_ACCOUNTS:
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
            where="key", expected="1-128 characters of letters, digits, _ . : @ / + = -", found=key
        )
    return key


def check_seq(value: object, *, where: str = "upto") -> int:
    """A sequence number bound: an integer in [1, 2^63 − 1]."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SEQ:
        raise InputError(
            where=where, expected=f"a sequence number from 1 to {MAX_SEQ} (2^63 - 1)", found=value
        )
    return value


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
    return _fill_request(name, size, price, fee, "fee", "fee")


def liquidation_fill_request(name: object, size: object, price: object, penalty: object) -> Request:
    return _fill_request(name, size, price, penalty, "penalty", "PENALTY")


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


def linked_key(key: str) -> str:
    """The key of the debtor's ``cover_received``: ``~`` never starts (or occurs in) a client's key."""
    return f"{key}~debtor" if len(key) <= 121 else "~" + hashlib.sha256(key.encode()).hexdigest()


def fingerprint(account: str, kind: EventKind, request: Mapping[str, str], *, normalise: bool = True) -> str:
    """The fingerprint of a command: account, kind and request, numbers normalised (:func:`normal_text`).
    ``normalise=False`` gives the fingerprint events written before normalisation carry (still honoured
    for their retries)."""
    items = sorted((k, normal_text(v) if normalise and k in NUMERIC_KEYS else v) for k, v in request.items())
    text = json.dumps([account, kind.value, items], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
