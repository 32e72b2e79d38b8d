"""Ledger snapshots (``ledger/_snapshot.py``): a snapshot plus the events after it folds to exactly the
state a fold of every event gives, over hypothesis-generated command sequences with snapshots taken at
random points and on both backends; a reopened ledger gives the same states; a snapshot that does not match
the ledger (edited payload, another chain head, an edited event after it) is refused and the fold falls
back to every event; a forged snapshot with a recomputed digest is caught by ``--check``; the events after
a snapshot are found even when ids committed out of order (PostgreSQL); ``xmargin ledger snapshot``."""

from __future__ import annotations

import json
import logging
import random
import tempfile
import zlib
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from xmargin.cli import app
from xmargin.core import InputError
from xmargin.ledger import Event, EventKind, Ledger, RefusedError
from xmargin.ledger._requests import fingerprint, trade_request
from xmargin.ledger._schema import accounts, events, snapshots
from xmargin.ledger._snapshot import (
    SnapshotMismatch,
    check_latest,
    fold_accounts,
    latest_info,
    write_snapshot,
)

runner = CliRunner()
ACCOUNTS = ("alice", "bob", "carol", "dave")
FILLS = (
    ("BTC-PERPETUAL", "60000", "70000"),  # inverse perpetual: P&L in BTC
    ("BTC_USDC-PERPETUAL", "60000", "70000"),  # linear perpetual: P&L in USDC
    ("BTC-27DEC26", "60000", "70000"),  # inverse future
    ("BTC_USDC-27DEC26-100000-C", "100", "3000"),  # linear option: premium in USDC
)

# one command: (kind, account index, a size or amount, a price)
Op = tuple[str, int, int, int]
ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["deposit", "deposit", "withdraw", "fee", "trade", "trade", "funding", "settle", "fill", "snap"]
        ),
        st.integers(0, len(ACCOUNTS) - 1),
        st.integers(-9, 9),
        st.integers(0, 99),
    ),
    min_size=1,
    max_size=40,
)


def _trade(ledger: Ledger, account: str, which: int, size: int, price: int) -> None:
    """A fill appended as the ledger stores it (the pre-trade check needs a market; the fold does not)."""
    name, lo, hi = FILLS[which % len(FILLS)]
    px = Decimal(lo) + (Decimal(hi) - Decimal(lo)) * price / 100
    data, req = trade_request(name, str(Decimal(size) / 10), str(px), "0.0001")
    before = ledger.state(account)
    ev = Event(
        account,
        before.version + 1,
        EventKind.TRADE,
        {**data, "request": fingerprint(account, EventKind.TRADE, req)},
        f"t-{account}-{before.version + 1}",
        ledger.clock.now(),
    )
    ledger.store.append(ev, expected_version=before.version)


def apply_ops(ledger: Ledger, script: list[Op]) -> int:
    """Run the commands (refused or invalid ones write nothing); returns how many snapshots were taken."""
    snaps = 0
    for kind, i, n, p in script:
        a = ACCOUNTS[i]
        asset = ("USDC", "BTC")[p % 2]
        amount = str(Decimal(abs(n) + 1) * (Decimal("1000") if asset == "USDC" else Decimal("0.01")))
        try:
            if kind == "deposit":
                ledger.deposit(a, asset, amount)
            elif kind == "withdraw":
                ledger.withdraw(a, asset, amount)
            elif kind == "fee":
                ledger.charge_fee(a, asset, "0.5" if asset == "USDC" else "0.00001")
            elif kind == "trade" and n != 0:
                _trade(ledger, a, p, n, p)
            elif kind == "funding":
                ledger.funding(a, FILLS[p % 2][0], str(Decimal(n) / 10000), "65000")
            elif kind == "settle":
                ledger.settle(a, FILLS[2 + p % 2][0], str(60000 + 100 * p))
            elif kind == "fill":
                name = FILLS[p % len(FILLS)][0]
                size = ledger.state(a).size(name)
                if size != 0:
                    ledger.liquidation_fill(a, name, str(-size / 2), "65000" if p % 4 < 3 else "3000")
            elif kind == "snap":
                write_snapshot(ledger.store)
                snaps += 1
        except (InputError, RefusedError):
            pass
    return snaps


def _same(ledger: Ledger) -> None:
    """Snapshot + tail == every event == each account replayed on its own."""
    quick = fold_accounts(ledger.store)
    full = fold_accounts(ledger.store, use_snapshot=False)
    assert quick.states == full.states
    assert quick.heads == full.heads
    for a, s in full.states.items():
        assert ledger.replay(a) == s
    info = latest_info(ledger.store)
    if info is not None:
        assert quick.snapshot_id == info.id
        assert quick.tail_events == sum(v for v, _ in full.heads.values()) - info.events


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=ops)
def test_snapshot_plus_tail_equals_the_full_fold(script: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'l.db'}"
        with Ledger(url) as ledger:
            apply_ops(ledger, script)
            _same(ledger)
            write_snapshot(ledger.store)  # a snapshot at the very end: no tail
            _same(ledger)
        with Ledger(url) as again:  # a restart: the same states from the stored snapshot and events
            _same(again)


def test_seeded_commands_on_both_backends(db_url: str) -> None:
    rng = random.Random(14)
    kinds = ["deposit", "deposit", "withdraw", "fee", "trade", "trade", "funding", "settle", "fill"]
    with Ledger(db_url) as ledger:
        for block in range(4):
            script = [
                (rng.choice(kinds), rng.randrange(4), rng.randint(-9, 9), rng.randrange(100))
                for _ in range(30)
            ]
            apply_ops(ledger, script)
            if block < 3:
                write_snapshot(ledger.store)
        _same(ledger)
        assert latest_info(ledger.store) is not None
    with Ledger(db_url) as again:
        _same(again)


