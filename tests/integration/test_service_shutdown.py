"""SIGTERM on the real ``xmargin serve`` during concurrent deposits: writes in flight finish and commit, the
server stops accepting, exits 0 within its bound, and its log is JSON lines without a key
(docs/service.md "Shutdown" and "Logs").

The server is the real subprocess on a free loopback port (its start costs a few seconds of imports); the
ledger is then checked directly, and every request that got no answer is retried with its
``Idempotency-Key`` on the same ledger (an app restarted in-process): each deposit is in the ledger once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner
from websockets.sync.client import connect

from tests.integration.serving import Writers, free_port, stored_key, wait_healthy
from xmargin.cli import app
from xmargin.ledger import Ledger
from xmargin.service import KeyStore, create_app
from xmargin.service._server import SHUTDOWN_TIMEOUT_S

XMARGIN = Path(sys.executable).parent / "xmargin"
WRITERS = 8


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_sigterm_finishes_in_flight_writes_and_exits_0(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    r = CliRunner().invoke(app, ["keys", "create", "venue", "--scope", "admin", "--json", "--db", str(db)])
    admin = json.loads(r.stdout)["key"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(XMARGIN), "serve", "--db", str(db), "--port", str(port), "--rate-limit", "none"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_healthy(base, lambda: proc.poll() is None)
        with connect(f"ws://127.0.0.1:{port}/v1/stream?api_key={admin}", open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"

        def deposit(t: int, i: int) -> tuple[str, str, dict[str, str]]:
            return f"acc{t}", f"/v1/accounts/acc{t}/deposits", {"asset": "USDC", "amount": f"{i + 1}.{t:02d}"}

        writers = Writers(base, lambda _a, _p: {"X-API-Key": admin}, deposit, WRITERS).start()
        time.sleep(1.5)
        term_at = time.time()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=SHUTDOWN_TIMEOUT_S + 10)
        stopped_in = time.time() - term_at
        sent = writers.join()
    finally:
        if proc.poll() is None:  # pragma: no cover - a hung server
            proc.kill()
            proc.wait()
    assert code == 0, log_path.read_text()[-2000:]
    assert stopped_in < SHUTDOWN_TIMEOUT_S + 5

    # the log: JSON lines only, no key anywhere (uvicorn's own lines included), start and stop events
    text = log_path.read_text()
    assert admin not in text and admin.split("_", 1)[1] not in text
    events = [json.loads(line) for line in text.splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "stop"
    assert events[-1]["reason"] == "SIGTERM" and events[-1]["seconds"] < SHUTDOWN_TIMEOUT_S
    assert any("WebSocket /v1/stream?api_key=REDACTED" in e["event"] for e in events)
    (shutting,) = [_ts(e["timestamp"]) for e in events if e["event"] == "Shutting down"]
    writes = [e for e in events if e["event"] == "request" and e["path"].endswith("/deposits")]
    assert writes and all(e["key_id"] == 1 and e["account"].startswith("acc") for e in writes)
    # writes in flight when the shutdown began were finished and answered...
    finished = [e for e in writes if _ts(e["timestamp"]) > shutting and e["status"] == 201]
    assert finished, "no write was in flight at the shutdown (a slow machine?)"
    # ... and none began after it (the server stopped accepting)
    assert all(_ts(e["timestamp"]) - e["latency_ms"] / 1000 <= shutting + 0.05 for e in writes)

    # every 2xx is in the ledger, exactly as answered; nothing is partial
    acked = [s for s in sent if s.status == 201]
    lost = [s for s in sent if s.status is None]
    assert len(acked) >= WRITERS and all(s.status in (201, None) for s in sent)
    with Ledger(f"sqlite:///{db}", migrate=False) as ledger:
        stored = {e.key: e for t in range(WRITERS) for e in ledger.events(f"acc{t}")}
        for s in acked:
            e = stored[stored_key(s.account, s.key)]
            assert Decimal(e.data["amount"]) == Decimal(s.body["amount"])
            assert s.answer is not None and s.answer["seq"] == e.seq
        assert ledger.store.verify_chain().first_break is None
        assert ledger.venue_totals().conservation_gap() == {}
        # a restart: each request without an answer, retried with its key, lands exactly once
        keys = KeyStore(ledger.store)
        with TestClient(create_app(ledger, keys)) as client:
            for s in lost:
                h = {"X-API-Key": admin, "Idempotency-Key": s.key}
                again = client.post(s.path, headers=h, json=s.body)
                assert again.status_code == 201, again.text
        for t in range(WRITERS):
            mine = [s for s in sent if s.account == f"acc{t}"]
            want = sum((Decimal(s.body["amount"]) for s in mine), Decimal(0))
            assert ledger.state(f"acc{t}").balance("USDC") == want
            assert len(ledger.events(f"acc{t}")) == len(mine)
