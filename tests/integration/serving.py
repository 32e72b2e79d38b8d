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
    """``n`` threads, each writing to its own account back to back with its own connection until stopped
    (or, once ``stop_on_error`` is set, until its first request without an answer)."""

    def __init__(
        self,
        base: str,
        headers: Callable[[str], dict[str, str]],
        make: Callable[[int, int], tuple[str, str, dict[str, str]]],
        n: int,
    ) -> None:
        self.base, self.headers, self.make = base, headers, make
        self.sent: list[list[Sent]] = [[] for _ in range(n)]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(n)]

    def _run(self, t: int) -> None:
        with httpx.Client(base_url=self.base, timeout=30.0) as client:
            i = 0
            while not self.stop.is_set():
                account, path, body = self.make(t, i)
                key = f"w{t}-{i}"
                s = Sent(account, key, path, body, time.time())
                self.sent[t].append(s)
                try:
                    r = client.post(path, headers={**self.headers(account), "Idempotency-Key": key}, json=body)
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
