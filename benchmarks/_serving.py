"""What the service benchmarks share: a free loopback port, latency percentiles, waiting for a started
``xmargin serve`` (or ``xmargin route``) to answer its health check."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def latency_stats(seconds: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds, and the count, of request times in seconds."""
    ms = np.asarray(seconds) * 1e3
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "n": float(ms.size),
    }


def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    """Return once ``GET {base}/v1/health`` answers 200; exit naming the log if ``proc`` ends first or
    ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{base} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{base}: no health within {timeout_s:g} s; see {log}")
