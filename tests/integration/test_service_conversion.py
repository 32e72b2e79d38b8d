"""Collateral conversion in the service's liquidation (docs/liquidation.md "Conversion"): a cross-margin
account's other collateral covers a deficit in a settlement coin before anything becomes bad debt.

The book: bob holds USDC only and is long 5 BTC-PERPETUAL (Deribit's inverse perpetual, P&L in BTC) from
95010; a tick takes the BTC index from 95000 to 71250. Golden numbers are closed forms, computed here in
Decimal with the ledger's rounding rule written out (an account's change rounded toward minus infinity):

- the mark moves with the index (the market's basis is proportional): 95010 × 71250 / 95000 = 71257.5;
- the inverse P&L of closing 5 at that mark: 5 × (1 − 95010 / 71257.5) = −5/3 BTC, floored to 1e-8;
- the liquidation penalty (the engine's default, ``CexConfig().penalty`` of the notional at the index,
  Deribit's 0.75% BTC liquidation fee) in BTC: penalty × 5, rounded up;
- a conversion of what bob owes at the index 71250: USDC given = ⌈BTC owed × 71250⌉ (1e-6), or all his
  USDC, then BTC received = ⌊USDC × 1 / 71250⌋ (1e-8).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from xmargin.cli import app as cli_app
from xmargin.ledger import CONVERSION_ACCOUNT, INSURANCE_ACCOUNT, Ledger
from xmargin.liquidation import CexConfig
from xmargin.market import MarketSnapshot, load_market
from xmargin.service import KeyStore, Scope, create_app

ROOT = Path(__file__).resolve().parents[2]
INVERSE = "BTC-PERPETUAL"
INDEX = Decimal("71250")
BTC_UNIT, USDC_UNIT = Decimal("1e-8"), Decimal("1e-6")
ENTRY = Decimal("95010")


def floor(x: Decimal, unit: Decimal) -> Decimal:
    return x.quantize(unit, rounding=ROUND_FLOOR)


def ceil(x: Decimal, unit: Decimal) -> Decimal:
    return x.quantize(unit, rounding=ROUND_CEILING)


MARK = ENTRY * INDEX / Decimal("95000")
PNL_BTC = floor(5 * (1 - ENTRY / MARK), BTC_UNIT)  # -1.66666667


@pytest.fixture(scope="module")
def market() -> MarketSnapshot:
    return load_market(ROOT / "examples" / "market.yaml")


class Book:
    def __init__(self, tmp: Path, market: MarketSnapshot, bob_usdc: str) -> None:
        self.db = tmp / "ledger.db"
        self.ledger = Ledger(f"sqlite:///{self.db}")
        self.ledger.deposit("bob", "USDC", bob_usdc)
        self.ledger.deposit(INSURANCE_ACCOUNT, "USDC", "100000")
        self.ledger.trade("bob", INVERSE, "5", str(ENTRY), market=market)
        self.keys = KeyStore(self.ledger.store, kdf="scrypt:1024:8:1")
        self.admin = self.keys.create("venue", Scope.ADMIN).key
        self.market = market

    def tick(self) -> dict[str, object]:
        with TestClient(create_app(self.ledger, self.keys, self.market)) as c:
            return self.post_tick(c)

    def post_tick(self, c: TestClient) -> dict[str, object]:
        r = c.post("/v1/ticks", headers={"X-API-Key": self.admin}, json={"prices": {"BTC": float(INDEX)}})
        assert r.status_code == 200, r.text
        doc: dict[str, object] = r.json()
        return doc

    def balance(self, account: str, asset: str) -> Decimal:
        return self.ledger.state(account).balance(asset)

    def sums(self) -> dict[str, Decimal]:
        """Σ balances per asset over every account, the venue's own included."""
        out: dict[str, Decimal] = {}
        for a in self.ledger.accounts():
            for asset, v in self.ledger.state(a).balances.items():
                out[asset] = out.get(asset, Decimal(0)) + v
        return out


@pytest.fixture
def book(tmp_path: Path, market: MarketSnapshot) -> Iterator[Book]:
    b = Book(tmp_path, market, "100000")
    yield b
    b.ledger.close()


def _fill(book: Book) -> dict[str, str]:
    fills = [e for e in book.ledger.events("bob") if e.kind.value == "liquidation_fill"]
    assert len(fills) == 1
    return dict(fills[0].data)


