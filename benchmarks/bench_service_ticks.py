"""Tick -> WebSocket latency of ``xmargin serve``: a real uvicorn server on loopback (in a thread of this
process), ticks posted over HTTP, messages read by a WebSocket client in another thread.

Two books:

- ``small``: two accounts; the ticks alternate BTC between 91,000 and 89,000 so that alice (long 1
  BTC_USDC-PERPETUAL from 95,000 on 20,000 USDC) flips between ``ok`` and ``margin_call`` on every tick:
  every tick produces a ``status`` message.
- ``generated``: ``xmargin book generate``'s synthetic book of ``--accounts`` accounts, written to the
  ledger as deposits and trades at the market's prices (events appended directly, 500 accounts per
  transaction; negative collateral and zero-priced options are left out), then ticked by a random walk of
  BTC and ETH (0.5% steps, seeded), after one warm-up tick.

Latency is from just before the POST is sent to the arrival of the tick's first message on the socket
(``tick``; the status changes of that tick are published in the same batch, after the whole book has been
re-margined and any liquidation written), and separately to the tick's first ``status`` message when it
has one. p50 / p99 over ``--ticks`` ticks.

Usage::

    python benchmarks/bench_service_ticks.py [--ticks 200] [--accounts 5000]
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from websockets.sync.client import connect

from xmargin.engine import generate_book
from xmargin.ledger import Ledger
from xmargin.market import MarketSnapshot, load_market
from xmargin.service import KeyStore, Scope, create_app
from xmargin.testing.ledger_books import write_book

ROOT = Path(__file__).resolve().parents[1]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_generated(ledger: Ledger, market: MarketSnapshot, n: int, seed: int) -> int:
    """Write the generated book into the ledger; returns the number of events."""
    return write_book(ledger, generate_book(market, n, seed), market)


class Reader(threading.Thread):
    """Reads the socket; records (arrival time, message) of every message."""

    def __init__(self, ws: Any) -> None:
        super().__init__(daemon=True)
        self.ws = ws
        self.got: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        try:
            for text in self.ws:
                t = time.perf_counter()
                with self.lock:
                    self.got.append((t, json.loads(text)))
        except Exception:
            return


def measure(
    ledger: Ledger, market: MarketSnapshot, prices: list[dict[str, float]], warmup: int
) -> dict[str, Any]:
    keys = KeyStore(ledger.store, kdf="scrypt:1024:8:1")
    admin = keys.create("venue", Scope.ADMIN).key
    started = time.perf_counter()
    app = create_app(ledger, keys, market)
    build_s = time.perf_counter() - started
    port = _port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/v1/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    tick_ms: list[float] = []
    quiet_ms: list[float] = []
    status_ms: list[float] = []
    statuses = 0
    liquidations = 0
    with (
        httpx.Client(base_url=base, headers={"X-API-Key": admin}, timeout=60) as http,
        connect(f"ws://127.0.0.1:{port}/v1/stream", additional_headers={"X-API-Key": admin}) as ws,
    ):
        reader = Reader(ws)
        reader.start()
        for i, body in enumerate(prices):
            with reader.lock:
                seen = len(reader.got)
            sent = time.perf_counter()
            r = http.post("/v1/ticks", json={"prices": body})
            assert r.status_code == 200, r.text
            deadline = time.monotonic() + 30
            first_tick = first_status = None
            while time.monotonic() < deadline:
                with reader.lock:
                    new = reader.got[seen:]
                for t, msg in new:
                    if msg["type"] == "tick" and first_tick is None and msg["prices"] == body:
                        first_tick = t
                    if msg["type"] == "status" and first_status is None and first_tick is not None:
                        first_status = t
                if first_tick is not None and (not r.json()["changed"] or first_status is not None):
                    break
                time.sleep(0.0002)
            assert first_tick is not None
            if i >= warmup:
                tick_ms.append((first_tick - sent) * 1e3)
                if not r.json()["liquidated"]:
                    quiet_ms.append((first_tick - sent) * 1e3)
                if first_status is not None:
                    status_ms.append((first_status - sent) * 1e3)
                statuses += len(r.json()["changed"])
            liquidations += len(r.json()["liquidated"])
    server.should_exit = True
    thread.join(timeout=10)

    def pct(xs: list[float], q: float) -> float | None:
        return float(np.percentile(xs, q)) if xs else None

    return {
        "ticks": len(tick_ms),
        "app_build_s": build_s,
        "tick_p50_ms": pct(tick_ms, 50),
        "tick_p99_ms": pct(tick_ms, 99),
        "no_liquidation_ticks": len(quiet_ms),
        "no_liquidation_p50_ms": pct(quiet_ms, 50),
        "no_liquidation_p99_ms": pct(quiet_ms, 99),
        "status_ticks": len(status_ms),
        "status_p50_ms": pct(status_ms, 50),
        "status_p99_ms": pct(status_ms, 99),
        "status_changes": statuses,
        "liquidations": liquidations,
    }


def small(tmp: Path, market: MarketSnapshot, ticks: int) -> dict[str, Any]:
    ledger = Ledger(f"sqlite:///{tmp / 'small.db'}")
    ledger.deposit("alice", "USDC", "20000")
    ledger.deposit("bob", "USDC", "100000")
    ledger.trade("alice", "BTC_USDC-PERPETUAL", "1", "95000", market=market)
    ledger.trade("bob", "BTC_USDC-PERPETUAL", "-1", "95000", market=market)
    prices = [{"BTC": 91000.0 if i % 2 == 0 else 89000.0} for i in range(ticks)]
    out = {"accounts": 2, **measure(ledger, market, prices, warmup=0)}
    ledger.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-small", action="store_true")
    args = parser.parse_args()
    market = load_market(ROOT / "examples" / "market.yaml")
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_small:
            out["small"] = small(Path(tmp), market, args.ticks)
        ledger = Ledger(f"sqlite:///{Path(tmp) / 'generated.db'}")
        t0 = time.perf_counter()
        events = load_generated(ledger, market, args.accounts, args.seed)
        load_s = time.perf_counter() - t0
        rng = np.random.default_rng(args.seed)
        btc, eth = market.index("BTC"), market.index("ETH")
        walk = [
            {"BTC": btc * 1.001, "ETH": eth * 1.001}
        ]  # warm-up tick (liquidates what starts liquidatable)
        for _ in range(args.ticks):
            btc *= float(np.exp(rng.normal(0, 0.005)))
            eth *= float(np.exp(rng.normal(0, 0.005)))
            walk.append({"BTC": round(btc, 2), "ETH": round(eth, 2)})
        res = measure(ledger, market, walk, warmup=1)
        out["generated"] = {"accounts": args.accounts, "events": events, "ledger_load_s": load_s, **res}
        ledger.close()
    for name, r in out.items():
        print(
            f"{name:9s} {r['accounts']:6d} accounts: tick->WS p50 {r['tick_p50_ms']:.1f} ms p99 "
            f"{r['tick_p99_ms']:.1f} ms; without liquidations ({r['no_liquidation_ticks']} ticks) p50 "
            f"{r['no_liquidation_p50_ms']} p99 {r['no_liquidation_p99_ms']}; {r['liquidations']} liquidations"
        )
    print(json.dumps(out))
    name = "service_ticks.json" if not args.skip_small else f"service_ticks_{args.accounts}.json"
    (ROOT / "benchmarks" / "results" / name).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
