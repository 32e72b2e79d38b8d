"""The fold: trades, funding, settlement, fees and liquidations derive balances and positions exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from xmargin.ledger import AccountState, Event, EventKind, LedgerCorruptError, apply, conservation_gap, replay

T0 = datetime(2026, 11, 25, 8, tzinfo=UTC)
D = Decimal


class Events:
    """Builds one account's events with consecutive sequence numbers."""

    def __init__(self, account: str = "a") -> None:
        self.account = account
        self.items: list[Event] = []

    def add(self, kind: EventKind, **data: str) -> Events:
        n = len(self.items) + 1
        self.items.append(Event(self.account, n, kind, data, f"{self.account}-{n}", T0))
        return self

    def deposit(self, asset: str, amount: str) -> Events:
        return self.add(EventKind.DEPOSIT, asset=asset, amount=amount, requested=amount)

    def trade(self, inst: str, size: str, price: str, fee: str = "0") -> Events:
        return self.add(EventKind.TRADE, instrument=inst, size=size, price=price, fee=fee)

    def state(self) -> AccountState:
        return replay(self.items, self.account)


def test_deposit_withdraw() -> None:
    ev = (
        Events().deposit("BTC", "1.5").add(EventKind.WITHDRAWAL, asset="BTC", amount="0.25", requested="0.25")
    )
    s = ev.state()
    assert s.balance("BTC") == D("1.25") and s.version == 2
    assert s.deposited["BTC"] == D("1.5") and s.withdrawn["BTC"] == D("0.25")


def test_linear_future_average_and_realised_pnl() -> None:
    ev = Events().deposit("USDC", "100000")
    ev.trade("BTC_USDC-PERPETUAL", "1", "90000").trade("BTC_USDC-PERPETUAL", "1", "100000")
    s = ev.state()
    assert s.positions["BTC_USDC-PERPETUAL"].size == D(2)
    assert s.positions["BTC_USDC-PERPETUAL"].avg_price == D(95000)
    ev.trade("BTC_USDC-PERPETUAL", "-0.5", "97000", fee="1.5")  # realise 0.5 × 2000
    s = ev.state()
    assert s.balance("USDC") == D("100000") + D(1000) - D("1.5")
    assert s.positions["BTC_USDC-PERPETUAL"].avg_price == D(95000)  # kept while shrinking
    assert s.venue["fees"]["USDC"] == D("1.5") and s.venue["clearing"]["USDC"] == D(-1000)
    ev.trade("BTC_USDC-PERPETUAL", "-2.5", "96000")  # close 1.5 (+1500), flip to -1 at 96000
    s = ev.state()
    assert s.positions["BTC_USDC-PERPETUAL"].size == D(-1)
    assert s.positions["BTC_USDC-PERPETUAL"].avg_price == D(96000)
    assert s.balance("USDC") == D("102498.5")
    assert conservation_gap(s) == {}


def test_inverse_pnl_in_coin_rounds_down() -> None:
    ev = (
        Events()
        .deposit("BTC", "1")
        .trade("BTC-PERPETUAL", "1", "90000")
        .trade("BTC-PERPETUAL", "-1", "100000")
    )
    s = ev.state()
    # 1 × (1 − 90000/100000) = 0.1 BTC exactly
    assert s.balance("BTC") == D("1.1") and "BTC-PERPETUAL" not in s.positions
    ev2 = (
        Events()
        .deposit("BTC", "1")
        .trade("BTC-PERPETUAL", "1", "90000")
        .trade("BTC-PERPETUAL", "-1", "70000")
    )
    # 1 × (1 − 90000/70000) = −0.285714285714... → debited rounded up to −0.28571429
    assert ev2.state().balance("BTC") == D("1") - D("0.28571429")
    ev3 = (
        Events()
        .deposit("BTC", "1")
        .trade("BTC-PERPETUAL", "1", "70000")
        .trade("BTC-PERPETUAL", "-1", "90000")
    )
    # +0.222222222... credited rounded down to 0.22222222
    assert ev3.state().balance("BTC") == D("1.22222222")
    assert conservation_gap(ev3.state()) == {}