def _book(ledger: Ledger) -> None:
    for a in ACCOUNTS:
        ledger.deposit(a, "USDC", "10000")
        ledger.charge_fee(a, "USDC", "1")


def test_an_edited_payload_is_refused_and_every_event_folded(sqlite_url: str, caplog) -> None:  # type: ignore[no-untyped-def]
    with Ledger(sqlite_url) as ledger:
        _book(ledger)
        write_snapshot(ledger.store)
        ledger.deposit("alice", "USDC", "5")
        with ledger.store.engine.begin() as conn:
            row = conn.execute(sa.select(snapshots.c.id, snapshots.c.payload)).one()
            doc = json.loads(zlib.decompress(row.payload))
            doc["accounts"]["bob"]["s"]["b"]["USDC"] = "99999999"  # bob made rich in the snapshot only
            conn.execute(sa.update(snapshots).values(payload=zlib.compress(json.dumps(doc).encode())))
        with caplog.at_level(logging.WARNING, logger="xmargin.ledger"):
            folded = fold_accounts(ledger.store)
        assert folded.snapshot_id is None
        assert "snapshot refused" in caplog.text and "edited or damaged" in caplog.text
        assert folded.states["bob"].balance("USDC") == Decimal("9999")
        assert folded.states == fold_accounts(ledger.store, use_snapshot=False).states


def test_another_chain_head_is_refused(sqlite_url: str) -> None:
    with Ledger(sqlite_url) as ledger:
        _book(ledger)
        write_snapshot(ledger.store)
        with ledger.store.engine.begin() as conn:
            conn.execute(sa.update(accounts).where(accounts.c.account == "carol").values(head="ab" * 32))
        with ledger.store.engine.connect() as conn:
            from xmargin.ledger._snapshot import _fold

            try:
                _fold(conn, None, use_snapshot=True)
            except SnapshotMismatch as exc:
                assert "'carol'" in str(exc) and "hash-chain head" in str(exc)
            else:
                raise AssertionError("a snapshot whose head differs from the ledger's was used")


def test_an_edited_event_after_the_snapshot_is_refused(sqlite_url: str, caplog) -> None:  # type: ignore[no-untyped-def]
    with Ledger(sqlite_url) as ledger:
        _book(ledger)
        write_snapshot(ledger.store)
        ledger.deposit("dave", "USDC", "7")
        with ledger.store.engine.begin() as conn:
            last = conn.execute(sa.select(sa.func.max(events.c.id))).scalar()
            payload = dict(conn.execute(sa.select(events.c.payload).where(events.c.id == last)).scalar_one())
            payload["amount"] = "7000"  # the amount edited, its hash left as it was
            conn.execute(sa.update(events).where(events.c.id == last).values(payload=payload))
        with caplog.at_level(logging.WARNING, logger="xmargin.ledger"):
            folded = fold_accounts(ledger.store)
        assert folded.snapshot_id is None
        assert "'dave'" in caplog.text and "does not chain from the snapshot" in caplog.text


def test_a_forged_snapshot_with_a_recomputed_digest_fails_the_check(tmp_path: Path) -> None:
    import hashlib

    db = tmp_path / "l.db"
    with Ledger(f"sqlite:///{db}") as ledger:
        _book(ledger)
        r = runner.invoke(app, ["ledger", "snapshot", "--db", str(db), "--json"])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert (doc["accounts"], doc["events"], doc["matches"]) == (4, 8, None)
        assert doc["chain_root"] == ledger.store.verify_chain().root  # the root ledger verify prints
        ok = runner.invoke(app, ["ledger", "snapshot", "--db", str(db), "--check", "--json"])
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.stdout)["matches"] is True
        with ledger.store.engine.begin() as conn:
            row = conn.execute(sa.select(snapshots.c.payload)).one()
            body = json.loads(zlib.decompress(row.payload))
            body["accounts"]["alice"]["s"]["b"]["USDC"] = "1"
            raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
            conn.execute(
                sa.update(snapshots).values(
                    payload=zlib.compress(raw), digest=hashlib.sha256(raw).hexdigest()
                )
            )
        checked = check_latest(ledger.store)
        assert checked is not None and checked[1] == ["alice"]
        bad = runner.invoke(app, ["ledger", "snapshot", "--db", str(db), "--check"])
        assert bad.exit_code == 1
        assert "differs from the events" in bad.output and "alice" in bad.output


def test_events_committed_out_of_id_order_are_still_found(sqlite_url: str) -> None:
    """More than 200 accounts moved: the events after the snapshot are read by id; an event whose id is
    below the snapshot's largest (as a late PostgreSQL commit can have) leaves a gap that is then read by
    account."""
    with Ledger(sqlite_url) as ledger:
        names = [f"acct{i:03d}" for i in range(260)]
        for a in names:
            ledger.deposit(a, "USDC", "100")
        write_snapshot(ledger.store)
        for a in names:
            ledger.deposit(a, "USDC", "1")
        with ledger.store.engine.begin() as conn:
            ids = sorted(int(i) for i in conn.execute(sa.select(events.c.id)).scalars())
            conn.execute(sa.update(snapshots).values(last_event_id=ids[-100]))  # 160 tail events "below" it
        folded = fold_accounts(ledger.store)
        assert folded.snapshot_id is not None
        assert folded.tail_events == 260
        assert all(folded.states[a].balance("USDC") == Decimal("101") for a in names)


def test_no_snapshot_check_is_bad_input(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    with Ledger(f"sqlite:///{db}") as ledger:
        _book(ledger)
    r = runner.invoke(app, ["ledger", "snapshot", "--db", str(db), "--check"])
    assert r.exit_code == 2
    assert "error: --check: expected a ledger with a snapshot, found 'none'" in r.output
