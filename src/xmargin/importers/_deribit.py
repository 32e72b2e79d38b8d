"""Deribit: ``private/get_positions`` and ``private/get_account_summary`` responses → a portfolio file.

Sources, Deribit API v2 reference (https://docs.deribit.com/):

- ``private/get_positions`` (api-reference/account-management/private-get_positions): ``size`` is "position
  size for futures size in quote currency (e.g. USD), for options size is in base currency (e.g. BTC)";
  ``size_currency`` "only for futures, position size in base currency"; ``average_price``, ``kind``,
  ``direction`` (buy, sell or zero), ``floating_profit_loss``, ``settlement_price``, ``total_profit_loss``.
  ``private/get_position`` returns one such object.
- ``private/get_account_summary`` / ``private/get_account_summaries`` (same section): per ``currency``,
  ``balance``, ``equity``, ``futures_session_rpl``, ``futures_session_upl``, ``options_value``.
- Contract specifications (https://www.deribit.com/docs/contract-specifications/): "Daily settlements at
  8.00 UTC ... At settlement your session profits/losses will be booked to your BTC cash balance."

Conventions (docs/import.md):

- **Collateral** of a currency is ``balance + futures_session_rpl``: the cash, with the session's realised
  futures P&L that the next settlement books into it. Not ``equity``: equity also holds the options' value and
  the futures' unrealised P&L, which the engine counts from the positions themselves (counting them twice
  otherwise). The documented example shows the split: ``equity = balance + futures_session_upl +
  futures_session_rpl + options_value`` (302.60065765 + 0.05921555 − 0.03258105 − 0.0086 = 302.61869215;
  the page prints 302.61869214).
- **Futures and perpetuals**: the size is ``size_currency`` (coin; Deribit quotes inverse futures in USD
  contracts). They enter at mark, without ``avg_price``, and their ``floating_profit_loss`` (the P&L since the
  last settlement, not yet in ``balance``) is added to the collateral of their settlement currency. An
  ``avg_price`` of ``average_price`` would count again the P&L already booked into ``balance`` at every
  settlement since entry: the documented position has ``floating_profit_loss`` 0 with ``mark_price`` equal to
  ``settlement_price``, while ``total_profit_loss`` is its P&L since entry at ``average_price``.
- **Options**: ``size`` (coin); ``avg_price`` is ``average_price``, the premium per coin in the settlement
  currency (coin for inverse options); it does not change equity (options count at mark).
- Deribit margins an account as a whole: no position is written as isolated.
"""

from __future__ import annotations

from collections.abc import Sequence

from xmargin.core import InputError
from xmargin.importers._book import Book, Leg
from xmargin.importers._common import (
    ImportResult,
    Node,
    Shown,
    SourceDocument,
    asset_code,
    canonical,
    describe,
    unknown_document,
)
from xmargin.instruments import Kind

VENUE = "deribit"
EXPECTED = (
    "a Deribit private/get_positions or private/get_account_summary(ies) response "
    "(the JSON-RPC response or its bare result)"
)


class _State:
    """What the documents held, for the cross-checks and warnings at the end."""

    def __init__(self) -> None:
        self.position_files = 0
        self.summaries: dict[str, float | None] = {}  # currency -> futures_session_upl
        self.floating: dict[str, float] = {}  # settlement currency -> Σ floating_profit_loss
        self.rpl = False


def import_deribit(documents: Sequence[SourceDocument], *, account: str | None = None) -> ImportResult:
    """Deribit responses (positions and account summaries, in any order) as one portfolio document."""
    book = Book(VENUE)
    state = _State()
    if not documents:
        raise InputError(where="FILE", expected="at least one Deribit response", found=Shown("none"))
    for doc in documents:
        book.collect(_document, book, state, Node(doc.data, doc.label))
    if not book.errors:
        _warnings(book, state)
    return book.result(account or VENUE)


def _result(node: Node) -> Node:
    """The ``result`` of a JSON-RPC response; a bare result as is; an ``error`` response is bad input."""
    if not (isinstance(node.value, dict) and ({"jsonrpc", "result", "error"} & set(node.value))):
        return node
    error = node.key("error")
    if not error.blank:
        if isinstance(error.value, dict):
            code, message = error.value.get("code"), error.value.get("message")
            found = Shown(f"error {describe(code)}: {describe(message)}")
        else:
            found = Shown(f"error {describe(error.value)}")
        raise InputError(where=error.where, expected="a successful response (with a result)", found=found)
    result = node.key("result")
    if result.blank:
        raise result.error("the response's result")
    return result


