"""Two real ``xmargin serve --shard I/2`` processes on one PostgreSQL ledger, ticks over the real NATS server
(docs/service.md, "Shards"). Everything on loopback, every wait bounded:

- every account of a generated set is served (2xx) by exactly one shard and refused (421, naming the
  owner) by the other, and the owner is BLAKE2b's;
- one tick published on NATS reaches both shards: each streams it and re-margins its own leveraged
  accounts (their ``status`` messages), never the other's; the tick's index price is stored once (the
  ``index_marks`` row moves by one version, though both shards handled it);
- writes sent concurrently through both shards (deposits and trades, 4 threads) keep the hash chain
  (``xmargin ledger verify``) and conservation (``venue_totals``) valid, and every 2xx is in the ledger.

PostgreSQL: a fresh schema, dropped afterwards (tests/ledger/conftest.py); skipped, with the reason, when
PostgreSQL or NATS is unreachable.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.ledger.conftest import drop_pg_schema, new_pg_schema
from xmargin.ledger import INSURANCE_ACCOUNT, Ledger
from xmargin.market import load_market
from xmargin.service import KeyStore, Scope
from xmargin.service._shard import shard_of

ROOT = Path(__file__).resolve().parents[2]
XMARGIN = Path(sys.executable).parent / "xmargin"
MARKET = ROOT / "examples" / "market.yaml"
PERP = "BTC_USDC-PERPETUAL"
STARTUP_TIMEOUT_S = 60.0
FAST_KDF = "scrypt:1024:8:1"
LEVERAGED = [f"lev{i}" for i in range(6)]
"""Long 1 BTC_USDC-PERPETUAL from 95,000 on 20,000 USDC: a BTC tick to 89,000 changes their status."""
CALM = [f"calm{i:02d}" for i in range(30)]


def _nats_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1):
            return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.slow,  # two server processes on PostgreSQL: about a minute on the shared 2-core machine
    pytest.mark.skipif(not _nats_up(), reason="no NATS server on 127.0.0.1:4222 (CI runs one)"),
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pg() -> Iterator[str]:
    schema, url = new_pg_schema()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


class Shards:
    """The two server processes, their base URLs and logs."""

    def __init__(self, url: str, tmp: Path, prefix: str) -> None:
        self.ports = [_port(), _port()]
        self.logs = [tmp / f"shard{i}.log" for i in range(2)]
        self.procs: list[subprocess.Popen[bytes]] = []
        for i in range(2):
            cmd = [
                str(XMARGIN), "serve", "--db", url, "--market", str(MARKET), "--port", str(self.ports[i]),
                "--shard", f"{i}/2", "--nats", "nats://127.0.0.1:4222", "--nats-prefix", prefix,
                "--rate-limit", "none",
            ]  # fmt: skip
            with self.logs[i].open("w") as log:
                self.procs.append(
                    subprocess.Popen(
                        cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
                    )
                )
        self.base = [f"http://127.0.0.1:{p}" for p in self.ports]
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        for i in range(2):
            while True:
                assert self.procs[i].poll() is None, self.logs[i].read_text()
                assert time.monotonic() < deadline, self.logs[i].read_text()
                try:
                    if httpx.get(f"{self.base[i]}/v1/health", timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)

    def stop(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
                p.kill()
                p.wait()


def _seed(url: str) -> str:
    market = load_market(MARKET)
    with Ledger(url) as ledger:
        admin = KeyStore(ledger.store, kdf=FAST_KDF).create("venue", Scope.ADMIN).key
        ledger.deposit(INSURANCE_ACCOUNT, "USDC", "100000")
        for a in LEVERAGED:
            ledger.deposit(a, "USDC", "20000")
            ledger.trade(a, PERP, "1", "95000", market=market)
        for a in CALM:
            ledger.deposit(a, "USDC", "50000")
    return admin


def _stream(
    base: str, admin: str, out: list[dict[str, Any]], ready: threading.Event, stop: threading.Event
) -> None:
    ws_url = base.replace("http://", "ws://") + f"/v1/stream?api_key={admin}"
    deadline = time.monotonic() + 60
    with connect(ws_url, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ready.set()
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                out.append(json.loads(ws.recv(timeout=0.5)))
            except TimeoutError:
                continue


async def _publish(subject: str, payload: bytes) -> None:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222", connect_timeout=2)
    await nc.publish(subject, payload)
    await nc.flush(timeout=2)
    await nc.close()


def test_two_shards_share_one_postgresql_ledger(pg: str, tmp_path: Path) -> None:
    admin = _seed(pg)
    prefix = f"xmtest-shards-{uuid.uuid4().hex[:8]}"
    with Ledger(pg) as ledger:
        before = ledger.store.index_marks()["BTC"].version
    shards = Shards(pg, tmp_path, prefix)
    h = {"X-API-Key": admin}
    try:
        # 1. every account served by exactly one shard, the BLAKE2b owner
        for a in LEVERAGED + CALM:
            codes = [
                httpx.get(f"{b}/v1/accounts/{a}", headers=h, timeout=10).status_code for b in shards.base
            ]
            owner = shard_of(a, 2)
            assert (codes[owner], codes[1 - owner]) == (200, 421), (a, codes)
        owned = [{a for a in LEVERAGED if shard_of(a, 2) == i} for i in range(2)]
        assert owned[0] and owned[1]  # the six leveraged accounts fall on both shards

        # 2. one tick on NATS reaches both; each re-margins its own accounts
        streams: list[list[dict[str, Any]]] = [[], []]
        ready = [threading.Event(), threading.Event()]
        stop = threading.Event()
        readers = [
            threading.Thread(target=_stream, args=(shards.base[i], admin, streams[i], ready[i], stop))
            for i in range(2)
        ]
        for t in readers:
            t.start()
        assert all(r.wait(15) for r in ready)
        asyncio.run(_publish(f"{prefix}.ticks.BTC", b'{"price": 89000.0, "time": "2026-11-25T08:05:00Z"}'))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = [{m["account"] for m in s if m["type"] == "status"} for s in streams]
            if got[0] >= owned[0] and got[1] >= owned[1]:
                break
            time.sleep(0.1)
        time.sleep(1.0)  # a status for another shard's account, if one were sent, would have arrived
        stop.set()
        for t in readers:
            t.join(timeout=10)
        for i in range(2):
            kinds = [m["type"] for m in streams[i]]
            assert "tick" in kinds, (i, streams[i][:5], shards.logs[i].read_text()[-2000:])
            tick = next(m for m in streams[i] if m["type"] == "tick")
            assert tick["prices"] == {"BTC": 89000.0} and tick["time"] == "2026-11-25T08:05:00Z"
            statuses = {m["account"] for m in streams[i] if m["type"] == "status"}
            assert statuses == owned[i], (i, statuses, owned[i])
        with Ledger(pg) as ledger:
            mark = ledger.store.index_marks()["BTC"]
        assert (mark.price_usd, mark.version) == (89000.0, before + 1)  # stored once by two shards

        # 3. concurrent writes through both shards; the chain and conservation hold
        accepted: list[str] = []
        lock = threading.Lock()

        def writer(w: int) -> None:
            with httpx.Client(timeout=60) as c:
                for k in range(12):
                    a = CALM[(w * 7 + k) % len(CALM)]
                    base = shards.base[shard_of(a, 2)]
                    key = f"w{w}-{k}"
                    if k % 3 == 2:
                        r = c.post(
                            f"{base}/v1/accounts/{a}/trades",
                            headers={**h, "Idempotency-Key": key},
                            json={"instrument": PERP, "size": "0.01", "price": "89000"},
                        )
                    else:
                        r = c.post(
                            f"{base}/v1/accounts/{a}/deposits",
                            headers={**h, "Idempotency-Key": key},
                            json={"asset": "USDC", "amount": "10.5"},
                        )
                    assert r.status_code in (201, 409), r.text
                    if r.status_code == 201:
                        with lock:
                            accepted.append(key)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        assert not any(t.is_alive() for t in threads)
        assert len(accepted) == 48
    finally:
        shards.stop()
    verify = subprocess.run(
        [str(XMARGIN), "ledger", "verify", "--db", pg, "--json"], capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["ok"] is True
    with Ledger(pg) as ledger:
        totals = ledger.venue_totals()
        assert totals.conservation_gap() == {}
        assert totals.bad_debt_gap() == {}
        deposits = sum(
            1
            for a in CALM
            for e in ledger.events(a)
            if e.kind.value == "deposit" and e.key.startswith("api-")
        )
        assert deposits == 32  # 4 writers x 8 deposits, each once
