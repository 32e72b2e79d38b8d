"""``xmargin keys create|revoke`` and the real ``xmargin serve`` (uvicorn) on a free loopback port.

The commands run in-process (typer's runner: a subprocess costs ~4 s of imports each); the server runs as
the real ``xmargin serve`` subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result
from websockets.sync.client import connect

from xmargin.cli import app

ROOT = Path(__file__).resolve().parents[2]
XMARGIN = Path(sys.executable).parent / "xmargin"
STARTUP_TIMEOUT_S = 60.0  # an upper bound only: the loop goes on as soon as the server answers (a loaded machine starts it slowly)


def run(args: list[str], db: Path, code: int = 0) -> Result:
    r = CliRunner().invoke(app, [*args, "--db", str(db)])
    assert r.exit_code == code, (r.stdout, r.stderr)
    return r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nats_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1):
            return True
    except OSError:
        return False


def test_keys_create_and_revoke(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    doc = json.loads(run(["keys", "create", "alice", "--scope", "trade", "--json"], db).stdout)
    assert (doc["account"], doc["scope"]) == ("alice", "trade")
    assert doc["key"].startswith(f"xm{doc['key_id']}_")
    plain = run(["keys", "create", "alice"], db)
    assert plain.stdout.strip().startswith("xm2_") and "read on alice" in plain.stderr
    assert doc["key"].split("_", 1)[1] not in db.read_bytes().decode("latin-1")  # stored hashed only
    bad = run(["keys", "create", "alice", "--scope", "admin"], db, code=2)
    assert bad.stderr.startswith("error: ACCOUNT: expected 'venue' for an admin key")
    bad = run(["keys", "create", "~insurance", "--scope", "read"], db, code=2)
    assert bad.stderr.startswith("error: ACCOUNT:")
    assert run(["keys", "create", "alice", "--scope", "root"], db, code=2).stderr.startswith(
        "error: --scope:"
    )
    run(["keys", "revoke", str(doc["key_id"])], db)
    again = run(["keys", "revoke", str(doc["key_id"])], db, code=2)
    assert again.stderr.startswith("error: KEY_ID: expected the id of a key not yet revoked")


def test_serve_answers_on_loopback(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    admin = json.loads(run(["keys", "create", "venue", "--scope", "admin", "--json"], db).stdout)["key"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    prefix = f"xmtest-serve-{port}"
    nats = ["--nats", "nats://127.0.0.1:4222", "--nats-prefix", prefix] if nats_reachable() else []
    cmd = [str(XMARGIN), "serve", "--db", str(db), "--market", str(ROOT / "examples" / "market.yaml")]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), *nats],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"{base}/v1/health", timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, (tmp_path / "serve.log").read_text()
        assert health.json()["market"] == "2026-11-25T08:00:00Z"
        headers = {"X-API-Key": admin, "Idempotency-Key": "serve-1"}
        r = httpx.post(
            f"{base}/v1/accounts/alice/deposits", headers=headers, json={"asset": "BTC", "amount": "1.5"}
        )
        assert r.status_code == 201, r.text
        assert r.json()["portfolio"]["exact"]["collateral"] == {"BTC": "1.50000000"}
        assert httpx.get(f"{base}/v1/accounts/alice").status_code == 401
        # the stream, keyed in the query string as a browser does; a tick reaches it
        with connect(f"ws://127.0.0.1:{port}/v1/stream?api_key={admin}", open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
            tick = httpx.post(
                f"{base}/v1/ticks", headers={"X-API-Key": admin}, json={"prices": {"BTC": 94000.0}}
            )
            assert tick.status_code == 200, tick.text
            assert json.loads(ws.recv(timeout=5)) == {
                "type": "tick",
                "time": "2026-11-25T08:00:00Z",
                "prices": {"BTC": 94000.0},
            }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "serve.log").read_text()
    if nats:  # tests/integration/test_service_nats.py covers NATS itself (skipped, with a reason, without it)
        start = json.loads(text.splitlines()[0])  # the JSON log's first line (docs/service.md "Logs")
        assert start["event"] == "start"
        assert start["nats"] == f"nats://127.0.0.1:4222 ({prefix}.ticks.*, {prefix}.alerts)"
    assert "WebSocket /v1/stream?api_key=REDACTED" in text
    assert admin not in text and admin.split("_", 1)[1] not in text  # the key is never logged


@pytest.mark.parametrize(
    "args",
    [
        ["--rate-limit", "lots"],
        ["--model", "nope"],
        ["--market", "missing.yaml"],
        ["--nats", "http://127.0.0.1:4222"],
        ["--nats-prefix", "two words"],
        ["--shard", "2/2"],
        ["--shard", "half"],
        ["--snapshot-every", "-1"],
        ["--snapshot-interval", "nan"],
        ["--log-format", "xml"],
        ["--log-level", "loud"],
    ],
)
def test_serve_bad_input_exits_2(tmp_path: Path, args: list[str]) -> None:
    p = run(["serve", *args], tmp_path / "ledger.db", code=2)
    assert p.stderr.startswith("error: ") and len(p.stderr.strip().splitlines()) == 1
