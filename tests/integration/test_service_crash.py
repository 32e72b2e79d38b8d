"""SIGKILL the real ``xmargin serve`` under write load at random (seeded) points, 20 times on one SQLite
ledger (docs/service.md "Crash safety"). After each kill and restart:

- every write that got a 2xx is in the ledger, with the seq and amounts it was answered with;
- nothing is partial: the hash chain verifies, every account replays, money is conserved (the ledger's fold,
  in Decimal);
- the one request per account that was in flight (no answer) is retried with its ``Idempotency-Key`` on the
  restarted server and lands exactly once (a replay when it had committed);
- the restarted server serves, for every account, exactly the portfolio the last answer before the kill
  served (its ``portfolio``), and that is the ledger's own fold of the stored events.

Each account has one writer (its writes are sequential), so "the last state served" is defined. Writes mix
deposits (admin key), trades of the linear BTC perpetual with the pre-trade checks, and withdrawals (trade
keys), all sized never to be refused. The server runs as the CLI's ``serve`` in a process forked by
multiprocessing's forkserver, which imported xmargin once (a fresh interpreter costs ~5 s of imports per
restart on this machine, which 20 restarts cannot afford), and is killed with ``os.kill(pid, SIGKILL)``.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.serving import Sent, Writers, free_port, serve_child, stored_key, wait_healthy
from xmargin.ledger import Ledger
from xmargin.ledger._money import to_text
from xmargin.service import KeyStore, Scope

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
WRITERS = 4
SEED = 20261204
FAST_KDF = "scrypt:1024:8:1"
PERP = "BTC_USDC-PERPETUAL"


def _write(t: int, i: int) -> tuple[str, str, dict[str, str]]:
    """Writer ``t``'s ``i``-th write: a deposit, a trade or a withdrawal of account ``acc<t>``."""
    a = f"acc{t}"
    match i % 3:
        case 0:
            return a, f"/v1/accounts/{a}/deposits", {"asset": "USDC", "amount": f"{100 + i}.{t:02d}"}
        case 1:
            size = "0.01" if (i // 3) % 2 == 0 else "-0.01"
            return a, f"/v1/accounts/{a}/trades", {"instrument": PERP, "size": size, "price": "95000"}
        case _:
            return a, f"/v1/accounts/{a}/withdrawals", {"asset": "USDC", "amount": "1.5"}


def _exact(state: Any) -> dict[str, Any]:
    """The ledger fold's holdings in the API's ``exact`` shape (decimal strings)."""
    return {
        "collateral": {a: to_text(v) for a, v in state.balances.items() if v != 0},
        "positions": {
            n: {"size": to_text(p.size), "avg_price": to_text(p.avg_price)}
            for n, p in state.positions.items()
        },
    }


def _check(url: str, sent: list[Sent]) -> None:
    """Every 2xx is stored as answered; nothing is partial (module docstring)."""
    with Ledger(url, migrate=False) as ledger:
        for s in sent:
            if s.status is not None:
                assert s.status == 201, (s.path, s.answer)
                assert s.answer is not None
                e = {e.key: e for e in ledger.events(s.account)}[stored_key(s.account, s.key)]
                assert e.seq == s.answer["seq"] and s.answer["event"].items() <= dict(e.data).items()
        assert ledger.store.verify_chain().first_break is None
        assert ledger.venue_totals().conservation_gap() == {}


def _retry(client: httpx.Client, s: Sent, headers: dict[str, str], url: str) -> tuple[dict[str, Any], bool]:
    """Send an unanswered write again with its key: it lands once (a replay if it had committed). Returns
    the answer and whether it was a replay."""
    with Ledger(url, migrate=False) as ledger:
        before = [e for e in ledger.events(s.account) if e.key == stored_key(s.account, s.key)]
    r = client.post(s.path, headers={**headers, "Idempotency-Key": s.key}, json=s.body)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    replayed = r.headers.get("Idempotent-Replayed") == "true"
    assert replayed == bool(before)  # a replay exactly when it had committed before the kill
    with Ledger(url, migrate=False) as ledger:
        mine = [e for e in ledger.events(s.account) if e.key == stored_key(s.account, s.key)]
    assert len(mine) == 1 and mine[0].seq == doc["seq"]
    return doc, replayed


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    url = f"sqlite:///{db}"
    with Ledger(url) as ledger:
        keys = KeyStore(ledger.store, kdf=FAST_KDF)
        admin = keys.create("venue", Scope.ADMIN).key
        trade = {f"acc{t}": keys.create(f"acc{t}", Scope.TRADE).key for t in range(WRITERS)}
        for t in range(WRITERS):
            ledger.deposit(f"acc{t}", "USDC", "1000000", key=f"seed-{t}")
    args = ["--db", str(db), "--market", str(ROOT / "examples" / "market.yaml"), "--rate-limit", "none"]

    def headers(account: str, path: str) -> dict[str, str]:
        return {"X-API-Key": admin if path.endswith("/deposits") else trade[account]}

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["xmargin.cli", "xmargin.service", "tests.integration.serving_warm"])
    rng = random.Random(SEED)
    last: dict[str, dict[str, Any]] = {}  # the portfolio last served per account
    pending: list[Sent] = []  # requests without an answer when the server was killed
    acked = replayed = 0
    started = time.monotonic()
    for round_ in range(KILLS + 1):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = str(tmp_path / "serve.log")
        proc = ctx.Process(target=serve_child, args=([*args, "--port", str(port)], log))
        proc.start()
        try:
            wait_healthy(base, proc.is_alive)
            with httpx.Client(base_url=base, timeout=30.0) as client:
                for s in pending:
                    doc, again = _retry(client, s, headers(s.account, s.path), url)
                    replayed += again
                    last[s.account] = doc["portfolio"]
                # the restarted server serves the state last served, and that is the ledger's own fold
                with Ledger(url, migrate=False) as ledger:
                    for a in trade:
                        got = client.get(f"/v1/accounts/{a}", headers=headers(a, "")).json()
                        if a in last:
                            assert got == last[a], a
                        state = ledger.replay(a)
                        assert got["version"] == state.version and got["exact"] == _exact(state), a
            if round_ == KILLS:
                break
            writers = Writers(base, headers, _write, WRITERS, tag=f"r{round_}w").start()
            time.sleep(rng.uniform(0.2, 0.9))
            os.kill(proc.pid or 0, signal.SIGKILL)
            proc.join(10)
            sent = writers.join()
        finally:
            if proc.is_alive():  # pragma: no cover - the kill did not land, or a check failed
                proc.kill()
                proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        _check(url, sent)
        acked += sum(s.status is not None for s in sent)
        for s in sent:
            if s.answer is not None:
                last[s.account] = s.answer["portfolio"]
        pending = [s for s in sent if s.status is None]
        assert len(pending) <= WRITERS  # one in flight per writer at most
    elapsed = time.monotonic() - started
    print(
        f"{KILLS} kills, {acked} writes acknowledged, {replayed} in-flight writes had committed, {elapsed:.1f} s"
    )
    assert acked > KILLS * WRITERS, f"only {acked} writes acknowledged in {KILLS} rounds"
