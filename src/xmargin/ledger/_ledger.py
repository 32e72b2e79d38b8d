"""``Ledger``: the commands (deposit, withdraw, trade, funding, settle, fee, liquidation transfer,
liquidation fill, bad debt and its covers) with idempotency keys, optimistic per-account concurrency and
pre-trade / pre-withdrawal risk checks. Every command is one event, written through
:class:`LedgerBase`'s one write path (:mod:`._write`: key lookup, index-move guard, check on the state
after, optimistic append). Request parsing lives in :mod:`._requests`.

A bad-debt cover (:meth:`Ledger.insurance_cover`, :meth:`Ledger.adl`, :meth:`Ledger.socialized_loss`) is
two events, the payer's and the debtor's ``cover_received``, appended in one transaction that checks both
accounts' versions (:meth:`EventStore.append_all`): the payer's balance and the debtor's outstanding bad
debt are checked on the states the events are appended to, so concurrent covers can never over-cover.

Every price a command takes is checked against the market where one is given (the price bands of
:mod:`._bands`: trades always, liquidation fills, funding marks and settlement prices with a market), and
the market itself against the last one the ledger accepted (the index-move guard of :mod:`._index`,
bad input), whose index prices are stored with the accepted command's event in one transaction.

The margin layers (numba-compiled) are imported on the first check only, so appending without checks
(deposits, the crash-test writer) starts fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from xmargin.core import InputError
from xmargin.instruments import Instrument
from xmargin.ledger._bands import check_funding_mark, check_settlement_price
from xmargin.ledger._events import Event, EventKind
from xmargin.ledger._fold import INSURANCE_ACCOUNT, AccountState, apply, instrument
from xmargin.ledger._money import debit_amount, parse_decimal, to_text
from xmargin.ledger._requests import (
    RESERVED_ACCOUNTS,
    check_account,
    check_asset,
    check_instrument,
    check_key,
    deposit_request,
    funding_request,
    liquidation_fill_request,
    settlement_request,
    trade_request,
    withdrawal_request,
)
from xmargin.ledger._rules import check_withdrawal_without_market, shrinks
from xmargin.ledger._write import LedgerBase, Receipt

if TYPE_CHECKING:
    from xmargin.ledger._checks import MarginAfter
    from xmargin.market import MarketSnapshot

__all__ = [
    "RESERVED_ACCOUNTS",
    "Ledger",
    "LedgerBase",
    "Receipt",
    "check_account",
    "check_asset",
    "check_instrument",
    "check_key",
]


def instrument_of(data: Mapping[str, str]) -> Instrument:
    """The instrument a request builder validated (``data["instrument"]``)."""
    return instrument(data["instrument"])


class Ledger(LedgerBase):
    """The account ledger on one database URL: the commands (see :class:`LedgerBase` for the arguments:
    ``model``, ``clock``, ``price_band``, ``max_index_move``, ``ephemeral``, ...)."""

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
        """Debit ``amount`` of ``asset`` (rounded up), refused if it exceeds the balance held of ``asset`` or
        would leave ``available < 0`` (the latter with a market; without one, only from an account holding
        no positions)."""
        account = check_account(account)
        data, request = withdrawal_request(asset, amount)
        coin = data["asset"]

        def check(before: AccountState, after: AccountState) -> MarginAfter | None:
            if market is None:
                check_withdrawal_without_market(before, after, coin)
                return None
            from xmargin.ledger._checks import check_withdrawal

            return check_withdrawal(before, after, coin, self.model, market)

        return self._submit(account, EventKind.WITHDRAWAL, data, request, key, check, market)

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
        ``price`` is outside the price band around the market's mark or the fill would leave
        ``available < 0``; a reduce-only fill in the band skips the margin check. Needs a market."""
        account = check_account(account)
        data, request = trade_request(instrument, size, price, fee)
        name, fill = data["instrument"], Decimal(data["price"])
        if market is None:
            raise InputError(where="market", expected="a market file to check the trade", found="none")

        def check(before: AccountState, after: AccountState) -> MarginAfter | None:
            from xmargin.ledger._checks import check_trade

            return check_trade(before, after, name, self.model, market, price=fill, band=self.price_band)

        return self._submit(account, EventKind.TRADE, data, request, key, check, market)

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
        """The pre-trade check alone (nothing written): the margin after, or ``RefusedError`` (the price band,
        the margin); the market is checked against the last accepted one (``InputError``) but not stored."""
        from xmargin.ledger._checks import check_trade

        account = check_account(account)
        data, _ = trade_request(instrument, size, price, fee)
        self._index_guard(market, "preview")
        before = self.state(account)
        ev = Event(account, before.version + 1, EventKind.TRADE, data, "preview", self.clock.now())
        after = apply(before, ev)
        fill = Decimal(data["price"])
        return check_trade(
            before, after, data["instrument"], self.model, market, price=fill, band=self.price_band
        )

    def funding(
        self,
        account: str,
        instrument: str,
        rate: object,
        mark_price: object,
        *,
        market: MarketSnapshot | None = None,
        key: str | None = None,
    ) -> Receipt:
        """A funding payment on a perpetual: rate × size × mark; a positive rate makes longs pay shorts.
        With a market, ``mark_price`` must lie in the futures band around the market's mark of the
        perpetual (``RefusedError`` otherwise); without one it is the venue's funding process's word."""
        account = check_account(account)
        data, request = funding_request(instrument, rate, mark_price)
        check = None
        if market is not None:
            inst, mark = instrument_of(data), Decimal(data["mark_price"])

            def check(before: AccountState, after: AccountState) -> MarginAfter | None:
                check_funding_mark(inst, mark, market, self.price_band)
                return None

        return self._submit(account, EventKind.FUNDING, data, request, key, check, market)

    def settle(
        self,
        account: str,
        instrument: str,
        price: object,
        *,
        market: MarketSnapshot | None = None,
        key: str | None = None,
    ) -> Receipt:
        """Settle the account's position in an expiring future or option at the settlement ``price`` (USD).
        With a market, ``price`` must lie in the futures band around the underlying's index
        (``RefusedError`` otherwise); without one it is the venue's settlement process's word."""
        account = check_account(account)
        data, request = settlement_request(instrument, price)
        check = None
        if market is not None:
            inst, settle_at = instrument_of(data), Decimal(data["price"])

            def check(before: AccountState, after: AccountState) -> MarginAfter | None:
                check_settlement_price(inst, settle_at, market, self.price_band)
                return None

        return self._submit(account, EventKind.SETTLEMENT, data, request, key, check, market)

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
        market: MarketSnapshot | None = None,
        key: str | None = None,
    ) -> Receipt:
        """A fill by the liquidation engine: signed ``size`` (coin) of ``instrument`` closed at ``price``
        (P&L against the clearing book, as a trade), with ``penalty`` (settlement asset, rounded up) paid to
        the insurance book, in one event. The size must reduce the position, never open, grow or flip it
        (bad input otherwise). No margin check: the liquidation engine decides. With a ``market``, the
        price must lie in the price band (``RefusedError`` otherwise, as for a trade); without one the
        price is unchecked (the liquidation engine's word). The penalty follows
        Deribit's liquidation fee, charged on top of the fill and added to the insurance fund
        (https://support.deribit.com/hc/en-us/articles/25944777576477-Insurance-Fund)."""
        account = check_account(account)
        data, request = liquidation_fill_request(instrument, size, price, penalty)
        name = data["instrument"]
        if market is not None:
            from xmargin.ledger._checks import check_live

            check_live(instrument_of(data), market)

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
            if market is not None:
                from xmargin.ledger._bands import check_fill_price

                check_fill_price(instrument_of(data), Decimal(data["price"]), market, self.price_band)
            return [(account, EventKind.LIQUIDATION_FILL, data)]

        return self._submit_linked(key, EventKind.LIQUIDATION_FILL, request, (account,), build, market)

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
