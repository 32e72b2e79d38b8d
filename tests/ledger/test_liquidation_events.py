"""Liquidation fills, bad debt and its cover (insurance fund, ADL, socialized loss): hand-computed numbers,
rounding direction, refusals that write nothing, and the venue-wide identities."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.ledger.test_fold import Events
from xmargin.core import InputError
from xmargin.ledger import (
    INSURANCE_ACCOUNT,
    EventKind,
    Ledger,
    LedgerCorruptError,
    conservation_gap,
    venue_totals,
)
from xmargin.ledger._schema import events as events_table
from xmargin.market import MarketSnapshot

D = Decimal
PERP = "BTC_USDC-PERPETUAL"


# -- the fold ------------------------------------------------------------------------------------------------
def test_liquidation_fill_realises_pnl_and_pays_the_penalty_in_one_event() -> None:
    ev = Events().deposit("USDC", "10000").trade(PERP, "2", "95000")
    ev.add(EventKind.LIQUIDATION_FILL, instrument=PERP, size="-0.5", price="90000", penalty="337.5")
    s = ev.state()
    # realised 0.5 × (90000 − 95000) = −2500 to clearing; penalty 337.5 to insurance
    assert s.balance("USDC") == D("7162.5")
    assert s.venue["clearing"]["USDC"] == D(2500) and s.venue["insurance"]["USDC"] == D("337.5")
    assert s.positions[PERP].size == D("1.5") and s.positions[PERP].avg_price == D(95000)
    assert conservation_gap(s) == {}


def test_inverse_liquidation_loss_rounds_up() -> None:
    ev = Events().deposit("BTC", "0.1").trade("BTC-PERPETUAL", "1", "90000")
    ev.add(EventKind.LIQUIDATION_FILL, instrument="BTC-PERPETUAL", size="-1", price="70000", penalty="0.0075")
    # 1 × (1 − 90000/70000) = −0.2857142857… BTC → debited rounded up to 0.28571429
    s = ev.state()
    assert s.balance("BTC") == D("0.1") - D("0.28571429") - D("0.0075") == D("-0.19321429")
    assert s.venue["clearing"]["BTC"] == D("0.28571429") and not s.positions
    assert conservation_gap(s) == {}


@pytest.mark.parametrize("size", ["0.5", "-2.5", "-1"])
def test_a_stored_fill_that_does_not_reduce_is_corrupt(size: str) -> None:
    ev = Events().deposit("USDC", "1000").trade(PERP, "2", "95000")
    ev.add(EventKind.LIQUIDATION_FILL, instrument="BTC_USDC-27DEC26", size=size, price="1", penalty="0")
    with pytest.raises(LedgerCorruptError, match="does not reduce"):
        ev.state()  # no position at all in that instrument
    ev2 = Events().deposit("USDC", "1000").trade(PERP, "2", "95000")
    ev2.add(
        EventKind.LIQUIDATION_FILL,
        instrument=PERP,
        size="0.5" if size == "-1" else size,
        price="1",
        penalty="0",
    )
    with pytest.raises(LedgerCorruptError, match="does not reduce"):
        ev2.state()


def test_bad_debt_zeroes_the_balance_and_covers_tally() -> None:
    debtor = Events().deposit("USDC", "100").add(EventKind.FEE, asset="USDC", amount="250.5", reason="x")
    debtor.add(EventKind.BAD_DEBT, asset="USDC", amount="150.5")
    s = debtor.state()
    assert s.balance("USDC") == 0 and not s.balance("USDC").is_signed()  # no "-0"
    assert s.venue["bad_debt"]["USDC"] == D("-150.5") and s.bad_debt_outstanding("USDC") == D("150.5")
    debtor.add(
        EventKind.COVER_RECEIVED, asset="USDC", amount="100", payer=INSURANCE_ACCOUNT, via="insurance_cover"
    )
    assert debtor.state().bad_debt_outstanding("USDC") == D("50.5")
    fund = Events(INSURANCE_ACCOUNT).deposit("USDC", "120")
    fund.add(EventKind.INSURANCE_COVER, asset="USDC", amount="100", debtor="a")
    f = fund.state()
    assert f.balance("USDC") == D(20) and f.venue["bad_debt"]["USDC"] == D(100)
    t = venue_totals([debtor.state(), f])
    assert t.conservation_gap() == {} and t.bad_debt_gap() == {}
    assert t.outstanding["USDC"] == D("50.5") and t.insurance_fund["USDC"] == D(20)
    assert t.books["bad_debt"]["USDC"] == D("-50.5")
    assert t.losses["insurance_cover"]["USDC"] == D(100) and t.bad_debt_paid("USDC") == D(100)
    # a cover stored without its debtor side is caught by the identity
    assert venue_totals([f]).bad_debt_gap() == {"USDC": (D(-100), D(100))}


def test_stored_loss_events_breaking_their_rules_are_corrupt() -> None:
    open_pos = Events().deposit("USDC", "1000").trade(PERP, "1", "95000")
    open_pos.add(EventKind.FEE, asset="USDC", amount="2000", reason="x")
    open_pos.add(EventKind.BAD_DEBT, asset="USDC", amount="1000")
    with pytest.raises(LedgerCorruptError, match="open position"):
        open_pos.state()
    wrong = Events().add(EventKind.FEE, asset="USDC", amount="10", reason="x")
    wrong.add(EventKind.BAD_DEBT, asset="USDC", amount="9")
    with pytest.raises(LedgerCorruptError, match="balance"):
        wrong.state()
    overdraw = Events().deposit("USDC", "10").add(EventKind.ADL, asset="USDC", amount="10.000001", debtor="x")
    with pytest.raises(LedgerCorruptError, match="exceeds the payer"):
        overdraw.state()
    over = Events().add(EventKind.COVER_RECEIVED, asset="USDC", amount="1", payer="b", via="adl")
    with pytest.raises(LedgerCorruptError, match="outstanding"):
        over.state()
    fine = Events().deposit("USDC", "10").add(EventKind.ADL, asset="USDC", amount="1.0000001", debtor="x")
    with pytest.raises(LedgerCorruptError, match="multiple of its unit"):
        fine.state()


def test_every_kind_fits_the_kind_column() -> None:
    width = events_table.c.kind.type.length
    assert width is not None and all(len(k.value) <= width for k in EventKind)


# -- the commands --------------------------------------------------------------------------------------------
def _bankrupt(ledger: Ledger, market: MarketSnapshot) -> None:
    """``a``: 20,000 USDC, long 1 BTC at 95,000, liquidated at 70,000 with a 600.0000001 penalty."""
    ledger.deposit("a", "USDC", "20000")
    ledger.trade("a", PERP, "1", "95000", market=market)
    ledger.liquidation_fill("a", PERP, "-0.4", "70000", penalty="200")
    r = ledger.liquidation_fill("a", PERP, "-0.6", "70000", penalty="400.0000001")
    # −25,000 realised, −600.000001 penalty (400.0000001 rounded up to 400.000001)
    assert r.event.data["penalty"] == "400.000001"
    assert r.state.balance("USDC") == D("-5600.000001") and not r.state.positions


def test_liquidation_fill_checks_and_rounding(db_url: str, market: MarketSnapshot) -> None:
    with Ledger(db_url) as ledger:
        ledger.deposit("a", "USDC", "20000")
        ledger.trade("a", PERP, "1", "95000", market=market)
        v = ledger.state("a").version
        for size in ("1", "-1.5", "0.1"):
            with pytest.raises(InputError, match="reducing"):
                ledger.liquidation_fill("a", PERP, size, "90000")
        with pytest.raises(InputError, match="reducing"):
            ledger.liquidation_fill("a", "BTC-PERPETUAL", "-1", "90000")
        with pytest.raises(InputError, match="PENALTY"):
            ledger.liquidation_fill("a", PERP, "-1", "90000", penalty="-1")
        assert ledger.state("a").version == v  # nothing written
        r = ledger.liquidation_fill("a", PERP, "-1", "94000.5", penalty="0.0000001", key="liq-1")
        assert r.event.data["penalty"] == "0.000001"  # rounded up
        assert r.state.balance("USDC") == D("20000") - D("999.5") - D("0.000001")
        again = ledger.liquidation_fill("a", PERP, "-1", "94000.5", penalty="0.0000001", key="liq-1")
        assert again.replayed and again.event == r.event and again.state == r.state


def test_bad_debt_and_the_waterfall(db_url: str, market: MarketSnapshot) -> None:
    with Ledger(db_url) as ledger:
        _bankrupt(ledger, market)
        ledger.deposit("b", "USDC", "5000")
        ledger.deposit(INSURANCE_ACCOUNT, "USDC", "1000")
        with pytest.raises(InputError, match="bad debt outstanding"):
            ledger.insurance_cover("a", "USDC", "1")  # nothing recorded yet
        with pytest.raises(InputError, match="negative"):
            ledger.record_bad_debt("b", "USDC")
        bd = ledger.record_bad_debt("a", "USDC", key="bd-1")
        assert bd.event.data["amount"] == "5600.000001" and bd.state.balance("USDC") == 0
        assert ledger.record_bad_debt("a", "USDC", key="bd-1").replayed  # a retry is not re-validated
        with pytest.raises(InputError, match="negative"):
            ledger.record_bad_debt("a", "USDC")  # nothing left to record
        assert ledger.bad_debt_outstanding() == {"a": {"USDC": D("5600.000001")}}

        versions = {x: ledger.state(x).version for x in ("a", "b", INSURANCE_ACCOUNT)}
        with pytest.raises(InputError, match="insurance fund's USDC balance, 1000"):
            ledger.insurance_cover("a", "USDC", "1000.000001")
        with pytest.raises(InputError, match="b's USDC balance"):
            ledger.adl("b", "a", "USDC", "5000.000001")
        with pytest.raises(InputError, match="other than the debtor"):
            ledger.socialized_loss("a", "a", "USDC", "1")
        with pytest.raises(InputError, match="ACCOUNT"):
            ledger.adl(INSURANCE_ACCOUNT, "a", "USDC", "1")  # the fund pays by insurance_cover only
        with pytest.raises(InputError, match="ACCOUNT"):
            ledger.withdraw(INSURANCE_ACCOUNT, "USDC", "1")
        assert {x: ledger.state(x).version for x in versions} == versions  # nothing written

        ins = ledger.insurance_cover("a", "USDC", "1000", key="ins-1")
        assert ins.state.balance("USDC") == 0 and ins.event.account == INSURANCE_ACCOUNT
        ((cov, debtor),) = ins.linked
        assert cov.kind is EventKind.COVER_RECEIVED and cov.data["via"] == "insurance_cover"
        assert debtor.bad_debt_outstanding("USDC") == D("4600.000001")
        again = ledger.insurance_cover("a", "USDC", "1000", key="ins-1")
        assert again.replayed and again.linked == ins.linked and again.state == ins.state
        with pytest.raises(InputError, match="key"):
            ledger.insurance_cover("a", "USDC", "999", key="ins-1")  # same key, other command

        adl = ledger.adl("b", "a", "USDC", "4000.0000001")  # rounded up to 4000.000001
        assert adl.event.data["amount"] == "4000.000001"
        assert adl.state.balance("USDC") == D("999.999999")
        with pytest.raises(InputError, match="outstanding, 600"):
            ledger.socialized_loss("b", "a", "USDC", "600.000001")
        soc = ledger.socialized_loss("b", "a", "USDC", "600")
        assert soc.linked[0][1].bad_debt_outstanding("USDC") == 0
        assert ledger.bad_debt_outstanding() == {}

        t = ledger.venue_totals()
        assert t.conservation_gap() == {} and t.bad_debt_gap() == {}
        assert t.losses["bad_debt"]["USDC"] == D("5600.000001")
        assert (t.losses["insurance_cover"]["USDC"], t.losses["adl"]["USDC"]) == (D(1000), D("4000.000001"))
        assert t.losses["socialized_loss"]["USDC"] == D(600) and t.insurance_fund["USDC"] == 0
        assert t.books["insurance"]["USDC"] == D("600.000001")  # the penalties
        for x in ("a", "b", INSURANCE_ACCOUNT):
            assert ledger.replay(x) == ledger.state(x)
            assert conservation_gap(ledger.state(x)) == {}


def test_bad_debt_needs_positions_closed(db_url: str, market: MarketSnapshot) -> None:
    with Ledger(db_url) as ledger:
        ledger.deposit("a", "USDC", "20000")
        ledger.trade("a", PERP, "1", "95000", market=market)
        ledger.charge_fee("a", "USDC", "30000")
        with pytest.raises(InputError, match="without open positions"):
            ledger.record_bad_debt("a", "USDC")
        ledger.liquidation_fill("a", PERP, "-1", "95000")
        assert ledger.record_bad_debt("a", "USDC").state.balance("USDC") == 0
