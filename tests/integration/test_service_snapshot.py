"""The service on a snapshot and in shards, in process (docs/service.md, "Snapshots" and "Shards"):

- the tick path's risk book built from the latest snapshot plus the events after it gives exactly the
  margins the fold of every event gives, on a generated book of 600 accounts (above the bulk threshold);
  a tampered snapshot is refused with a warning and the book is the same;
- the periodic writer writes after N new events and after the interval, not before;
- shards: BLAKE2b owners against ``b2sum`` (GNU coreutils, another implementation), every account served
  by exactly one of two apps (the other answers 421 naming the owner), the venue view and the tick cover
  one shard's accounts.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from xmargin.core import InputError
from xmargin.engine import generate_book
from xmargin.ledger import Ledger
from xmargin.ledger._schema import snapshots
from xmargin.ledger._snapshot import latest_info, write_snapshot
from xmargin.margin import resolve_model
from xmargin.market import MarketSnapshot, load_market
from xmargin.service import KeyStore, Scope, ServiceConfig, create_app
from xmargin.service._shard import SHARD_HEADER, Shard, parse_shard, shard_of
from xmargin.service._snapshots import SnapshotPolicy, SnapshotWriter
from xmargin.service._stream import Hub
from xmargin.service._ticks import Ticker
from xmargin.testing.ledger_books import write_book

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def market() -> MarketSnapshot:
    return load_market(ROOT / "examples" / "market.yaml")


@pytest.fixture(scope="module")
def book_db(tmp_path_factory: pytest.TempPathFactory, market: MarketSnapshot) -> Path:
    """600 generated accounts, a snapshot, then 40 accounts written after it (a deposit each)."""
    db = tmp_path_factory.mktemp("book") / "ledger.db"
    with Ledger(f"sqlite:///{db}") as ledger:
        book = generate_book(market, 600, 3)
        write_book(ledger, book, market)
        write_snapshot(ledger.store)
        for i in range(40):
            ledger.deposit(book.portfolio(i * 15).account, "USDC", "250")
    return db


def _margins(ledger: Ledger, market: MarketSnapshot, *, use_snapshot: bool) -> tuple[Ticker, object]:
    t = Ticker(ledger, market, resolve_model("pm"), Hub(), use_snapshot=use_snapshot)
    return t, t.risk.margins()


def test_risk_book_from_snapshot_equals_full_fold(book_db: Path, market: MarketSnapshot) -> None:
    with Ledger(f"sqlite:///{book_db}") as ledger:
        quick, m1 = _margins(ledger, market, use_snapshot=True)
        full, m2 = _margins(ledger, market, use_snapshot=False)
    assert quick.risk.folded is not None and quick.risk.folded.startswith("snapshot 1 ")
    assert "+ 40 events after it" in quick.risk.folded
    assert full.risk.folded is not None and full.risk.folded.startswith("every event folded")
    assert m1.accounts == m2.accounts and len(m1.accounts) >= 500  # type: ignore[attr-defined]
    for field in ("code", "margin_balance", "initial_margin", "maintenance_margin"):
        np.testing.assert_array_equal(getattr(m1, field), getattr(m2, field))


def test_tampered_snapshot_falls_back_with_a_warning(
    tmp_path: Path, book_db: Path, market: MarketSnapshot, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "copy.db"
    db.write_bytes(book_db.read_bytes())
    with Ledger(f"sqlite:///{db}") as ledger:
        with ledger.store.engine.begin() as conn:
            raw = conn.execute(sa.select(snapshots.c.payload)).scalar_one()
            doc = json.loads(zlib.decompress(raw))
            first = sorted(doc["accounts"])[0]
            doc["accounts"][first]["v"] = 1  # the version edited: its digest no longer matches
            conn.execute(sa.update(snapshots).values(payload=zlib.compress(json.dumps(doc).encode())))
        with caplog.at_level(logging.WARNING):
            t, m1 = _margins(ledger, market, use_snapshot=True)
        _, m2 = _margins(ledger, market, use_snapshot=False)
    assert "snapshot refused, folding every event instead: snapshot 1" in caplog.text
    assert t.risk.folded is not None and t.risk.folded.startswith("every event folded")
    np.testing.assert_array_equal(m1.margin_balance, m2.margin_balance)  # type: ignore[attr-defined]


def test_restart_serves_the_same_portfolios(tmp_path: Path, book_db: Path, market: MarketSnapshot) -> None:
    db = tmp_path / "copy.db"
    db.write_bytes(book_db.read_bytes())
    seen = []
    for round_ in range(2):
        with Ledger(f"sqlite:///{db}") as ledger:
            keys = KeyStore(ledger.store)
            admin = keys.create("venue", Scope.ADMIN).key
            names = [a for a in ledger.accounts() if not a.startswith("~")][:25]
            with TestClient(create_app(ledger, keys, market)) as c:
                docs = [c.get(f"/v1/accounts/{a}", headers={"X-API-Key": admin}).json() for a in names]
                seen.append(docs)
            if round_ == 0:
                write_snapshot(ledger.store)  # the second start reads a snapshot with no events after it
    assert seen[0] == seen[1]


def test_periodic_writer_follows_its_policy(tmp_path: Path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        writer = SnapshotWriter(ledger.store, SnapshotPolicy(every=5, interval=0))
        for i in range(4):
            ledger.deposit(f"a{i}", "USDC", "1")
        assert writer.run_once(0.0) == 0.0 and latest_info(ledger.store) is None  # 4 < 5 events
        ledger.deposit("a0", "USDC", "1")
        writer.run_once(0.0)
        info = latest_info(ledger.store)
        assert info is not None and info.events == 5
        timed = SnapshotWriter(ledger.store, SnapshotPolicy(every=0, interval=30))
        ledger.deposit("a1", "USDC", "1")
        now = time.monotonic()
        assert timed.run_once(now) == now  # one new event, but not 30 s yet
        assert timed.run_once(now - 31) > now  # 31 s since the last: written
        assert latest_info(ledger.store).events == 6  # type: ignore[union-attr]
        assert timed.run_once(now - 31) == now - 31  # nothing new: not written again


def test_the_app_writes_snapshots_in_the_background(tmp_path: Path, market: MarketSnapshot) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        keys = KeyStore(ledger.store)
        admin = keys.create("venue", Scope.ADMIN).key
        config = ServiceConfig(snapshots=SnapshotPolicy(every=3, interval=0))
        with TestClient(create_app(ledger, keys, market, config)) as c:
            for i in range(3):
                r = c.post(
                    f"/v1/accounts/a{i}/deposits",
                    headers={"X-API-Key": admin},
                    json={"asset": "USDC", "amount": "5"},
                )
                assert r.status_code == 201
            deadline = time.monotonic() + 20  # the writer looks every 2 s
            while latest_info(ledger.store) is None and time.monotonic() < deadline:
                time.sleep(0.2)
        info = latest_info(ledger.store)
        assert info is not None and (info.accounts, info.events) == (3, 3)


# -- shards ---------------------------------------------------------------------------------------------
B2SUM_64 = {"alice": "4deaec0cce54da89", "bob": "74f32b2bb966a492", "carol": "a95d52af992d6f61"}
"""``printf '%s' NAME | b2sum -l 64`` (GNU coreutils 9, BLAKE2b with a 64-bit digest), run by hand."""


def test_owner_is_blake2b_of_the_name() -> None:
    for name, hexdigest in B2SUM_64.items():
        for n in (2, 3, 7):
            assert shard_of(name, n) == int(hexdigest, 16) % n


@pytest.mark.parametrize("text", ["2/2", "1", "-1/2", "0/0", "a/b", "0/2000"])
def test_bad_shard_is_bad_input(text: str) -> None:
    with pytest.raises(InputError, match="--shard"):
        parse_shard(text)


def test_two_shards_split_the_accounts(tmp_path: Path, market: MarketSnapshot) -> None:
    names = [f"trader{i:02d}" for i in range(30)]
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        keys = KeyStore(ledger.store)
        admin = keys.create("venue", Scope.ADMIN).key
        for a in names:
            ledger.deposit(a, "USDC", "1000")
        apps = [create_app(ledger, keys, market, ServiceConfig(shard=Shard(i, 2))) for i in range(2)]
        with TestClient(apps[0]) as c0, TestClient(apps[1]) as c1:
            clients = (c0, c1)
            h = {"X-API-Key": admin}
            for a in names:
                codes = [c.get(f"/v1/accounts/{a}", headers=h).status_code for c in clients]
                owner = shard_of(a, 2)
                assert codes[owner] == 200 and codes[1 - owner] == 421, (a, codes)
                r = clients[1 - owner].post(
                    f"/v1/accounts/{a}/deposits", headers=h, json={"asset": "USDC", "amount": "1"}
                )
                assert r.status_code == 421
                assert r.json()["shard"] == {"account": a, "owner": owner, "count": 2, "this": 1 - owner}
                assert r.json()["error"]["where"] == "path.account"
                assert r.headers[SHARD_HEADER] == f"{1 - owner}/2"
            for i, c in enumerate(clients):
                assert c.get("/v1/health").json()["shard"] == f"{i}/2"
                venue = c.get("/v1/venue/accounts", headers=h).json()
                assert sorted(x["account"] for x in venue["accounts"]) == [
                    a for a in names if shard_of(a, 2) == i
                ]


def test_each_shard_margins_its_own_accounts(book_db: Path, market: MarketSnapshot) -> None:
    with Ledger(f"sqlite:///{book_db}") as ledger:
        everyone = Ticker(ledger, market, resolve_model("pm"), Hub()).risk.margins()
        parts = [
            Ticker(ledger, market, resolve_model("pm"), Hub(), owns=Shard(i, 2).owns).risk.margins()
            for i in range(2)
        ]
    for i, m in enumerate(parts):
        assert m.accounts and all(shard_of(a, 2) == i for a in m.accounts)
    assert sorted(parts[0].accounts + parts[1].accounts) == sorted(everyone.accounts)
    whole = dict(zip(everyone.accounts, everyone.margin_balance.tolist(), strict=True))
    for m in parts:  # the vectorised sums run over another set of rows: equal to float64 rounding
        np.testing.assert_allclose(m.margin_balance, [whole[a] for a in m.accounts], rtol=1e-12)
