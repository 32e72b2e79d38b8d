"""A generated book written into a ledger (tests and benchmarks of the service's tick path).

:func:`write_book` turns each account of a :class:`xmargin.risk.Book` (e.g. ``engine.generate_book``'s) into
ledger events: a deposit per positive collateral balance and a trade per derivative position at the market's
fill price (futures at mark, options at their mark premium in the settlement asset), without fee. Events are
appended directly (:meth:`EventStore.append_all`, ``batch`` accounts per transaction), skipping the
pre-trade checks: a generated book is the venue's state as given, and some of its accounts may already be
below maintenance. Negative collateral (a loan) and options whose mark rounds to zero are left out.
"""

from __future__ import annotations

from decimal import Decimal

from xmargin.instruments import Kind
from xmargin.ledger import Event, EventKind, Ledger
from xmargin.ledger._requests import deposit_request, fingerprint, trade_request
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, fill_price


def _text(x: float) -> str:
    return format(Decimal(f"{x:.8f}").normalize(), "f")


def write_book(ledger: Ledger, book: Book, market: MarketSnapshot, *, batch: int = 500) -> int:
    """Write ``book`` into ``ledger`` (module docstring); returns the number of events."""
    now = ledger.clock.now()
    items: list[tuple[Event, int]] = []
    count = 0
    for row in range(book.n_accounts):
        pf = book.portfolio(row)
        parts: list[tuple[EventKind, dict[str, str], dict[str, str]]] = []
        for asset, amount in pf.collateral.items():
            if amount > 0 and _text(amount) != "0":
                data, req = deposit_request(asset, _text(amount))
                parts.append((EventKind.DEPOSIT, data, req))
        for p in pf.positions:
            if p.instrument.kind is Kind.SPOT:
                continue
            size, price = _text(p.size_coin), fill_price(p.instrument, market)
            if size in ("0", "-0") or not price > 0 or _text(price) == "0":
                continue
            data, req = trade_request(p.instrument.name, size, _text(price), "0")
            parts.append((EventKind.TRADE, data, req))
        for i, (kind, data, req) in enumerate(parts):
            payload = {**data, "request": fingerprint(pf.account, kind, req)}
            items.append((Event(pf.account, i + 1, kind, payload, f"book-{pf.account}-{i}", now), i))
        count += len(parts)
        if row % batch == batch - 1:
            ledger.store.append_all(items)
            items = []
    if items:
        ledger.store.append_all(items)
    return count
