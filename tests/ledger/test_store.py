"""Storage on SQLite and PostgreSQL: migration, exact round trip, idempotency, refusals, reduce-only."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from xmargin.core import InputError
from xmargin.ledger import (
    AppendResult,
    EventKind,
    EventStore,
    Ledger,
    RefusedError,
    make_engine,
    upgrade_to_head,
)
from xmargin.ledger._schema import metadata
from xmargin.ledger._store import HEAD_REVISION, current_revision
from xmargin.market import MarketSnapshot

D = Decimal
PERP = "BTC_USDC-PERPETUAL"


def test_migration_creates_the_schema_once(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade_to_head(engine)
    upgrade_to_head(engine)  # idempotent
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []  # model == migration
    engine.dispose()


def test_sqlite_pragmas(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def test_decimals_round_trip_exactly(db_url: str) -> None:
    with Ledger(db_url) as ledger:
        ledger.deposit("a", "BTC", "0.12345678")
        ledger.deposit("a", "USDC", "123456789012.345678")
        ledger.deposit("a", "BTC", "0.00000001")
        st = Ledger(db_url).replay("a")
    assert st.balance("BTC") == D("0.12345679")
    assert st.balance("USDC") == D("123456789012.345678")
    assert st.version == 3


def test_idempotent_retry_returns_the_original_and_writes_nothing(db_url: str) -> None:
    with Ledger(db_url) as ledger:
        first = ledger.deposit("a", "BTC", "1.000000009", key="dep-1")
        ledger.deposit("a", "BTC", "2", key="dep-2")
        again = ledger.deposit("a", "BTC", "1.000000009", key="dep-1")
        assert again.replayed and not first.replayed
        assert again.event == first.event and again.state == first.state
        assert ledger.store.count_events() == 2
        with pytest.raises(InputError, match="key"):
            ledger.deposit("a", "BTC", "5", key="dep-1")  # same key, another command
        with pytest.raises(InputError, match="key"):
            ledger.deposit("b", "BTC", "1.000000009", key="dep-1")
        assert ledger.store.count_events() == 2
    with Ledger(db_url) as other:  # another process/instance retrying
        assert other.deposit("a", "BTC", "1.000000009", key="dep-1").replayed


def test_append_detects_conflicts_and_duplicates(db_url: str) -> None:
    with Ledger(db_url) as ledger:
        r = ledger.deposit("a", "BTC", "1", key="k1")
        store: EventStore = ledger.store
        stale = type(r.event)("a", 1, EventKind.DEPOSIT, r.event.data, "k2", r.event.created_at)
        assert store.append(stale, expected_version=0) is AppendResult.CONFLICT
        dup = type(r.event)("a", 2, EventKind.DEPOSIT, r.event.data, "k1", r.event.created_at)
        assert store.append(dup, expected_version=1) is AppendResult.DUPLICATE_KEY
        assert store.count_events() == 1 and store.version("a") == 1


def test_refused_trade_writes_nothing(db_url: str, market: MarketSnapshot) -> None:
    with Ledger(db_url) as ledger:
        ledger.deposit("a", "USDC", "20000")
        with pytest.raises(RefusedError) as info:
            ledger.trade("a", PERP, "5", "95000", market=market, key="t1")
        exc = info.value
        assert exc.model == "pm" and exc.available_after is not None and exc.available_after < 0
        assert exc.initial_margin_after is not None and exc.margin_balance_after is not None
        assert ledger.store.count_events() == 1 and ledger.store.find_key("t1") is None
        ok = ledger.trade("a", PERP, "1", "95000", market=market, key="t2")
        assert ok.margin is not None and ok.margin.available >= 0


def test_reduce_only_is_allowed_when_under_margined(db_url: str, market: MarketSnapshot) -> None:
    crash = market.shifted("BTC", 1.12)  # short perp loses ~11.4k on 20k of collateral
    with Ledger(db_url) as ledger:
        ledger.deposit("a", "USDC", "20000")
        ledger.trade("a", PERP, "-1", "95000", market=market)
        with pytest.raises(RefusedError):
            ledger.trade("a", PERP, "-0.1", "106000", market=crash)  # grows the short
        with pytest.raises(RefusedError):
            ledger.trade("a", PERP, "3", "106000", market=crash)  # flips: not reduce-only
        r = ledger.trade("a", PERP, "0.4", "106000", market=crash)  # reduces: allowed unchecked
        assert r.margin is None and r.state.size(PERP) == D("-0.6")
        ledger.trade("a", PERP, "0.6", "106000", market=crash)
        assert PERP not in ledger.state("a").positions


def test_withdrawals(db_url: str, market: MarketSnapshot) -> None:
    with Ledger(db_url) as ledger:
        ledger.deposit("a", "USDC", "20000")
        ledger.withdraw("a", "USDC", "5000.0000001")  # no positions, no market: balance check only
        assert ledger.state("a").balance("USDC") == D("14999.999999")  # debit rounded up
        with pytest.raises(RefusedError, match="balance"):
            ledger.withdraw("a", "USDC", "15000")
        ledger.trade("a", PERP, "-0.5", "95000", market=market)
        with pytest.raises(InputError, match="market"):
            ledger.withdraw("a", "USDC", "1")  # positions: a market is required
        with pytest.raises(RefusedError, match="available"):
            ledger.withdraw("a", "USDC", "14000", market=market)
        ledger.withdraw("a", "USDC", "1000", market=market)
        assert ledger.store.count_events() == 4


def test_trade_needs_a_market_and_a_live_instrument(db_url: str, market: MarketSnapshot) -> None:
    with Ledger(db_url) as ledger:
        ledger.deposit("a", "USDC", "1000000")
        with pytest.raises(InputError, match="market"):
            ledger.trade("a", PERP, "1", "95000", market=None)
        late = market.replace(valuation_time=market.valuation_time.replace(year=2027))
        with pytest.raises(InputError, match="expired"):
            ledger.trade("a", "BTC_USDC-27DEC26", "1", "95000", market=late)
        assert ledger.store.count_events() == 1


def test_live_state_sees_other_writers(db_url: str) -> None:
    with Ledger(db_url) as one, Ledger(db_url) as two:
        one.deposit("a", "BTC", "1")
        assert two.state("a").balance("BTC") == D(1)
        two.deposit("a", "BTC", "1")
        assert one.state("a").balance("BTC") == D(2) == one.replay("a").balance("BTC")
        assert one.accounts() == ["a"]


def test_events_table_is_append_only_by_construction(db_url: str) -> None:
    with Ledger(db_url) as ledger:
        ledger.deposit("a", "BTC", "1", key="x")
        with ledger.store.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT account, seq, kind, idempotency_key FROM events")).all()
    assert [tuple(r) for r in rows] == [("a", 1, "deposit", "x")]


def test_preview_trade_writes_nothing(db_url: str, market: MarketSnapshot) -> None:
    with Ledger(db_url) as ledger:
        ledger.deposit("a", "USDC", "50000")
        m = ledger.preview_trade("a", PERP, "1", "95000", market=market)
        assert m is not None and m.initial_margin > 0 and m.available == m.margin_balance - m.initial_margin
        with pytest.raises(RefusedError):
            ledger.preview_trade("a", PERP, "10", "95000", market=market)
        assert ledger.store.count_events() == 1


def test_options_and_futures_settle_through_the_ledger(db_url: str, market: MarketSnapshot) -> None:
    with Ledger(db_url) as ledger:
        ledger.deposit("a", "BTC", "2")
        ledger.trade("a", "BTC-27DEC26-100000-C", "1", "0.03", market=market)  # pays 0.03 BTC
        ledger.trade("a", "BTC-27DEC26", "-1", "95400", market=market)
        ledger.settle("a", "BTC-27DEC26-100000-C", "120000")  # + 20000/120000 BTC
        ledger.settle("a", "BTC-27DEC26", "120000")  # short: −1 × (1 − 95400/120000) = −0.205 BTC
        st = ledger.replay("a")
        assert not st.positions
        assert st.balance("BTC") == D("2") - D("0.03") + D("0.16666666") - D("0.205")
        assert st == ledger.state("a")
        with pytest.raises(InputError, match="a future or an option"):
            ledger.settle("a", PERP, "1")
        with pytest.raises(InputError, match="a perpetual"):
            ledger.funding("a", "BTC-27DEC26", "0.0001", "95000")