def _document(book: Book, state: _State, root: Node) -> None:
    node = _result(root)
    value = node.value
    if isinstance(value, list):
        items = node.items()
        if not items:
            raise node.error(
                "a non-empty private/get_positions result (an empty list cannot be told from other exports; "
                "with no open positions, give the account summary alone)"
            )
        if not (isinstance(items[0].value, dict) and "instrument_name" in items[0].value):
            raise unknown_document(node, EXPECTED)
        state.position_files += 1
        for item in items:
            book.collect(_position, book, state, item)
    elif isinstance(value, dict) and "instrument_name" in value:
        state.position_files += 1
        _position(book, state, node)
    elif isinstance(value, dict) and "summaries" in value:
        for item in node.key("summaries").items():
            book.collect(_summary, book, state, item)
    elif isinstance(value, dict) and "currency" in value and ("balance" in value or "equity" in value):
        _summary(book, state, node)
    else:
        raise unknown_document(node, EXPECTED)


def _position(book: Book, state: _State, node: Node) -> None:
    name_node = node.key("instrument_name")
    label = name_node.text()
    size_node = node.key("size")
    size = size_node.number("the signed size (a number)")
    direction = node.key("direction")
    if not direction.blank:
        side = direction.text()
        if side not in ("buy", "sell", "zero"):
            raise direction.error("buy, sell or zero")
        if (side == "buy" and size < 0) or (side == "sell" and size > 0) or (side == "zero" and size != 0):
            raise size_node.error(f"a size whose sign agrees with direction {side}")
    if size == 0:
        book.zero(label)
        return
    kind_node = node.key("kind")
    kind = kind_node.text()
    if kind not in ("future", "option"):
        raise kind_node.error(f"future or option (xmargin cannot express a {kind} position of {label})")
    inst = canonical(label, name_node, label)
    wanted = (Kind.FUTURE, Kind.PERPETUAL) if kind == "future" else (Kind.OPTION,)
    if inst.kind not in wanted:
        raise name_node.error(f"the name of a {kind}, as kind says")
    if kind == "option":
        avg = node.key("average_price").opt_positive()
        book.leg(Leg(inst, size, node.where, label, avg_price=avg))
        return
    coin_node = node.key("size_currency")
    coin = coin_node.number("the size in coin (a number)")
    if coin == 0 or (coin > 0) != (size > 0):
        raise coin_node.error(f"the size in coin, with the sign of size ({size:g})")
    floating = node.key("floating_profit_loss").number("the P&L since the last settlement (a number)")
    asset = inst.settlement_asset()
    mark = node.key("mark_price").opt_positive()
    book.leg(Leg(inst, coin, node.where, label, mark=mark))
    book.pnl(asset, floating)
    state.floating[asset] = state.floating.get(asset, 0.0) + floating


def _summary(book: Book, state: _State, node: Node) -> None:
    currency = node.key("currency")
    code = asset_code(currency)
    balance = node.key("balance").number()
    rpl = node.key("futures_session_rpl").opt_number()
    upl = node.key("futures_session_upl").opt_number()
    if code in state.summaries:
        raise currency.error(f"one account summary per currency (a second {code} summary)")
    book.balance(currency, balance)
    state.summaries[code] = upl
    if rpl:
        book.pnl(code, rpl)
        state.rpl = True


def _warnings(book: Book, state: _State) -> None:
    if state.position_files == 0:
        book.warn("no private/get_positions response was given: the portfolio holds balances only")
    if not state.summaries:
        book.warn("no private/get_account_summary response was given: collateral holds no balances")
    if state.floating:
        book.warn(
            "futures enter at mark without avg_price, and their P&L since the last 08:00 UTC settlement "
            "(floating_profit_loss) is added to collateral: Deribit books futures P&L into balance at every "
            "settlement, so P&L counted from average_price would count it twice"
        )
    if state.rpl:
        book.warn(
            "collateral = balance + futures_session_rpl (realised futures P&L booked at the next settlement)"
        )
    for asset, floating in sorted(state.floating.items()):
        if state.summaries and asset not in state.summaries:
            book.warn(
                f"futures settle in {asset} but no {asset} account summary was given: "
                f"collateral {asset} holds only their unsettled P&L"
            )
            continue
        upl = state.summaries.get(asset)
        if upl is not None and abs(floating - upl) > 1e-8 + 1e-6 * abs(upl):
            book.warn(
                f"{asset} futures' floating_profit_loss sums to {floating:.8g} but the account summary's "
                f"futures_session_upl is {upl:.8g}: the positions may be partial or from another moment"
            )
