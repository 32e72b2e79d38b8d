"""The ``conversion`` event in the fold: double entry through the ``conversion`` book, the venue's side
favoured (hand-computed amounts at stated index prices), refusals of what a client may not do, and the desk
``~conversion`` allowed below zero."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.ledger.test_fold import Events
from xmargin.ledger import CONVERSION_ACCOUNT, EventKind, LedgerCorruptError, conservation_gap, venue_totals

D = Decimal


def convert(ev: Events, give: tuple[str, str, str], get: tuple[str, str, str], other: str) -> Events:
    return ev.add(
        EventKind.CONVERSION,
        asset_from=give[0],
        amount_from=give[1],
        price_from=give[2],
        asset_to=get[0],
        amount_to=get[1],
        price_to=get[2],
        counterparty=other,
    )


def test_a_conversion_and_its_mirror_conserve_every_asset() -> None:
    # 1000 USDC at 1 buy at most 1000 / 80000 = 0.0125 BTC; the desk takes the mirror side
    client = convert(
        Events("bob").deposit("USDC", "1000"),
        ("USDC", "1000", "1"),
        ("BTC", "0.0125", "80000"),
        CONVERSION_ACCOUNT,
    )
    desk = convert(Events(CONVERSION_ACCOUNT), ("BTC", "0.0125", "80000"), ("USDC", "1000", "1"), "bob")
    bob, book = client.state(), desk.state()
    assert (bob.balance("USDC"), bob.balance("BTC")) == (0, D("0.0125"))
    assert (book.balance("USDC"), book.balance("BTC")) == (D(1000), D("-0.0125"))  # the desk may go negative
    assert conservation_gap(bob) == {} and conservation_gap(book) == {}
    totals = venue_totals([bob, book])
    assert totals.conservation_gap() == {} and all(v == 0 for v in totals.books["conversion"].values())


@pytest.mark.parametrize(
    ("give", "get", "other", "message"),
    [
        (
            ("USDC", "1000", "1"),
            ("BTC", "0.01250001", "80000"),
            CONVERSION_ACCOUNT,
            "favours",
        ),  # 1 sat too many
        (("USDC", "1000.000001", "1"), ("BTC", "0.0125", "80000"), CONVERSION_ACCOUNT, "exceeds the balance"),
        (("USDC", "1000", "1"), ("BTC", "0.0125", "80000"), "carol", "must be"),
        (("USDC", "1000", "1"), ("USDC", "1000", "1"), CONVERSION_ACCOUNT, "two assets"),
        (("USDC", "1000", "1"), ("BTC", "0.0125", "-80000"), CONVERSION_ACCOUNT, "positive prices"),
        (("USDC", "0.0000001", "1"), ("BTC", "0.0125", "80000"), CONVERSION_ACCOUNT, "multiple of its unit"),
    ],
)
def test_a_client_conversion_that_favours_the_client_is_corrupt(
    give: tuple[str, str, str], get: tuple[str, str, str], other: str, message: str
) -> None:
    ev = convert(Events("bob").deposit("USDC", "1000"), give, get, other)
    with pytest.raises(LedgerCorruptError, match=message):
        ev.state()


def test_the_desk_never_gives_more_value_than_it_receives() -> None:
    desk = convert(Events(CONVERSION_ACCOUNT), ("BTC", "0.01250001", "80000"), ("USDC", "1000", "1"), "bob")
    with pytest.raises(LedgerCorruptError, match="favours"):
        desk.state()
