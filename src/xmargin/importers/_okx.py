"""OKX v5: ``account/positions``, ``account/balance`` and ``instruments`` responses → a portfolio file.

Sources, OKX API v5 (https://www.okx.com/docs-v5/en/):

- Trading Account › Get positions (``GET /api/v5/account/positions``): ``instType``, ``instId``, ``pos``
  ("quantity of positions"), ``posSide`` ("long, pos is positive; short, pos is positive; net ...: positive pos
  means long position and negative pos means short position"), ``avgPx`` ("under cross-margin mode, the entry
  price of expiry futures will update at settlement to the last settlement price"), ``markPx``, ``mgnMode``,
  ``margin`` ("margin, can be added or reduced. Only applicable to isolated"), ``imr`` ("initial margin
  requirement, only applicable to cross"), ``lever``, ``ccy`` ("currency used for margin").
- Trading Account › Get balance (``GET /api/v5/account/balance``): ``details[]`` with ``ccy``, ``cashBal``
  ("cash balance"), ``eq``, ``upl``.
- Get instruments (``GET /api/v5/public/instruments``, ``GET /api/v5/account/instruments``): ``ctVal``
  ("contract value"), ``ctMult``, ``ctValCcy`` ("contract value currency"), ``settleCcy``, ``expTime``.

Conventions (docs/import.md):

- ``pos`` counts contracts. The contract value comes from ``ctVal``/``ctMult``/``ctValCcy`` in the position
  record if there, else from an instruments response given as another FILE; without either it is bad input.
  Size in coin: ``pos × ctVal × ctMult`` when ``ctValCcy`` is the base coin; a contract valued in USD (the
  inverse ``BTC-USD-SWAP``: 100 USD) is converted at the entry price ``avgPx`` (exact for the engine's inverse
  P&L ``size × (1 − entry/mark)`` = USD × (1/entry − 1/mark)), or at ``markPx`` when there is none.
- Names: ``BTC-USDT-SWAP`` → ``BTC_USDT-PERPETUAL``; ``BTC-USD-SWAP`` → ``BTC-PERPETUAL`` (settles in BTC);
  ``BTC-USD-250328`` → ``BTC-28MAR25``; ``BTC-USD-250328-100000-C`` → ``BTC-28MAR25-100000-C``. OKX delivers at
  08:00 UTC; an ``expTime`` at another hour is bad input. ``MARGIN`` (spot borrowing) positions are refused.
- ``avg_price`` = ``avgPx`` and collateral = ``cashBal``: OKX keeps unrealised P&L out of ``cashBal`` (the
  documented example: ``eq`` = ``cashBal`` + ``upl`` + ``stgyEq``), and books the settled P&L of cross expiry
  futures into it while moving ``avgPx`` to the settlement price, so nothing is counted twice.
- Isolated positions carry ``isolated_margin`` = ``margin`` (the margin put in; ``imr`` is a requirement and
  only applies to cross), in USD: 1:1 from USDT/USDC, at ``markPx`` from a coin.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from xmargin.core import InputError
from xmargin.importers._book import Book, Leg
from xmargin.importers._common import (
    STABLECOINS,
    ImportResult,
    Node,
    Shown,
    SourceDocument,
    describe,
    expiry_from_yymmdd,
    instrument,
    product,
    unknown_document,
)

VENUE = "okx"
EXPECTED = (
    "an OKX v5 response: GET /api/v5/account/positions, /api/v5/account/balance or "
    '/api/v5/public/instruments ({"code": "0", "data": [...]}, or its data list)'
)
_COIN = re.compile(r"[A-Z][A-Z0-9]*", re.ASCII)
_STRIKE = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


@dataclass(frozen=True, slots=True)
class _Spec:
    """An instrument's contract value: ``value × multiplier`` units of ``currency`` per contract."""

    value: float
    multiplier: float
    currency: str
    settle: str | None
    expiry_ms: float | None


class _State:
    def __init__(self) -> None:
        self.positions: list[Node] = []
        self.balances = 0
        self.instruments: dict[str, Node] = {}
        self.converted: list[str] = []
        self.assumed_hour: list[str] = []