def test_option_premium_and_settlement_intrinsic() -> None:
    ev = Events().deposit("USDC", "10000").trade("ETH_USDC-27DEC26-4000-P", "-10", "300")  # receive 3000
    assert ev.state().balance("USDC") == D(13000)
    ev.add(EventKind.SETTLEMENT, instrument="ETH_USDC-27DEC26-4000-P", price="3800")  # pay 10 × 200
    s = ev.state()
    assert s.balance("USDC") == D(11000) and not s.positions
    inv = Events().deposit("BTC", "1").trade("BTC-27DEC26-100000-C", "2", "0.05")  # pay 0.1 BTC
    inv.add(EventKind.SETTLEMENT, instrument="BTC-27DEC26-100000-C", price="125000")
    # intrinsic in coin: 2 × 25000 / 125000 = 0.4 BTC
    assert inv.state().balance("BTC") == D("1.3")
    otm = Events().deposit("BTC", "1").trade("BTC-27DEC26-100000-C", "1", "0.01")
    otm.add(EventKind.SETTLEMENT, instrument="BTC-27DEC26-100000-C", price="90000")
    assert otm.state().balance("BTC") == D("0.99")


def test_future_settlement_linear_and_inverse() -> None:
    lin = Events().deposit("USDC", "0.5").trade("BTC_USDC-27DEC26", "-2", "95000")
    lin.add(EventKind.SETTLEMENT, instrument="BTC_USDC-27DEC26", price="94000")
    assert lin.state().balance("USDC") == D("2000.5")
    inv = Events().deposit("BTC", "1").trade("BTC-27DEC26", "1", "80000")
    inv.add(EventKind.SETTLEMENT, instrument="BTC-27DEC26", price="100000")
    assert inv.state().balance("BTC") == D("1.2")


def test_funding_positive_rate_longs_pay_shorts() -> None:
    long = Events().deposit("USDC", "1000").trade("BTC_USDC-PERPETUAL", "2", "95000")
    long.add(EventKind.FUNDING, instrument="BTC_USDC-PERPETUAL", rate="0.0001", mark_price="100000")
    assert long.state().balance("USDC") == D(1000) - D(20)  # 0.0001 × 2 × 100000
    short = Events("b").deposit("BTC", "1").trade("BTC-PERPETUAL", "-3", "95000")
    short.add(EventKind.FUNDING, instrument="BTC-PERPETUAL", rate="0.0001", mark_price="100000")
    assert short.state().balance("BTC") == D("1.0003")  # inverse: rate × size in coin
    neg = Events("c").deposit("USDC", "1000").trade("BTC_USDC-PERPETUAL", "1", "95000")
    neg.add(EventKind.FUNDING, instrument="BTC_USDC-PERPETUAL", rate="-0.00000001", mark_price="95000.5")
    # long receives 0.00095... → credited rounded down to 0.00095 (6 dp)
    assert neg.state().balance("USDC") == D("1000.000950")


def test_fee_and_liquidation_go_to_venue_books() -> None:
    ev = Events().deposit("BTC", "1").add(EventKind.FEE, asset="BTC", amount="0.001", reason="x")
    ev.add(EventKind.LIQUIDATION, asset="BTC", amount="0.5")
    s = ev.state()
    assert s.balance("BTC") == D("0.499")
    assert s.venue["fees"]["BTC"] == D("0.001") and s.venue["insurance"]["BTC"] == D("0.5")
    assert conservation_gap(s) == {}


def test_incremental_apply_equals_full_replay() -> None:
    ev = Events().deposit("USDC", "50000").trade("BTC_USDC-PERPETUAL", "0.3", "95000.5", "0.01")
    ev.trade("BTC_USDC-PERPETUAL", "-0.1", "96000.25").deposit("BTC", "0.1")
    ev.add(EventKind.FUNDING, instrument="BTC_USDC-PERPETUAL", rate="0.0003", mark_price="95500")
    s = AccountState("a")
    for e in ev.items:
        s = apply(s, e)
    assert s == ev.state()
    assert replay(ev.items[2:], replay(ev.items[:2], "a")) == s


def test_corrupt_event_streams_fail_fast() -> None:
    ev = Events().deposit("BTC", "1").deposit("BTC", "1")
    with pytest.raises(LedgerCorruptError, match="seq"):
        replay([ev.items[1]], "a")
    with pytest.raises(LedgerCorruptError, match="folded into"):
        replay(ev.items, "b")
    bad = Event("a", 1, EventKind.DEPOSIT, {"asset": "BTC"}, "k", T0)
    with pytest.raises(LedgerCorruptError, match="lacks"):
        replay([bad], "a")
    nan = Event("a", 1, EventKind.DEPOSIT, {"asset": "BTC", "amount": "x", "requested": "x"}, "k", T0)
    with pytest.raises(LedgerCorruptError):
        replay([nan], "a")
