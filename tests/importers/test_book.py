"""Netting hedge-mode sides keeps unrealised P&L exact under the engine's own conventions (identities)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from xmargin.importers._book import Book, Leg
from xmargin.instruments import parse_name

TOL = 1e-9
prices = st.floats(min_value=1.0, max_value=1e6, allow_nan=False)
sizes = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)


def upl(name: str, size: float, entry: float, mark: float) -> float:
    """The engine's unrealised P&L (``liquidation.settle_at_mark``): linear in the quote, inverse in coin."""
    inst = parse_name(name)
    return size * (1.0 - entry / mark) if inst.inverse else size * (mark - entry)


def net(name: str, long: tuple[float, float], short: tuple[float, float], mark: float) -> tuple[float, float]:
    """(P&L of the netted document at ``mark``, P&L settled into collateral)."""
    inst = parse_name(name)
    book = Book("test")
    book.leg(Leg(inst, long[0], "l", "X", side="long", avg_price=long[1], mark=mark))
    book.leg(Leg(inst, -short[0], "s", "X", side="short", avg_price=short[1], mark=mark))
    doc = book.result("a").portfolio
    settled = sum(doc["collateral"].values())
    spec = doc["positions"].get(name)
    if spec is None:
        return 0.0, settled
    if isinstance(spec, float):
        return 0.0, settled  # entered at mark: no P&L left in the position
    return upl(name, spec["size"], spec.get("avg_price", mark), mark), settled


@given(
    long=st.tuples(sizes, prices),
    short=st.tuples(sizes, prices),
    mark=prices,
    name=st.sampled_from(["BTC-PERPETUAL", "BTC_USDT-PERPETUAL"]),
)
def test_netted_sides_keep_their_pnl(
    long: tuple[float, float], short: tuple[float, float], mark: float, name: str
) -> None:
    before = upl(name, long[0], long[1], mark) + upl(name, -short[0], short[1], mark)
    kept, settled = net(name, long, short, mark)
    scale = max(1.0, abs(long[0] * long[1]), abs(short[0] * short[1]))
    assert math.isclose(kept + settled, before, rel_tol=TOL, abs_tol=TOL * scale)


def test_equal_linear_sides_settle_without_a_mark() -> None:
    book = Book("test")
    inst = parse_name("SOL_USDT-PERPETUAL")
    book.leg(Leg(inst, 10.0, "l", "SOL", side="long", avg_price=150.0))
    book.leg(Leg(inst, -10.0, "s", "SOL", side="short", avg_price=160.0))
    assert book.result("a").portfolio == {"account": "a", "collateral": {"USDT": 100.0}, "positions": {}}