def import_okx(documents: Sequence[SourceDocument], *, account: str | None = None) -> ImportResult:
    """OKX responses (positions, balance, instruments, in any order) as one portfolio document."""
    if not documents:
        raise InputError(where="FILE", expected="at least one OKX response", found=Shown("none"))
    book = Book(VENUE)
    state = _State()
    for doc in documents:
        book.collect(_document, book, state, Node(doc.data, doc.label))
    for item in state.positions:
        book.collect(_position, book, state, item)
    if not book.errors:
        _warnings(book, state)
    return book.result(account or VENUE)


def _document(book: Book, state: _State, root: Node) -> None:
    node = root
    if isinstance(root.value, dict) and "code" in root.value and "data" in root.value:
        code = root.key("code")
        if code.value not in ("0", 0):
            raise InputError(
                where=code.where,
                expected='a successful OKX response (code "0")',
                found=Shown(f"code {describe(code.value)}: {describe(root.value.get('msg'))}"),
            )
        node = root.key("data")
    if not isinstance(node.value, list):
        raise unknown_document(root, EXPECTED)
    items = node.items()
    if not items:
        raise node.error(
            "a non-empty data list (an empty list cannot be told from other exports; with no open positions, "
            "give the balance alone)"
        )
    first = items[0].value
    if isinstance(first, dict) and "details" in first:
        state.balances += 1
        for item in items:
            for detail in item.key("details").items():
                book.collect(_detail, book, detail)
    elif isinstance(first, dict) and "instId" in first and "pos" in first:
        state.positions.extend(items)
    elif isinstance(first, dict) and "instId" in first and "ctVal" in first:
        for item in items:
            inst_id = item.key("instId").value
            if isinstance(inst_id, str):
                state.instruments.setdefault(inst_id, item)
    else:
        raise unknown_document(root, EXPECTED)


def _detail(book: Book, node: Node) -> None:
    book.balance(node.key("ccy"), node.key("cashBal").number())


def _parse_id(
    node: Node, inst_id: str, inst_type: str
) -> tuple[str, str, datetime | None, float | None, bool]:
    """``BTC-USD-250328-100000-C`` → ``("BTC", "USD", 2025-03-28 08:00 UTC, 100000.0, True)``."""
    parts = inst_id.split("-")
    forms = {"SWAP": "BTC-USDT-SWAP", "FUTURES": "BTC-USD-250328", "OPTION": "BTC-USD-250328-100000-C"}
    ok = (
        (inst_type == "SWAP" and len(parts) == 3 and parts[2] == "SWAP")
        or (inst_type == "FUTURES" and len(parts) == 3)
        or (
            inst_type == "OPTION"
            and len(parts) == 5
            and parts[4] in ("C", "P")
            and _STRIKE.fullmatch(parts[3])
        )
    )
    if not ok or not all(_COIN.fullmatch(p) for p in parts[:2]):
        raise node.error(f"an instId like {forms[inst_type]} for instType {inst_type}")
    expiry = None if inst_type == "SWAP" else expiry_from_yymmdd(parts[2], node)
    strike = float(parts[3]) if inst_type == "OPTION" else None
    if strike is not None and not 0 < strike < float("inf"):
        raise node.error("a strike > 0")
    return parts[0], parts[1], expiry, strike, inst_type == "OPTION" and parts[4] == "C"


def _spec(node: Node, state: _State, inst_id: str) -> _Spec:
    source = node if node.has("ctVal") else state.instruments.get(inst_id)
    if source is None:
        raise InputError(
            where=node.key("ctVal").where,
            expected=(
                f"the contract value of {inst_id}: ctVal and ctValCcy in the position, or the "
                "GET /api/v5/public/instruments response as another FILE"
            ),
            found=Shown("nothing"),
        )
    return _Spec(
        value=source.key("ctVal").positive(),
        multiplier=source.key("ctMult").opt_positive() or 1.0,
        currency=source.key("ctValCcy").text(),
        settle=source.key("settleCcy").opt_text(),
        expiry_ms=source.key("expTime").opt_number(),
    )


