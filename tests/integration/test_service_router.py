"""``xmargin route`` in front of two real ``xmargin serve --shard I/2`` processes on one PostgreSQL ledger
(docs/service.md, "Router"), launched as in tests/integration/test_service_shards.py (its seeded book, its
``Shards``). Everything on loopback, every wait bounded:

- the router refuses, at start, URLs given in the wrong order (exit 2, naming the shard);
- every account's margin through the router is 200, answered by the account's BLAKE2b owner (its
  ``X-Xmargin-Shard``), and equal to the owner's own answer; no request through the router gets a 421;
- a trade through the router lands on the owner: 201, the ledger holds it once (sent twice with the same
  ``Idempotency-Key``), and the owner shows the position;
- the venue's book through the router holds every account once; one tick through the router moves both
  shards, its index prices are stored once, and one stream through the router gets the tick once and the
  status changes of the leveraged accounts of both shards (a stream with a bad key is closed with the
  shards' 4401);
- a shard killed (SIGKILL): a stream open through the router is closed with 1014 naming it; its accounts
  get 503 naming it, within the time bound, and the other shard's accounts still get 200; the health says
  which shard is down; a stateless request is served by the live shard.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.integration.serving import free_port, stored_key, wait_healthy
from tests.integration.test_service_shards import (
    CALM,
    LEVERAGED,
    PERP,
    XMARGIN,
    Shards,
    _seed,
)
from tests.integration.test_service_shards import pytestmark as shards_marks
from tests.ledger.conftest import drop_pg_schema, new_pg_schema
from xmargin.ledger import Ledger
from xmargin.service._shard import shard_of

pytestmark = shards_marks  # slow; skipped without NATS (and, by the fixture, without PostgreSQL)
ACCOUNTS = LEVERAGED + CALM
KILLED_ANSWER_S = 10.0
"""A request for a killed shard's account is answered within this (the router's connect refused at once)."""


@pytest.fixture
def pg() -> Iterator[str]:
    schema, url = new_pg_schema()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


def _route(urls: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [str(XMARGIN), "route", "--port", str(port), "--log-format", "console"]
    for u in urls:
        cmd += ["--shard-url", u]
    with log.open("w") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )


def _stream(
    url: str, admin: str, out: list[dict[str, Any]], ready: threading.Event, stop: threading.Event
) -> None:
    deadline = time.monotonic() + 90
    with connect(url.replace("http://", "ws://") + f"/v1/stream?api_key={admin}", open_timeout=15) as ws:
        out.append(json.loads(ws.recv(timeout=15)))
        ready.set()
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                out.append(json.loads(ws.recv(timeout=0.5)))
            except TimeoutError:
                continue


def test_router_in_front_of_two_shards(pg: str, tmp_path: Path) -> None:
    admin = _seed(pg)
    with Ledger(pg) as ledger:
        before = ledger.store.index_marks()["BTC"].version
    shards = Shards(pg, tmp_path, f"xmtest-router-{uuid.uuid4().hex[:8]}")
    h = {"X-API-Key": admin}
    router: subprocess.Popen[bytes] | None = None
    try:
        # 0. the URLs must be given in shard order: swapped, the router does not start
        wrong = subprocess.run(
            [str(XMARGIN), "route", "--shard-url", shards.base[1], "--shard-url", shards.base[0]],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert wrong.returncode == 2, wrong.stdout + wrong.stderr
        assert "--shard-url #1" in wrong.stderr and "found 'shard 1/2'" in wrong.stderr, wrong.stderr
        assert "Traceback" not in wrong.stderr

        port = free_port()
        router = _route(shards.base, port, tmp_path / "router.log")
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, lambda: router is not None and router.poll() is None, timeout_s=60)

        with httpx.Client(timeout=60) as c:
            health = c.get(f"{base}/v1/health").json()
            assert health["status"] == "ok"
            assert [s["health"]["shard"] for s in health["shards"]] == ["0/2", "1/2"]

            # 1. every account's margin through the router = the owner's own answer
            for a in ACCOUNTS:
                owner = shard_of(a, 2)
                via = c.get(f"{base}/v1/accounts/{a}/margin", headers=h)
                direct = c.get(f"{shards.base[owner]}/v1/accounts/{a}/margin", headers=h)
                assert via.status_code == 200, (a, via.status_code, via.text)
                assert via.headers["X-Xmargin-Shard"] == f"{owner}/2"
                assert via.json() == direct.json(), a
                assert via.headers["content-type"] == direct.headers["content-type"]
            # a request the router sends on never meets a 421: other routes and methods too
            for a in ACCOUNTS:
                codes = {
                    c.get(f"{base}/v1/accounts/{a}", headers=h).status_code,
                    c.post(
                        f"{base}/v1/accounts/{a}/whatif",
                        headers=h,
                        json={"trades": [{"instrument": PERP, "size": "0.01"}]},
                    ).status_code,
                }
                assert codes == {200}, (a, codes)
            assert c.get(f"{base}/v1/accounts/{CALM[0]}").status_code == 401  # the shard checks the key

            # 2. a trade through the router lands on its owner, once
            a = CALM[3]
            owner = shard_of(a, 2)
            body = {"instrument": PERP, "size": "0.02", "price": "95000"}
            answers = [
                c.post(
                    f"{base}/v1/accounts/{a}/trades", headers={**h, "Idempotency-Key": "router-t1"}, json=body
                )
                for _ in range(2)
            ]
            assert [r.status_code for r in answers] == [201, 201], [r.text for r in answers]
            assert {r.headers["X-Xmargin-Shard"] for r in answers} == {f"{owner}/2"}
            assert answers[0].json()["seq"] == answers[1].json()["seq"]
            assert answers[1].headers.get("Idempotent-Replayed") == "true"
            with Ledger(pg) as ledger:
                stored = [e for e in ledger.events(a) if e.key == stored_key(a, "router-t1")]
            assert len(stored) == 1 and stored[0].kind.value == "trade"
            seen = c.get(f"{shards.base[owner]}/v1/accounts/{a}", headers=h).json()
            assert seen["positions"], seen

            # 3. the venue's book, one tick through the router and one stream through it
            book = c.get(f"{base}/v1/venue/accounts", headers=h)
            assert book.status_code == 200, book.text
            rows = [r["account"] for r in book.json()["accounts"]]
            assert sorted(rows) == sorted(ACCOUNTS) and book.json()["totals"]["accounts"] == len(ACCOUNTS)
            with (
                connect(
                    base.replace("http://", "ws://") + "/v1/stream?api_key=xm_bad", open_timeout=15
                ) as bad,
                pytest.raises(ConnectionClosed) as closed,
            ):
                bad.recv(timeout=15)
            assert (
                closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            )  # the shards' code, passed on
            events: list[dict[str, Any]] = []
            ready, stop = threading.Event(), threading.Event()
            reader = threading.Thread(target=_stream, args=(base, admin, events, ready, stop))
            reader.start()
            assert ready.wait(30), events
            tick = c.post(
                f"{base}/v1/ticks",
                headers={**h, "Idempotency-Key": "router-tick-1"},
                json={"prices": {"BTC": 89000.0}, "time": "2026-11-25T08:05:00Z"},
            )
            assert tick.status_code == 200, tick.text
            assert set(tick.json()["changed"]) >= set(LEVERAGED), tick.json()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if {m.get("account") for m in events if m["type"] == "status"} >= set(LEVERAGED):
                    break
                time.sleep(0.1)
            time.sleep(1.0)  # a second copy of the tick, if one were passed on, would have arrived
            stop.set()
            reader.join(timeout=15)
            assert events[0]["type"] == "hello" and events[0]["scope"] == "admin"
            ticks = [m for m in events if m["type"] == "tick"]
            assert len(ticks) == 1 and ticks[0]["prices"] == {"BTC": 89000.0}, ticks
            assert {m["account"] for m in events if m["type"] == "status"} >= set(LEVERAGED)
            with Ledger(pg) as ledger:
                mark = ledger.store.index_marks()["BTC"]
            assert (mark.price_usd, mark.version) == (89000.0, before + 1)  # stored once by two shards

            # 4. a shard killed: its accounts 503 naming it, the other shard's accounts still served
            ws_url = base.replace("http://", "ws://") + f"/v1/stream?api_key={admin}"
            with connect(ws_url, open_timeout=15) as watching:
                assert json.loads(watching.recv(timeout=15))["type"] == "hello"
                shards.procs[1].send_signal(signal.SIGKILL)
                shards.procs[1].wait(timeout=15)
                with pytest.raises(ConnectionClosed) as gone:
                    while True:
                        watching.recv(timeout=15)  # a TimeoutError here: the router kept the socket open
            assert gone.value.rcvd is not None and gone.value.rcvd.code == 1014  # Bad Gateway
            assert f"shard 1/2 ({shards.base[1]})" in gone.value.rcvd.reason
            for a in ACCOUNTS:
                t0 = time.monotonic()
                r = c.get(f"{base}/v1/accounts/{a}/margin", headers=h)
                took = time.monotonic() - t0
                assert took < KILLED_ANSWER_S, (a, took)
                if shard_of(a, 2) == 0:
                    assert r.status_code == 200, (a, r.text)
                else:
                    assert r.status_code == 503, (a, r.status_code, r.text)
                    doc = r.json()
                    assert doc["error"]["where"] == f"shard 1/2 ({shards.base[1]})", doc
                    assert doc["shard"] == {"index": 1, "count": 2, "url": shards.base[1]}
            health_r = c.get(f"{base}/v1/health")
            assert health_r.status_code == 503
            assert [s["status"] for s in health_r.json()["shards"]] == ["ok", "down"]
            # a stateless request goes to any shard: the live one answers both turns of the round robin
            posted = {"account": "p", "collateral": {"USDC": 50000.0}, "positions": {PERP: -0.5}}
            for _ in range(2):
                r = c.post(f"{base}/v1/margin", headers=h, json={"portfolio": posted})
                assert (r.status_code, r.headers.get("X-Xmargin-Shard")) == (200, "0/2"), r.text
        assert router.poll() is None, (tmp_path / "router.log").read_text()
        assert "Traceback" not in (tmp_path / "router.log").read_text()
    finally:
        if router is not None:
            router.send_signal(signal.SIGTERM)
            try:
                router.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung router
                router.kill()
                router.wait()
        shards.stop()
