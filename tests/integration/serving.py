"""Helpers of the tests that run the real ``xmargin serve`` on loopback: a free port, waiting for health,
deposits fired from threads with what each got, and the ledger key a request is stored under."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base: str, alive: Callable[[], bool], timeout_s: float = 30.0) -> float:
    """Seconds until ``GET /v1/health`` answers 200; AssertionError if the server dies or the time runs out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if not alive():
            raise AssertionError("the server exited before answering")
        try:
            if httpx.get(f"{base}/v1/health", timeout=1.0).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no health answer within {timeout_s} s")


def stored_key(account: str, idempotency_key: str) -> str:
    """The ledger key of a write sent with ``Idempotency-Key`` (service/_app.py ``_ledger_key``, restated:
    the test must not take it from the code under test)."""
    return "api-" + hashlib.sha256(f"{account}\n{idempotency_key}".encode()).hexdigest()[:40]


@dataclass
class Sent:
    """One write request and what came back: ``status`` (None: no answer, a transport error)."""

    account: str
    key: str
    path: str
    body: dict[str, str]
    sent: float
    done: float = 0.0
    status: int | None = None
    answer: dict[str, object] | None = None


class Writers:
    """``n`` threads, each writing to its own account back to back on its own connection, until its first
    request without an answer (the server stopped or was killed) or until :meth:`join`. ``make(t, i)`` is
    thread ``t``'s ``i``-th write (account, path, body); ``headers(account, path)`` its key; its
    ``Idempotency-Key`` is ``<tag><t>-<i>``."""

    def __init__(
        self,
        base: str,
        headers: Callable[[str, str], dict[str, str]],
        make: Callable[[int, int], tuple[str, str, dict[str, str]]],
        n: int,
        tag: str = "w",
    ) -> None:
        self.base, self.headers, self.make, self.tag = base, headers, make, tag
        self.sent: list[list[Sent]] = [[] for _ in range(n)]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(n)]

    def _run(self, t: int) -> None:
        with httpx.Client(base_url=self.base, timeout=30.0) as client:
            i = 0
            while not self.stop.is_set():
                account, path, body = self.make(t, i)
                key = f"{self.tag}{t}-{i}"
                s = Sent(account, key, path, body, time.time())
                self.sent[t].append(s)
                try:
                    r = client.post(
                        path, headers={**self.headers(account, path), "Idempotency-Key": key}, json=body
                    )
                    s.status = r.status_code
                    s.answer = r.json()
                except (httpx.TransportError, ValueError):
                    s.done = time.time()
                    return  # the server is gone (stopping or killed)
                s.done = time.time()
                i += 1

    def start(self) -> Writers:
        for th in self.threads:
            th.start()
        return self

    def join(self, timeout_s: float = 20.0) -> list[Sent]:
        self.stop.set()
        for th in self.threads:
            th.join(timeout_s)
        return [s for per in self.sent for s in per]


def serve_child(args: list[str], log_path: str) -> None:
    """The target of a forked server (multiprocessing's forkserver, whose process has the imports done):
    ``xmargin serve ARGS`` with its output in ``log_path``; never returns into the caller."""
    import os
    import sys

    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from xmargin.cli import app

    try:
        app(["serve", *args], prog_name="xmargin")
    finally:
        sys.stdout.flush()
        os._exit(0)


def warm_up(market_path: str) -> None:
    """One pre-trade check on an in-memory ledger: loads the margin kernels (numba's cache) once, in the
    forkserver, so each forked server starts with them (the check is small: numba's serial builds)."""
    from xmargin.ledger import Ledger
    from xmargin.market import load_market

    market = load_market(market_path)
    with Ledger("sqlite://", ephemeral=True) as ledger:
        ledger.deposit("warm", "USDC", "1000000")
        ledger.trade("warm", "BTC_USDC-PERPETUAL", "0.01", "95000", market=market)
