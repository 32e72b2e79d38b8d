"""Binance USDⓈ-M futures: ``positionRisk`` and ``account`` responses (V2 or V3) → a portfolio file.

Sources, Binance Open Platform (https://developers.binance.com/docs/derivatives/usds-margined-futures/):

- trade/rest-api/Position-Information-V2 (``GET /fapi/v2/positionRisk``) and Position-Information-V3
  (``GET /fapi/v3/positionRisk``): ``symbol``, ``positionAmt``, ``entryPrice``, ``markPrice``,
  ``unRealizedProfit``, ``marginType`` (V2 only), ``isolatedMargin``, ``isolatedWallet``, ``leverage`` (V2
  only), ``positionSide`` (``BOTH`` in one-way mode; ``LONG`` and ``SHORT`` in hedge mode).
- account/rest-api/Account-Information-V2 / V3 (``GET /fapi/v2/account``, ``/fapi/v3/account``):
  ``assets[]`` with ``asset``, ``walletBalance``, ``unrealizedProfit``, ``marginBalance`` (= wallet balance +
  unrealised profit); ``positions[]`` (V2 with ``entryPrice`` and ``isolated``; V3 without either).

Conventions (docs/import.md):

- Symbols: ``BTCUSDT`` → ``BTC_USDT-PERPETUAL``; ``BTCUSDT_250328`` → ``BTC_USDT-28MAR25`` (quarterly
  contracts deliver at 08:00 UTC); ``1000PEPEUSDT`` (a contract on 1,000 PEPE) → ``PEPE_USDT-PERPETUAL``, size
  × 1000 and prices ÷ 1000. COIN-M symbols (``BTCUSD_PERP``) are not USDⓈ-M and are refused.
- Size: ``positionAmt`` (coin, signed); hedge-mode ``LONG`` and ``SHORT`` sides are netted (a warning says so).
- ``avg_price`` = ``entryPrice``: Binance keeps unrealised P&L out of ``walletBalance``, so P&L from the entry
  price is counted once. A position without an entry price (V3 account) enters at mark and its
  ``unrealizedProfit`` is added to collateral instead.
- Collateral: ``walletBalance`` of each asset in ``assets`` (cross and isolated wallets together).
- Isolated positions (``marginType`` isolated; V3 has no ``marginType``: a nonzero ``isolatedWallet``)
  carry ``isolated_margin`` = ``isolatedWallet``, the margin put in (``isolatedMargin`` also moves with
  unrealised P&L, which the engine counts from ``avg_price``); USDT and USDC are taken as USD at 1:1. Cross
  positions carry neither ``isolated_margin`` nor ``leverage``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from xmargin.core import InputError
from xmargin.importers._book import Book, Leg
from xmargin.importers._common import (
    ImportResult,
    Node,
    Shown,
    SourceDocument,
    describe,
    expiry_from_yymmdd,
    instrument,
    product,
    split_multiplier,
    unknown_document,
)

VENUE = "binance"
EXPECTED = (
    "a Binance USDⓈ-M response: GET /fapi/v2|v3/positionRisk (a list of positions) "
    "or GET /fapi/v2|v3/account (an object with assets)"
)
_SYMBOL = re.compile(r"([A-Z0-9]+?)(USDT|USDC|BUSD)(?:_([0-9]{6}))?", re.ASCII)
_SIDES = {"BOTH": "net", "LONG": "long", "SHORT": "short"}


class _State:
    def __init__(self) -> None:
        self.risk_files = 0
        self.accounts = 0
        self.account_positions: list[Node] = []
        self.guessed_isolation = False
        self.at_mark: list[str] = []


def import_binance(documents: Sequence[SourceDocument], *, account: str | None = None) -> ImportResult:
    """Binance USDⓈ-M responses (positionRisk and account, in any order) as one portfolio document."""
    if not documents:
        raise InputError(where="FILE", expected="at least one Binance response", found=Shown("none"))
    book = Book(VENUE)
    state = _State()
    for doc in documents:
        book.collect(_document, book, state, Node(doc.data, doc.label))
    if state.risk_files == 0 and state.account_positions:
        for positions in state.account_positions:
            for item in positions.items():
                book.collect(_position, book, state, item)
        if book.n_legs:
            book.warn("no positionRisk response was given: positions are taken from the account response")
    if not book.errors:
        _warnings(book, state)
    return book.result(account or VENUE)


def _document(book: Book, state: _State, node: Node) -> None:
    value = node.value
    if isinstance(value, dict) and "code" in value and "msg" in value and "assets" not in value:
        raise InputError(
            where=node.where,
            expected="a successful Binance response",
            found=Shown(f"error code {describe(value['code'])}: {describe(value['msg'])}"),
        )
    if isinstance(value, list):
        items = node.items()
        if not items:
            raise node.error(
                "a non-empty positionRisk list (an empty list cannot be told from other exports; with no open "
                "positions, give the account response alone)"
            )
        if not (isinstance(items[0].value, dict) and "positionAmt" in items[0].value):
            raise unknown_document(node, EXPECTED)
        state.risk_files += 1
        for item in items:
            book.collect(_position, book, state, item)
    elif isinstance(value, dict) and "assets" in value:
        state.accounts += 1
        for item in node.key("assets").items():
            book.collect(_asset, book, item)
        if node.has("positions"):
            node.key("positions").items()  # a list, or bad input now
            state.account_positions.append(node.key("positions"))
    else:
        raise unknown_document(node, EXPECTED)


def _asset(book: Book, node: Node) -> None:
    book.balance(node.key("asset"), node.key("walletBalance").number())


def _symbol(node: Node, symbol: str) -> tuple[str, str, datetime | None, int]:
    """``1000PEPEUSDT_250328`` → ``("PEPE", "USDT", 2025-03-28 08:00 UTC, 1000)``."""
    m = _SYMBOL.fullmatch(symbol)
    if m is None:
        raise node.error(
            "a USDⓈ-M symbol like BTCUSDT or BTCUSDT_250328 (COIN-M and spot symbols are not imported)"
        )
    base, quote, date = m.group(1), m.group(2), m.group(3)
    expiry = None if date is None else expiry_from_yymmdd(date, node)
    base, multiplier = split_multiplier(base, node)
    return base, quote, expiry, multiplier


def _isolated(node: Node, state: _State) -> bool:
    if node.has("marginType"):
        mode_node = node.key("marginType")
        mode = mode_node.text().lower()
        if mode not in ("isolated", "cross", "crossed"):
            raise mode_node.error("isolated or cross")
        return mode == "isolated"
    if node.has("isolated"):
        return node.key("isolated").flag()
    wallet = node.key("isolatedWallet").opt_number()
    if wallet:
        state.guessed_isolation = True
        return True
    return False


def _position(book: Book, state: _State, node: Node) -> None:
    symbol_node = node.key("symbol")
    symbol = symbol_node.text()
    amount_node = node.key("positionAmt")
    amount = amount_node.number()
    side_node = node.key("positionSide")
    side = "BOTH" if side_node.blank else side_node.text()
    if side not in _SIDES:
        raise side_node.error("BOTH, LONG or SHORT")
    label = symbol if side == "BOTH" else f"{symbol} {side}"
    if amount == 0:
        book.zero(label)
        return
    if side == "LONG" and amount < 0:
        raise amount_node.error("a positionAmt > 0 on the LONG side")
    if side == "SHORT":
        amount = -abs(amount)  # Binance writes hedge-mode shorts as negative amounts
    base, quote, expiry, multiplier = _symbol(symbol_node, symbol)
    inst = instrument(symbol_node, symbol, base=base, quote=quote, expiry=expiry)
    entry = node.key("entryPrice").opt_positive()
    mark = node.key("markPrice").opt_positive()
    isolated = _isolated(node, state)
    margin = lever = None
    if isolated:
        margin = node.key("isolatedWallet").opt_positive()
        lever = node.key("leverage").opt_positive()
        if margin is not None:
            book.isolated_margin_at_par(quote)
    if entry is None:
        key = "unRealizedProfit" if node.has("unRealizedProfit") else "unrealizedProfit"
        upl = node.key(key).opt_number()
        if upl:
            book.pnl(quote, upl)
        state.at_mark.append(label)
    if multiplier != 1:
        book.warn(f"{symbol}: a contract on {multiplier} {base}; size × {multiplier}, prices ÷ {multiplier}")
    book.leg(
        Leg(
            inst,
            product(amount, multiplier),
            node.where,
            label,
            side=_SIDES[side],
            avg_price=None if entry is None else entry / multiplier,
            isolated=isolated,
            isolated_margin=margin,
            leverage=lever,
            mark=None if mark is None else mark / multiplier,
        )
    )


def _warnings(book: Book, state: _State) -> None:
    if state.accounts == 0:
        book.warn("no account response was given: collateral holds no balances")
    if state.risk_files == 0 and not book.n_legs:
        book.warn("no positionRisk response was given: the portfolio holds balances only")
    if state.guessed_isolation:
        book.warn(
            "the V3 response has no marginType: positions with a nonzero isolatedWallet are taken as isolated"
        )
    if state.at_mark:
        book.warn(
            f"{', '.join(state.at_mark)}: no entryPrice, so they enter at mark and their unrealised profit is "
            "added to collateral"
        )