def test_collateral_covers_the_coin_deficit_before_bad_debt(book: Book) -> None:
    held_before, sums_before = dict(book.ledger.venue_totals().held), book.sums()
    c = TestClient(create_app(book.ledger, book.keys, book.market))
    with c, c.websocket_connect("/v1/stream", headers={"X-API-Key": book.admin}) as ws:
        assert ws.receive_json()["type"] == "hello"
        assert book.post_tick(c)["liquidated"] == ["bob"]
        msg = ws.receive_json()
        while msg["type"] != "liquidation":
            msg = ws.receive_json()
    fill = _fill(book)
    assert Decimal(fill["price"]) == MARK and Decimal(fill["size"]) == -5
    assert Decimal(fill["penalty"]) == 0  # no margin left to take a penalty from
    # bob's 100000 USDC buy ⌊100000 / 71250⌋ BTC; what is left of the -5/3 BTC is the bad debt
    bought = floor(Decimal(100000) / INDEX, BTC_UNIT)
    debt = -PNL_BTC - bought
    assert (bought, debt) == (Decimal("1.40350877"), Decimal("0.26315790"))  # the closed form, printed
    bob = book.ledger.state("bob")
    assert bob.balance("USDC") == 0 and bob.balance("BTC") == 0 and not bob.positions
    assert bob.losses["bad_debt"]["BTC"] == debt and bob.bad_debt_outstanding("BTC") == 0
    # the insurance fund (USDC) buys the debt's BTC through the desk: its USD value, rounded up
    fund_paid = ceil(debt * INDEX, USDC_UNIT)
    assert book.balance(INSURANCE_ACCOUNT, "USDC") == Decimal(100000) - fund_paid
    assert book.balance(INSURANCE_ACCOUNT, "BTC") == 0
    assert fund_paid == Decimal("18750.000375")
    # the stream's liquidation message, in USD at the index
    assert msg["converted_usd"] == pytest.approx(float(bought * INDEX), rel=1e-12)  # 99999.999...
    assert msg["bad_debt_usd"] == pytest.approx(float(debt * INDEX), rel=1e-12)  # 18750.0002
    assert msg["insurance_fund_used_usd"] == pytest.approx(float(debt * INDEX), rel=1e-12)
    assert msg["adl_usd"] == 0 and msg["socialized_loss_usd"] == 0
    # the desk: +USDC, -BTC, netting to zero in USD at the index within one unit of each per conversion
    desk = book.ledger.state(CONVERSION_ACCOUNT)
    assert desk.balance("USDC") == Decimal(100000) + fund_paid and desk.balance("BTC") == PNL_BTC
    net_usd = desk.balance("USDC") + desk.balance("BTC") * INDEX
    assert 0 <= net_usd <= 2 * (BTC_UNIT * INDEX + USDC_UNIT)
    # money: balances plus the venue's books unchanged per asset, exactly; balances alone moved only by the
    # clearing book, which holds bob's realised loss for the perpetual's counterparties
    totals = book.ledger.venue_totals()
    assert totals.conservation_gap() == {} and totals.bad_debt_gap() == {}
    assert {a: totals.held.get(a, 0) for a in ("BTC", "USDC")} == {
        a: held_before.get(a, 0) for a in ("BTC", "USDC")
    }
    sums = book.sums()
    assert sums["USDC"] == sums_before["USDC"]
    assert sums["BTC"] == sums_before.get("BTC", 0) - totals.books["clearing"]["BTC"] == PNL_BTC
    assert sum(totals.books["conversion"].values()) == 0 and totals.outstanding["BTC"] == 0
    kinds = [e.kind.value for e in book.ledger.events("bob")][-4:]
    assert kinds == ["liquidation_fill", "conversion", "bad_debt", "cover_received"]


def test_a_retried_tick_converts_nothing_twice_and_the_chain_verifies(book: Book) -> None:
    book.tick()
    n = book.ledger.store.count_events()
    assert book.tick()["liquidated"] == []
    assert book.ledger.store.count_events() == n
    assert book.ledger.store.verify_chain().ok
    book.ledger.close()
    out = CliRunner().invoke(cli_app, ["ledger", "verify", "--db", str(book.db), "--json"])
    assert out.exit_code == 0, out.output
    # the proof of liabilities leaves the venue's own accounts out: the desk's negative BTC is no liability
    with Ledger(f"sqlite:///{book.db}") as ledger:
        tree = ledger.liabilities_tree()
        assert set(tree.leaves) == {"bob"}
        assert {a: Decimal(v) for a, v in tree.totals().items()} == {"BTC": 0, "USDC": 0}


def test_collateral_that_covers_the_loss_leaves_no_bad_debt(tmp_path: Path, market: MarketSnapshot) -> None:
    b = Book(tmp_path, market, "125000")
    try:
        assert b.tick()["liquidated"] == ["bob"]
        fill = _fill(b)
        penalty = ceil(Decimal(repr(CexConfig().penalty)) * 5, BTC_UNIT)  # of 5 × 71250 USD, in BTC
        assert Decimal(fill["penalty"]) == penalty == Decimal("0.0375")
        owed = -PNL_BTC + penalty
        paid = ceil(owed * INDEX, USDC_UNIT)
        bob = b.ledger.state("bob")
        assert bob.balance("BTC") == 0 and bob.balance("USDC") == Decimal(125000) - paid
        assert paid == Decimal("121421.875238")  # bob keeps 3578.124762 USDC
        assert not bob.losses["bad_debt"] and b.balance(INSURANCE_ACCOUNT, "USDC") == 100000
        desk = b.ledger.state(CONVERSION_ACCOUNT)
        assert (desk.balance("USDC"), desk.balance("BTC")) == (paid, -owed)
        totals = b.ledger.venue_totals()
        assert totals.conservation_gap() == {} and totals.bad_debt_gap() == {}
    finally:
        b.ledger.close()
