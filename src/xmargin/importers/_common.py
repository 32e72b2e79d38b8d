"""What the venue importers share: the result type, located access to parsed JSON, and the names.

Every importer reads parsed JSON (``object``) through :class:`Node`, which knows the file and the JSON path of
each value, so that every problem is reported as ``FILE: json.path: expected X, found Y`` (FORMATS.md, exit
status 2). The positions it reads become :class:`~xmargin.importers._book.Leg` values in a
:class:`~xmargin.importers._book.Book`, which writes the FORMATS.md portfolio document.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import NotRequired, TypedDict

from xmargin.core import InputError
from xmargin.instruments import Instrument, Kind, format_expiry, format_name, format_strike, parse_name

STABLECOINS = frozenset({"USD", "USDT", "USDC"})
"""Settlement and margin assets that an isolated margin (FORMATS.md: in USD) is taken from at 1:1."""


class PositionDoc(TypedDict):
    """One position of a FORMATS.md portfolio file written as a mapping (sizes in coin, prices in USD)."""

    size: float
    avg_price: NotRequired[float]
    leverage: NotRequired[float]
    isolated_margin: NotRequired[float]


class PortfolioDoc(TypedDict):
    """A FORMATS.md portfolio file: plain JSON types, ready for ``json.dumps`` or ``yaml.safe_dump``."""

    account: str
    collateral: dict[str, float]
    positions: dict[str, float | PositionDoc]


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One parsed venue export and the label its errors are located by (the file as given, ``<stdin>``)."""

    label: str
    data: object


@dataclass(frozen=True, slots=True)
class ImportResult:
    """A venue's export as a FORMATS.md portfolio document, and one plain sentence per assumption made."""

    portfolio: PortfolioDoc
    warnings: tuple[str, ...]


class _Missing:
    """A key absent from a JSON object (as opposed to present with ``null``)."""

    def __repr__(self) -> str:
        return "nothing"


MISSING = _Missing()