def _check_expiry(node: Node, spec: _Spec, expiry: datetime, label: str, state: _State) -> None:
    if spec.expiry_ms is None:
        state.assumed_hour.append(label)
        return
    try:
        actual = datetime.fromtimestamp(spec.expiry_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise InputError(
            where=node.where, expected="expTime in Unix milliseconds", found=spec.expiry_ms
        ) from None
    if actual != expiry:
        raise InputError(
            where=node.where,
            expected=f"{label} expiring at 08:00 UTC on its date (the only expiry hour xmargin can name)",
            found=Shown(f"expTime {actual:%Y-%m-%d %H:%M} UTC"),
        )


def _position(book: Book, state: _State, node: Node) -> None:
    id_node = node.key("instId")
    inst_id = id_node.text()
    pos_node = node.key("pos")
    pos = pos_node.number()
    side_node = node.key("posSide")
    side = "net" if side_node.blank else side_node.text()
    if side not in ("net", "long", "short"):
        raise side_node.error("net, long or short")
    label = inst_id if side == "net" else f"{inst_id} {side}"
    if pos == 0:
        book.zero(label)
        return
    if side != "net" and pos < 0:
        raise pos_node.error(f"pos > 0 on the {side} side")
    contracts = -pos if side == "short" else pos
    type_node = node.key("instType")
    inst_type = type_node.text()
    if inst_type not in ("SWAP", "FUTURES", "OPTION"):
        raise type_node.error("SWAP, FUTURES or OPTION (MARGIN spot-borrowing positions are not imported)")
    base, quote, expiry, strike, is_call = _parse_id(id_node, inst_id, inst_type)
    spec = _spec(node, state, inst_id)
    settle = spec.settle or (base if quote == "USD" else quote)
    if settle == base and quote == "USD":
        root_quote = None
    elif settle == quote or (quote == "USD" and settle in STABLECOINS):
        root_quote = settle
    else:
        raise id_node.error(f"a contract settled in its base or quote coin (it settles in {settle})")
    if expiry is not None:
        source = node if node.has("ctVal") else state.instruments[inst_id]
        _check_expiry(source.key("expTime"), spec, expiry, inst_id, state)
    inst = instrument(
        id_node, inst_id, base=base, quote=root_quote, expiry=expiry, strike=strike, is_call=is_call
    )
    avg = node.key("avgPx").opt_positive()
    mark = node.key("markPx").opt_positive()
    face = product(contracts, spec.value, spec.multiplier)
    if spec.currency == base:
        size = face
    elif spec.currency in (quote, "USD") and strike is None:
        price = avg or mark
        if price is None:
            raise node.key("avgPx").error(
                f"an entry or mark price, to convert {inst_id}'s USD contracts to coin"
            )
        size = face / price
        state.converted.append(label)
    else:
        raise id_node.error(f"a contract valued in {base} or USD (ctValCcy is {spec.currency})")
    isolated, margin, lever = _isolation(node, book, base, mark)
    book.leg(
        Leg(
            inst,
            size,
            node.where,
            label,
            side=side,
            avg_price=avg,
            isolated=isolated,
            isolated_margin=margin,
            leverage=lever,
            mark=mark,
        )
    )


def _isolation(
    node: Node, book: Book, base: str, mark: float | None
) -> tuple[bool, float | None, float | None]:
    mode_node = node.key("mgnMode")
    mode = mode_node.text()
    if mode not in ("cross", "isolated"):
        raise mode_node.error("cross or isolated")
    if mode == "cross":
        return False, None, None
    lever = node.key("lever").opt_positive()
    margin_node = node.key("margin")
    margin = margin_node.opt_positive()
    if margin is None:
        return True, None, lever
    ccy_node = node.key("ccy")
    ccy = ccy_node.text()
    if ccy not in STABLECOINS and ccy != base:
        raise ccy_node.error(f"a margin currency of USDT, USDC or {base}")
    return True, book.isolated_margin_usd(margin, ccy, node, "markPx", mark, need="the mark price"), lever


def _warnings(book: Book, state: _State) -> None:
    if state.balances == 0:
        book.warn("no account/balance response was given: collateral holds no balances")
    if not state.positions:
        book.warn("no account/positions response was given: the portfolio holds balances only")
    if state.converted:
        book.warn(
            f"{', '.join(state.converted)}: contracts valued in USD converted to coin at the entry price avgPx "
            "(at markPx where there is none)"
        )
    if state.assumed_hour:
        book.warn(
            f"{', '.join(state.assumed_hour)}: no expTime in the files; taken to expire at 08:00 UTC, "
            "OKX's delivery time"
        )
