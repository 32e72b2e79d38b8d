"""Exact money for the ledger: ``Decimal`` amounts quantized per asset so every rounding favours the venue.

One rule covers every posting: a signed change to an account's balance is rounded toward minus infinity
(``ROUND_FLOOR``). A credit (deposit, profit, premium received) therefore rounds *down* and a debit
(withdrawal, loss, fee, premium paid) rounds *up* in size. The venue's side of the posting is the exact
negation, so nothing is created or lost: the sub-unit remainder stays with the venue.

>>> account_delta("BTC", Decimal("0.123456789"))
Decimal('0.12345678')
>>> account_delta("BTC", Decimal("-0.123456781"))
Decimal('-0.12345679')
>>> debit_amount("USDC", Decimal("1.0000001"))
Decimal('1.000001')
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, InvalidOperation, localcontext
from types import MappingProxyType

from xmargin.core import InputError

PRECISION: MappingProxyType[str, int] = MappingProxyType(
    {"BTC": 8, "ETH": 8, "SOL": 9, "XRP": 6, "USDC": 6, "USDT": 6, "USD": 2}
)
"""Decimal places kept per asset (the venue's smallest unit); other assets keep ``DEFAULT_PLACES``."""
DEFAULT_PLACES = 8

ARITHMETIC = Context(prec=60, rounding=ROUND_FLOOR, traps=[InvalidOperation])
"""Context for ledger arithmetic: 60 significant digits, so products of sizes and prices are exact
before they are quantized to an asset's precision."""

MAX_AMOUNT = Decimal("1e15")
MAX_PRICE = Decimal("1e12")
MAX_SIZE = Decimal("1e9")
SIZE_PLACES = 8
PRICE_PLACES = 8
RATE_PLACES = 12

NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""The text of a number: ASCII digits only, one optional ``.``, an optional sign and an optional ASCII
exponent. ``Decimal`` itself also reads other scripts' digits (``'١٢٣'`` is 123), underscores
(``'1_000'``), ``Infinity`` and ``NaN``: none of them is an amount anyone meant to type."""
ASCII_SPACE = " \t\r\n"


def places(asset: str) -> int:
    """Decimal places kept for ``asset``."""
    return PRECISION.get(asset, DEFAULT_PLACES)


def quantum(asset: str) -> Decimal:
    """The smallest unit of ``asset`` (``Decimal('1E-8')`` for BTC)."""
    return Decimal(1).scaleb(-places(asset))


def account_delta(asset: str, amount: Decimal) -> Decimal:
    """A signed change to an account's balance, quantized toward minus infinity (venue-favouring)."""
    with localcontext(ARITHMETIC):
        return amount.quantize(quantum(asset), rounding=ROUND_FLOOR)


def credit_amount(asset: str, amount: Decimal) -> Decimal:
    """An amount paid to an account (``amount`` ≥ 0), rounded down to the asset's unit."""
    return account_delta(asset, amount)


def debit_amount(asset: str, amount: Decimal) -> Decimal:
    """An amount taken from an account or a fee (``amount`` ≥ 0), rounded up to the asset's unit."""
    with localcontext(ARITHMETIC):
        return amount.quantize(quantum(asset), rounding=ROUND_CEILING)


def parse_decimal(
    text: object,
    *,
    where: str,
    positive: bool = False,
    non_negative: bool = False,
    nonzero: bool = False,
    max_abs: Decimal = MAX_AMOUNT,
    max_places: int = 18,
) -> Decimal:
    """Parse a decimal number from text (never through float); every failure is an ``InputError``.

    Text must match :data:`NUMBER_RE` (ASCII digits, surrounding ASCII blanks allowed). At most
    ``max_places`` decimal places (18 by default: finer amounts are typos, not money)."""
    if isinstance(text, Decimal):
        value = text
    elif isinstance(text, int) and not isinstance(text, bool):
        value = Decimal(text)
    elif isinstance(text, str):
        stripped = text.strip(ASCII_SPACE)
        if len(stripped) > 64 or not NUMBER_RE.fullmatch(stripped):
            raise InputError(
                where=where, expected="a decimal number in ASCII digits such as 1.25", found=text
            )
        try:
            value = Decimal(stripped)
        except InvalidOperation:  # pragma: no cover - NUMBER_RE admits only what Decimal reads
            raise InputError(where=where, expected="a decimal number such as 1.25", found=text) from None
    else:
        raise InputError(where=where, expected="a decimal number such as 1.25", found=text)
    shown = text if isinstance(text, str) else str(text)
    if not value.is_finite():
        raise InputError(where=where, expected="a finite decimal number", found=shown)
    if abs(value) > max_abs:
        raise InputError(where=where, expected=f"a number of magnitude <= {max_abs:,.0f}", found=shown)
    if positive and value <= 0:
        raise InputError(where=where, expected="a number > 0", found=shown)
    if non_negative and value < 0:
        raise InputError(where=where, expected="a number >= 0", found=shown)
    if nonzero and value == 0:
        raise InputError(where=where, expected="a non-zero number", found=shown)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if -exponent > max_places:
        raise InputError(where=where, expected=f"at most {max_places} decimal places", found=shown)
    return Decimal(0) if value == 0 else value


def normal_text(text: str) -> str:
    """The canonical text of a stored number: ``Decimal.normalize()`` without exponent, ``0`` for zero, so
    ``100``, ``100.0``, ``1e2`` and ``1.00E+2`` all read ``100`` (the idempotency fingerprint's numbers).

    >>> [normal_text(t) for t in ("100", "100.0", "1e2", "1.00E+2", "-0.0", "0.000100")]
    ['100', '100', '100', '100', '0', '0.0001']
    """
    with localcontext(ARITHMETIC):  # 60 digits: normalize() never rounds a parsed amount
        value = Decimal(text)
        return "0" if value == 0 else to_text(value.normalize())


def to_text(value: Decimal) -> str:
    """A Decimal as plain text without exponent (``1E-8`` → ``0.00000001``), for storage and JSON."""
    if value == 0:
        return "0"
    return format(value, "f")