class Shown:
    """A description printed as written in an error's ``found`` (a plain ``str`` would be quoted)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def describe(value: object) -> object:
    """What an error shows of a JSON value: short, one line, never the whole document."""
    if value is MISSING:
        return Shown("nothing")
    if value is None:
        return Shown("null")
    if isinstance(value, bool):
        return Shown("true" if value else "false")
    if isinstance(value, int):
        return value if abs(value) < 10**30 else Shown("a very large integer")
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return value if len(value) <= 60 else value[:57] + "..."
    if isinstance(value, dict):
        if not value:
            return Shown("an empty object")
        keys = [str(k)[:30] for k in list(value)[:6]]
        more = ", ..." if len(value) > 6 else ""
        return Shown(f"an object with keys {', '.join(keys)}{more}")
    if isinstance(value, list):
        return Shown(f"a list of {len(value)} items" if value else "an empty list")
    return Shown(type(value).__name__)


_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


@dataclass(frozen=True, slots=True)
class Node:
    """A parsed JSON value with the file and JSON path it came from (``positions.json: result[3].size``)."""

    value: object
    source: str
    path: str = ""

    @property
    def where(self) -> str:
        return f"{self.source}: {self.path}" if self.path else self.source

    def error(self, expected: str) -> InputError:
        return InputError(where=self.where, expected=expected, found=describe(self.value))

    @property
    def blank(self) -> bool:
        """Absent, ``null`` or ``""`` (OKX writes ``""`` for a field that does not apply)."""
        return self.value is MISSING or self.value is None or self.value == ""

    def has(self, name: str) -> bool:
        return isinstance(self.value, dict) and name in self.value

    def key(self, name: str) -> Node:
        """The member ``name`` of this object (``MISSING`` if absent); not an object is bad input."""
        if not isinstance(self.value, dict):
            raise self.error("a JSON object")
        path = f"{self.path}.{name}" if self.path else name
        return Node(self.value.get(name, MISSING), self.source, path)

    def items(self) -> list[Node]:
        if not isinstance(self.value, list):
            raise self.error("a JSON list")
        return [Node(v, self.source, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.error("a non-empty string")
        return self.value.strip()

    def opt_text(self) -> str | None:
        return None if self.blank else self.text()

    def number(self, what: str = "a number") -> float:
        """A finite number, written as a JSON number or as a decimal string (Binance and OKX quote numbers);
        ``what`` says what it is in the error."""
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise self.error(what)
        if isinstance(v, str):
            if not _NUMBER_TEXT.fullmatch(v):
                raise self.error(what)
            x = float(v)
        elif isinstance(v, int):
            try:
                x = float(v)
            except OverflowError:
                raise self.error("a finite number") from None
        else:
            x = v
        if not math.isfinite(x):
            raise self.error("a finite number")
        return x

    def opt_number(self) -> float | None:
        return None if self.blank else self.number()

    def positive(self) -> float:
        x = self.number()
        if x <= 0:
            raise self.error("a number > 0")
        return x

    def opt_positive(self) -> float | None:
        """A price or margin that may be absent; ``0`` (Binance's "no entry price") counts as absent."""
        x = self.opt_number()
        if x is None or x == 0:
            return None
        if x < 0:
            raise self.error("a number > 0")
        return x

    def flag(self) -> bool:
        """``true``/``false``, also written as strings (Binance's ``"isAutoAddMargin": "false"``)."""
        if isinstance(self.value, bool):
            return self.value
        if self.value in ("true", "false"):
            return self.value == "true"
        raise self.error("true or false")


def product(*factors: float) -> float:
    """The product of numbers as written in decimal, rounded once (``3 × 0.1`` is ``0.3``, not
    ``0.30000000000000004``): contract counts times contract values stay as the venue wrote them."""
    with localcontext() as ctx:
        ctx.prec = 40
        p = Decimal(1)
        for f in factors:
            p *= Decimal(repr(float(f)))
    return float(p)


def exact_sum(*terms: float) -> float:
    """The sum of numbers as written in decimal, rounded once (``0.011 − 0.001`` is ``0.01``)."""
    with localcontext() as ctx:
        ctx.prec = 40
        total = sum((Decimal(repr(float(t))) for t in terms), Decimal(0))
    return float(total)


def expiry_from_yymmdd(text: str, node: Node) -> datetime:
    """``250328`` → 2025-03-28 08:00 UTC: the venues read here (Binance, OKX) deliver at 08:00 UTC."""
    if not re.fullmatch(r"[0-9]{6}", text, re.ASCII):
        raise InputError(where=node.where, expected="an expiry date as YYMMDD like 250328", found=text)
    try:
        return datetime(2000 + int(text[:2]), int(text[2:4]), int(text[4:]), 8, tzinfo=UTC)
    except ValueError:
        raise InputError(where=node.where, expected="an expiry on a real calendar date", found=text) from None


def instrument(
    node: Node,
    label: str,
    *,
    base: str,
    quote: str | None,
    expiry: datetime | None = None,
    strike: float | None = None,
    is_call: bool | None = None,
) -> Instrument:
    """The Deribit-style instrument (FORMATS.md) for a venue's contract; ``quote`` is the settlement asset of a
    linear contract and ``None`` for an inverse one. Anything the naming cannot express is bad input that
    names the venue's own ``label``."""
    root = base if quote is None else f"{base}_{quote}"
    if expiry is None:
        name = f"{root}-PERPETUAL"
    elif strike is None:
        name = f"{root}-{format_expiry(expiry)}"
    else:
        name = f"{root}-{format_expiry(expiry)}-{format_strike(strike)}-{'C' if is_call else 'P'}"
    return canonical(name, node, label)


def canonical(name: str, node: Node, label: str) -> Instrument:
    """The derivative named ``name``, if its canonical name reads back as itself (a strike of 1e-05 would
    print as ``1e-05``, which no name can hold); otherwise bad input naming the venue's ``label``."""
    try:
        inst = parse_name(name)
        if inst.kind is Kind.SPOT:
            raise InputError(where=node.where, expected="a derivative", found=name)
        if parse_name(format_name(inst)) != inst:
            raise InputError(where=node.where, expected="a strike that can be written in a name", found=name)
    except InputError as exc:
        raise InputError(
            where=node.where, expected=f"an instrument xmargin can name ({exc.expected})", found=label
        ) from None
    return inst


_MULTIPLIED = re.compile(r"(10+)([A-Z][A-Z0-9]*)", re.ASCII)


def split_multiplier(base: str, node: Node) -> tuple[str, int]:
    """``1000PEPE`` → ``("PEPE", 1000)``: a contract on a round multiple of a coin, as Binance lists small
    coins; any other base starting with a digit cannot be named."""
    many = _MULTIPLIED.fullmatch(base)
    if many is not None:
        return many.group(2), int(many.group(1))
    if not base[:1].isalpha():
        raise node.error("a base coin starting with a letter, or a 10/100/1000... multiple of one")
    return base, 1


def asset_code(node: Node) -> str:
    """A collateral asset as a FORMATS.md coin code (``BTC``, ``USDT``)."""
    code = node.text()
    try:
        inst = parse_name(code)
    except InputError:
        raise node.error("an asset code like BTC or USDT (upper case, starting with a letter)") from None
    if inst.kind is not Kind.SPOT:
        raise node.error("an asset code like BTC or USDT")
    return inst.base


def _first(value: object) -> object:
    return value[0] if isinstance(value, list) and value else None


def looks_like(value: object) -> Shown | None:
    """What a document seems to be, when it is another venue's (or another endpoint's) export."""
    item = _first(value)
    if isinstance(value, dict):
        if "jsonrpc" in value or ("currency" in value and "balance" in value):
            return Shown("a Deribit JSON-RPC response")
        if "code" in value and "msg" in value and "data" in value:
            return Shown("an OKX v5 response")
        if "code" in value and "msg" in value:
            return Shown(
                f"a Binance error response (code {describe(value['code'])}: {describe(value['msg'])})"
            )
        if "assets" in value or "totalWalletBalance" in value:
            return Shown("a Binance account response")
        if "total" in value and "free" in value:
            return Shown("a CCXT fetch_balance structure")
    if isinstance(item, dict):
        if "instrument_name" in item:
            return Shown("a Deribit positions list")
        if "positionAmt" in item:
            return Shown("a Binance positionRisk list")
        if "instId" in item:
            return Shown("an OKX data list")
        if "contracts" in item or "contractSize" in item:
            return Shown("a CCXT fetch_positions list")
    return None


def unknown_document(node: Node, expected: str) -> InputError:
    """A document of none of the shapes ``expected``: say what it seems to be instead."""
    found = looks_like(node.value)
    return InputError(where=node.where, expected=expected, found=found or describe(node.value))
