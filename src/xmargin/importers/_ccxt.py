"""CCXT unified structures: ``fetch_positions`` and ``fetch_balance`` results (as JSON) → a portfolio file.

Sources, the CCXT Manual (https://docs.ccxt.com/#/README, also ``wiki/Manual.md`` in ccxt/ccxt):

- "Position Structure": ``symbol``, ``side`` (long or short), ``contracts`` ("number of contracts bought, aka
  the amount or size of the position"), ``contractSize`` ("the size of one contract in quote units" in the
  example, an inverse ``BTC/USD`` contract of 100 USD), ``entryPrice``, ``markPrice``, ``unrealizedPnl``,
  ``collateral`` ("the maximum amount of collateral that can be lost, affected by pnl"), ``initialMargin``,
  ``leverage``, ``marginMode`` (cross or isolated), ``isolated`` and ``hedged`` (booleans).
- "Market Structure": ``contractSize`` "the size of one contract"; ``linear`` "settled in quote currency",
  ``inverse`` "settled in base currency". "Contract naming conventions": ``BASE/QUOTE:SETTLE`` for perpetual
  swaps, ``-YYMMDD`` for futures, ``-YYMMDD-STRIKE-C|P`` for options.
- "Balance Structure": ``free``, ``used``, ``total`` ("total (free + used), by currency").

Conventions (docs/import.md):

- ``BTC/USDT:USDT`` → ``BTC_USDT-PERPETUAL``; ``BTC/USD:BTC`` → ``BTC-PERPETUAL``;
  ``BTC/USDT:USDT-250328`` → ``BTC_USDT-28MAR25``; ``BTC/USD:BTC-250328-100000-C`` → ``BTC-28MAR25-100000-C``.
  A symbol carries the expiry date only: it is taken at 08:00 UTC (a warning says so). A contract settled in a
  third currency (a quanto) cannot be named.
- Size: ``contracts × contractSize`` coin, signed by ``side``. An inverse future or perpetual's
  ``contractSize`` is in the quote currency (USD): that size is converted to coin at ``entryPrice`` (exact for
  the engine's inverse P&L), or at ``markPrice`` without one; options' ``contractSize`` is in the base coin.
- ``avg_price`` = ``entryPrice``; collateral = ``total`` per currency. CCXT's ``total`` is each exchange's
  own total: where it includes unrealised P&L (a margin balance or equity), P&L from ``avg_price`` is counted
  twice; a warning says so whenever both are imported, and the venue importers avoid it.
- ``marginMode`` isolated (or ``isolated`` true): ``isolated_margin`` = ``collateral − unrealizedPnl``, the
  margin put in, in the settlement currency (USD 1:1 from USD/USDT/USDC, at the mark from a coin); without
  ``collateral``, the position's ``leverage``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from xmargin.core import InputError
from xmargin.importers._book import Book, Leg
from xmargin.importers._common import (
    ImportResult,
    Node,
    Shown,
    SourceDocument,
    exact_sum,
    expiry_from_yymmdd,
    instrument,
    product,
    split_multiplier,
    unknown_document,
)

VENUE = "ccxt"
EXPECTED = "a CCXT fetch_positions list or fetch_balance structure, as JSON"
_SYMBOL = re.compile(
    r"([A-Z0-9]+)/([A-Z][A-Z0-9]*):([A-Z][A-Z0-9]*)(?:-([0-9]{6})(?:-([0-9]+(?:\.[0-9]+)?)-([CP]))?)?",
    re.ASCII,
)
# fmt: off
POSITION_KEYS = frozenset((
    "info", "id", "symbol", "timestamp", "datetime", "isolated", "hedged", "side", "contracts", "contractSize",
    "entryPrice", "markPrice", "lastPrice", "notional", "leverage", "collateral", "initialMargin",
    "initialMarginPercentage", "maintenanceMargin", "maintenanceMarginPercentage", "unrealizedPnl",
    "realizedPnl", "liquidationPrice", "marginMode", "marginRatio", "percentage", "lastUpdateTimestamp",
    "stopLossPrice", "takeProfitPrice", "margin", "marginType",
))
"""The keys of CCXT's unified position structure (the Manual's, and those ``ccxt`` adds in its code)."""
# fmt: on


class _State:
    def __init__(self) -> None:
        self.position_files = 0
        self.balances = 0
        self.priced = False
        self.dated: list[str] = []
        self.converted: list[str] = []
        self.unknown: set[str] = set()
        self.conflicts: list[str] = []


def import_ccxt(documents: Sequence[SourceDocument], *, account: str | None = None) -> ImportResult:
    """CCXT ``fetch_positions`` / ``fetch_balance`` results (in any order) as one portfolio document."""
    if not documents:
        raise InputError(where="FILE", expected="at least one CCXT structure", found=Shown("none"))
    book = Book(VENUE)
    state = _State()
    for doc in documents:
        book.collect(_document, book, state, Node(doc.data, doc.label))
    if not book.errors:
        _warnings(book, state)
    return book.result(account or VENUE)


def _document(book: Book, state: _State, node: Node) -> None:
    value = node.value
    if isinstance(value, list):
        items = node.items()
        if not items:
            raise node.error(
                "a non-empty fetch_positions list (an empty list cannot be told from other exports; with no "
                "open positions, give the balance alone)"
            )
        if not (isinstance(items[0].value, dict) and "contracts" in items[0].value):
            raise unknown_document(node, EXPECTED)
        state.position_files += 1
        for item in items:
            book.collect(_position, book, state, item)
    elif isinstance(value, dict) and isinstance(value.get("total"), dict):
        state.balances += 1
        total = node.key("total")
        assert isinstance(total.value, dict)
        for asset in total.value:
            book.collect(_total, book, total, str(asset))
    else:
        raise unknown_document(node, EXPECTED)


def _total(book: Book, total: Node, asset: str) -> None:
    amount = total.key(asset)
    if not amount.blank:
        book.balance(Node(asset, total.source, amount.path), amount.number())


def _isolated(node: Node, state: _State, label: str) -> bool:
    mode_node = node.key("marginMode")
    flag_node = node.key("isolated")
    flag = None if flag_node.blank else flag_node.flag()
    if mode_node.blank:
        return bool(flag)
    mode = mode_node.text().lower()
    if mode not in ("isolated", "cross"):
        raise mode_node.error("isolated or cross")
    if flag is not None and flag != (mode == "isolated"):
        state.conflicts.append(label)
    return mode == "isolated"


def _position(book: Book, state: _State, node: Node) -> None:
    if isinstance(node.value, dict):
        state.unknown.update(str(k) for k in node.value if k not in POSITION_KEYS)
    symbol_node = node.key("symbol")
    symbol = symbol_node.text()
    contracts_node = node.key("contracts")
    contracts = contracts_node.number()
    if contracts == 0:
        book.zero(symbol)
        return
    side_node = node.key("side")
    side = side_node.text().lower() if not side_node.blank else ""
    if side not in ("long", "short"):
        raise side_node.error("long or short")
    label = f"{symbol} {side}"
    if contracts < 0 and side == "long":
        raise contracts_node.error("contracts > 0 on a long position")
    m = _SYMBOL.fullmatch(symbol)
    if m is None:
        raise symbol_node.error(
            "a contract symbol like BTC/USDT:USDT, BTC/USD:BTC-250328 or BTC/USD:BTC-250328-100000-C"
        )
    base, quote, settle, date, strike, option = m.groups()
    base, multiplier = split_multiplier(base, symbol_node)
    if settle == base and quote == "USD":
        root_quote = None
    elif settle == quote:
        root_quote = settle
    else:
        raise symbol_node.error(f"a contract settled in its base or quote coin (it settles in {settle})")
    expiry = None if date is None else expiry_from_yymmdd(date, symbol_node)
    if expiry is not None:
        state.dated.append(symbol)
    inst = instrument(
        symbol_node,
        symbol,
        base=base,
        quote=root_quote,
        expiry=expiry,
        strike=None if strike is None else float(strike),
        is_call=option == "C",
    )
    entry = node.key("entryPrice").opt_positive()
    mark = node.key("markPrice").opt_positive()
    count = -abs(contracts) if side == "short" else contracts
    face = product(count, node.key("contractSize").positive(), multiplier)
    if root_quote is None and strike is None:
        price = entry or mark
        if price is None:
            raise node.key("entryPrice").error(
                f"an entry or mark price, to convert {symbol}'s USD contracts to coin"
            )
        size = face / price
        state.converted.append(symbol)
    else:
        size = face
    state.priced = state.priced or entry is not None
    isolated = _isolated(node, state, label)
    margin, lever = _margin(node, book, settle, mark or entry) if isolated else (None, None)
    book.leg(
        Leg(
            inst,
            size,
            node.where,
            label,
            side=side,
            avg_price=None if entry is None else entry / multiplier,
            isolated=isolated,
            isolated_margin=margin,
            leverage=lever,
            mark=None if mark is None else mark / multiplier,
        )
    )


def _margin(node: Node, book: Book, settle: str, price: float | None) -> tuple[float | None, float | None]:
    lever = node.key("leverage").opt_positive()
    collateral = node.key("collateral").opt_number()
    if collateral is None:
        return None, lever
    margin = exact_sum(collateral, -(node.key("unrealizedPnl").opt_number() or 0.0))
    if margin <= 0:
        return None, lever
    usd = book.isolated_margin_usd(margin, settle, node, "markPrice", price, need="a mark or entry price")
    return usd, lever


def _warnings(book: Book, state: _State) -> None:
    if state.balances == 0:
        book.warn("no fetch_balance structure was given: collateral holds no balances")
    if state.position_files == 0:
        book.warn("no fetch_positions list was given: the portfolio holds balances only")
    if state.balances and state.priced:
        book.warn(
            "collateral is CCXT's total per currency, which some exchanges report with unrealised P&L included; "
            "positions carry entryPrice as avg_price, so check the exchange's definition (or use its own importer)"
        )
    if state.dated:
        book.warn(f"{', '.join(state.dated)}: a CCXT symbol gives the expiry date only; taken at 08:00 UTC")
    if state.converted:
        book.warn(
            f"{', '.join(state.converted)}: contractSize is in USD for inverse contracts; converted to coin at "
            "entryPrice (at markPrice where there is none)"
        )
    if state.conflicts:
        book.warn(f"{', '.join(state.conflicts)}: marginMode and isolated disagree; marginMode is used")
    if state.unknown:
        book.warn(f"keys outside CCXT's position structure ignored: {', '.join(sorted(state.unknown)[:10])}")
