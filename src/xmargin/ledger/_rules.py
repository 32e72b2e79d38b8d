"""Checks that need no prices (kept apart from the margin layers, which are slow to import)."""

from __future__ import annotations

from decimal import Decimal

from xmargin.core import InputError
from xmargin.ledger._errors import RefusedError
from xmargin.ledger._fold import AccountState
from xmargin.ledger._money import to_text


def shrinks(s0: Decimal, s1: Decimal) -> bool:
    """A position going from ``s0`` to ``s1`` only shrinks (never opens, grows or flips)."""
    return s0 != 0 and abs(s1) < abs(s0) and (s1 == 0 or (s1 > 0) == (s0 > 0))


def is_reduce_only(before: AccountState, after: AccountState, name: str) -> bool:
    """The trade only shrinks ``|position|`` (never opens, grows or flips it)."""
    return shrinks(before.size(name), after.size(name))


def check_withdrawal_held(before: AccountState, after: AccountState, asset: str) -> None:
    """A withdrawal takes at most the balance held of that asset (with or without a market): the ledger
    lends nothing, so an account can never withdraw a coin it does not hold."""
    if not (after.balance(asset) >= 0):
        raise RefusedError(
            f"withdrawal of {to_text(before.balance(asset) - after.balance(asset))} {asset} exceeds the "
            f"{asset} balance held, {to_text(before.balance(asset))} (withdrawals are limited to the balance "
            "of the asset; borrowing is not offered)"
        )


def check_withdrawal_without_market(before: AccountState, after: AccountState, asset: str) -> None:
    """Without a market: only from an account holding no positions, and only down to a zero balance."""
    if before.positions:
        raise InputError(
            where="market",
            expected="a market file to check a withdrawal from an account holding positions",
            found="none",
        )
    check_withdrawal_held(before, after, asset)
