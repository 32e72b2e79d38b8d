"""Kill -9 a writer at random times: no acknowledged event is lost, no event is partial, replay is exact.

The writer (``crash_writer.py``) prints each key after its commit. Most kills fork the writer from the test
process (fast: no interpreter start-up); one test runs it as a real ``python`` subprocess.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ledger import crash_writer
from xmargin.ledger import Ledger, conservation_gap, upgrade_to_head

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _fork_writer(url: str, start: int) -> tuple[int, int]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: stdout is the pipe; never return into pytest
        try:
            os.close(r)
            os.dup2(w, 1)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            crash_writer.run(url, start)
        finally:
            os._exit(0)
    os.close(w)
    return pid, r


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


def _complete_lines(text: str) -> list[str]:
    """Keys whose line was fully written (a kill may cut the last line)."""
    lines = text.split("\n")
    return [ln for ln in lines[:-1] if ln]


def check_after_crashes(url: str, acked: list[str]) -> None:
    with Ledger(url, migrate=False) as ledger:
        stored = {e.key: e for a in crash_writer.ACCOUNTS for e in ledger.events(a)}
        lost = [k for k in acked if k not in stored]
        assert not lost, f"acknowledged but lost: {lost[:5]}"
        n = len(stored)
        assert set(stored) == {f"w-{i}" for i in range(n)}  # no gaps, no duplicates
        assert len(acked) <= n <= len(acked) + 1
        for a in crash_writer.ACCOUNTS:
            live = ledger.replay(a)  # fails fast on a gap or a partial payload
            assert conservation_gap(live) == {}
        assert ledger.store.verify_chain().first_break is None  # no half-written hash or head
    with Ledger("sqlite://", ephemeral=True) as ref:  # the same commands, never interrupted
        for i in range(n):
            crash_writer.command(ref, i)
        with Ledger(url, migrate=False) as ledger:
            for a in crash_writer.ACCOUNTS:
                assert ledger.replay(a) == ref.replay(a) == ref.state(a)


def _until_first_ack(fd: int, timeout_s: float = 10.0) -> bytes:
    """What the writer printed up to its first acknowledged key (or the timeout): each kill then lands
    after at least one commit, however slow the machine, and at a random point of the next ones."""
    out = b""
    deadline = time.monotonic() + timeout_s
    while b"\n" not in out:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        out += chunk
    return out


def kill_loop(url: str, kills: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    acked: list[str] = []
    for _ in range(kills):
        pid, fd = _fork_writer(url, len(acked))
        head = _until_first_ack(fd)
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        acked.extend(_complete_lines(head.decode() + _read_all(fd)))
    return acked


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sigkill_sqlite_60_times(sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    acked = kill_loop(sqlite_url, kills=60, seed=1)
    assert len(acked) >= 60  # most kills land after some commits, many inside a transaction
    check_after_crashes(sqlite_url, acked)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sigkill_postgresql(pg_url: str) -> None:
    upgrade_to_head(pg_url)
    acked = kill_loop(pg_url, kills=15, seed=2)
    check_after_crashes(pg_url, acked)


def test_sigkill_real_subprocess(sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    acked: list[str] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay in (0.8, 0.95, 1.1):
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "crash_writer.py"), sqlite_url, str(len(acked))],
            stdout=subprocess.PIPE,
            env=env,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        acked.extend(_complete_lines(out.decode()))
    check_after_crashes(sqlite_url, acked)
