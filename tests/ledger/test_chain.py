"""The ledger's hash chain (``ledger/_chain.py``): the hash of an event from its documented canonical form,
an intact chain on both backends, each kind of tampering named (an edited amount, a deleted event, a cut
tail, an orphan), the migration that hashes a ledger written before the chain, and ``xmargin ledger verify``."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from typer.testing import CliRunner

from xmargin.cli import app
from xmargin.ledger import Event, EventKind, Ledger, upgrade_to_head
from xmargin.ledger._chain import GENESIS, event_hash
from xmargin.ledger._store import MIGRATIONS_DIR, make_engine
from xmargin.market import MarketSnapshot

runner = CliRunner()


def test_event_hash_is_sha256_of_the_documented_canonical_form() -> None:
    ev = Event(
        account="alice",
        seq=1,
        kind=EventKind.DEPOSIT,
        data={"requested": "1", "asset": "BTC", "amount": "1.00000000"},
        key="k1",
        created_at=datetime(2026, 12, 3, 19, 0, 0, 5, tzinfo=UTC),
    )
    # written out by hand from the module docstring: JSON array, payload keys sorted, no whitespace
    text = (
        '["alice",1,"deposit","k1","2026-12-03T19:00:00.000005",'
        '{"amount":"1.00000000","asset":"BTC","requested":"1"}]'
    )
    assert json.loads(text)[5] == dict(ev.data)
    expected = hashlib.sha256(("0" * 64 + text).encode()).hexdigest()
    assert event_hash(GENESIS, ev) == expected
    assert event_hash(expected, ev) != expected  # chained: the same event after another hashes differently


def _book(url: str, market: MarketSnapshot) -> None:
    with Ledger(url) as ledger:
        ledger.deposit("alice", "USDC", "50000", key="d1")
        ledger.deposit("bob", "BTC", "2", key="d2")
        ledger.trade("alice", "BTC_USDC-PERPETUAL", "-0.5", "95000", market=market, key="t1")
        ledger.deposit("alice", "USDC", "10", key="d3")


def test_an_untouched_ledger_verifies_on_both_backends(db_url: str, market: MarketSnapshot) -> None:
    _book(db_url, market)
    with Ledger(db_url) as ledger:
        report = ledger.store.verify_chain()
        assert report.first_break is None and report.events == 4 and report.accounts == 2
        assert report.root is not None and len(report.root) == 64


def _sql(url: str, statement: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(statement))
    engine.dispose()


def _break(url: str) -> tuple[str, str, int]:
    with Ledger(url) as ledger:
        b = ledger.store.verify_chain().first_break
    assert b is not None
    return b.problem, b.account, b.seq


def test_an_edited_amount_is_named(db_url: str, market: MarketSnapshot) -> None:
    _book(db_url, market)
    edited = "REPLACE(CAST(payload AS TEXT), '50000', '90000')"
    if db_url.startswith("postgresql"):
        edited = f"CAST({edited} AS JSON)"
    _sql(db_url, f"UPDATE events SET payload = {edited} WHERE idempotency_key = 'd1'")
    assert _break(db_url) == ("edited", "alice", 1)


def test_a_deleted_event_is_named(sqlite_url: str, market: MarketSnapshot) -> None:
    _book(sqlite_url, market)
    _sql(sqlite_url, "DELETE FROM events WHERE idempotency_key = 't1'")
    assert _break(sqlite_url) == ("missing", "alice", 2)


def test_a_cut_tail_and_an_orphan_are_named(sqlite_url: str, market: MarketSnapshot) -> None:
    _book(sqlite_url, market)
    _sql(sqlite_url, "DELETE FROM events WHERE idempotency_key = 'd3'")  # the last event: no gap left
    assert _break(sqlite_url) == ("truncated", "alice", 3)
    _sql(sqlite_url, "UPDATE accounts SET version = 2 WHERE account = 'alice'")  # hide it: the head differs
    assert _break(sqlite_url) == ("truncated", "alice", 2)
    _sql(sqlite_url, "DELETE FROM accounts WHERE account = 'bob'")
    _sql(sqlite_url, "DELETE FROM events WHERE account = 'alice'")
    _sql(sqlite_url, "DELETE FROM accounts WHERE account = 'alice'")
    assert _break(sqlite_url) == ("orphan", "bob", 1)


def test_the_migration_hashes_a_ledger_written_before_the_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    with engine.begin() as conn:  # events as revision 0002 wrote them: no hash column
        for seq, amount in ((1, "5"), (2, "7")):
            conn.execute(
                sa.text(
                    "INSERT INTO events (account, seq, kind, payload, idempotency_key, created_at) "
                    "VALUES ('old', :seq, 'deposit', :payload, :key, :created)"
                ),
                {
                    "seq": seq,
                    "payload": json.dumps({"asset": "BTC", "amount": amount, "requested": amount}),
                    "key": f"old-{seq}",
                    "created": datetime(2026, 1, seq, tzinfo=UTC),
                },
            )
        conn.execute(sa.text("INSERT INTO accounts (account, version) VALUES ('old', 2)"))
    engine.dispose()
    upgrade_to_head(url)
    with Ledger(url) as ledger:
        assert ledger.store.verify_chain().first_break is None
        ledger.deposit("old", "BTC", "1", key="new-3")  # a new event chains onto the migrated head
        report = ledger.store.verify_chain()
        assert report.first_break is None and report.events == 3


def test_cli_verify_exit_codes(tmp_path: Path, market: MarketSnapshot) -> None:
    db = tmp_path / "l.db"
    _book(f"sqlite:///{db}", market)
    ok = runner.invoke(app, ["ledger", "verify", "--db", str(db), "--json"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc["ok"] is True and doc["events"] == 4 and doc["first_break"] is None
    _sql(
        f"sqlite:///{db}",
        "UPDATE events SET created_at = '2020-01-01 00:00:00.000000' WHERE idempotency_key = 'd2'",
    )
    bad = runner.invoke(app, ["ledger", "verify", "--db", str(db)])
    assert bad.exit_code == 1
    assert "edited" in bad.stdout and "account bob, seq 1" in bad.stdout
    missing = runner.invoke(app, ["ledger", "verify", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 2 and "expected an existing ledger database" in missing.output
    assert not (tmp_path / "none.db").exists()  # verifying never creates a database
