"""Trades per second over HTTP: ``xmargin serve`` (uvicorn, one process) on SQLite and on PostgreSQL.

Each trade is ``POST /v1/accounts/{a}/trades`` of 0.01 BTC_USDC-PERPETUAL at 95,000 (alternately bought and
sold, so the position stays small), with the pre-trade checks (price band, ``available >= 0`` after, the
``pm`` model on ``examples/market.yaml``) and the ledger append (idempotency lookup, optimistic append,
commit; SQLite in WAL with synchronous=FULL). Measured in the same run, per database:

- ``library_trades_per_s``: the same checked trade as a library call in this process
  (``Ledger.trade``, one account, back to back): the reference the HTTP figures are divided by;
- ``library_appends_per_s``: plain deposits appended by the library (no risk check): the ledger's own rate;
- ``http_1_client``: one client (``httpx.Client``, one keep-alive connection) sending trades back to back;
- ``http_clients``: ``--clients`` clients (threads, one connection, one trade key and one account each)
  sending trades back to back for ``--seconds``; throughput is answered trades over the wall time.

The server runs with its defaults (``--log-format json``, one log line per request, to a file) but
``--rate-limit none``. Client and server share the machine's cores. PostgreSQL
(``--pg``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) gets a fresh schema, dropped after.

Usage::

    python benchmarks/bench_service_trades.py [--trades 300] [--clients 8] [--seconds 10] [--pg URL | --no-pg]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, make_url, text

from _serving import free_port, latency_stats, wait_healthy
from xmargin.ledger import Ledger
from xmargin.market import load_market
from xmargin.service import KeyStore, Scope

ROOT = Path(__file__).resolve().parents[1]
MARKET = ROOT / "examples" / "market.yaml"
XMARGIN = Path(sys.executable).parent / "xmargin"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PERP = "BTC_USDC-PERPETUAL"
RESULTS = ROOT / "benchmarks" / "results" / "service_trades.json"


def _trade(i: int) -> dict[str, str]:
    return {"instrument": PERP, "size": "0.01" if i % 2 == 0 else "-0.01", "price": "95000"}


def _library(url: str, n: int) -> tuple[float, float]:
    """(checked trades per second, plain appends per second) by the library in this process."""
    market = load_market(MARKET)
    with Ledger(url) as ledger:
        ledger.deposit("lib-trader", "USDC", "10000000")
        for i in range(10):  # warm-up: kernels loaded, caches filled
            ledger.trade("lib-trader", PERP, _trade(i)["size"], "95000", market=market)
        t0 = time.perf_counter()
        for i in range(n):
            ledger.trade("lib-trader", PERP, _trade(i)["size"], "95000", market=market)
        trades = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in range(n):
            ledger.deposit("lib-cash", "USDC", "1.5", key=uuid.uuid4().hex)
        appends = n / (time.perf_counter() - t0)
    return trades, appends


def _one_client(base: str, key: str, account: str, n: int) -> dict[str, float]:
    times = []
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30.0) as c:
        for i in range(10):
            c.post(f"/v1/accounts/{account}/trades", json=_trade(i)).raise_for_status()
        t0 = time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            r = c.post(f"/v1/accounts/{account}/trades", json=_trade(i))
            times.append(time.perf_counter() - t)
            r.raise_for_status()
        wall = time.perf_counter() - t0
    return {**latency_stats(times), "trades_per_s": n / wall}


def _many_clients(base: str, keys: list[tuple[str, str]], seconds: float) -> dict[str, float]:
    times: list[list[float]] = [[] for _ in keys]
    errors = [0] * len(keys)
    start = threading.Barrier(len(keys) + 1)
    stop_at = [0.0]

    def client(j: int, key: str, account: str) -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60.0) as c:
            c.post(f"/v1/accounts/{account}/trades", json=_trade(0)).raise_for_status()  # warm-up
            start.wait()
            i = 1
            while True:
                t = time.perf_counter()
                r = c.post(f"/v1/accounts/{account}/trades", json=_trade(i))
                times[j].append(time.perf_counter() - t)
                errors[j] += r.status_code != 201
                i += 1
                if time.perf_counter() >= stop_at[0]:
                    return

    threads = [threading.Thread(target=client, args=(j, k, a)) for j, (k, a) in enumerate(keys)]
    for th in threads:
        th.start()
    stop_at[0] = time.perf_counter() + seconds + 3600  # until the barrier opens
    start.wait()
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    flat = [x for per in times for x in per]
    return {**latency_stats(flat), "trades_per_s": len(flat) / wall, "errors": float(sum(errors))}


def _serve(url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = log.open("w")
    proc = subprocess.Popen(
        [
            str(XMARGIN),
            "serve",
            "--db",
            url,
            "--market",
            str(MARKET),
            "--port",
            str(port),
            "--rate-limit",
            "none",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    wait_healthy(base, proc, log, 60.0)
    return proc, base


def run_one(url: str, tmp: Path, trades: int, clients: int, seconds: float) -> dict[str, Any]:
    with Ledger(url) as ledger:
        store = KeyStore(ledger.store)
        accounts = [f"t{j:03d}" for j in range(clients + 1)]
        keys = [(store.create(a, Scope.TRADE).key, a) for a in accounts]
        for a in accounts:
            ledger.deposit(a, "USDC", "10000000")
    lib_trades, lib_appends = _library(url, trades)
    proc, base = _serve(url, tmp / "serve.log")
    try:
        one = _one_client(base, keys[0][0], keys[0][1], trades)
        many = _many_clients(base, keys[1:], seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "library_trades_per_s": lib_trades,
        "library_appends_per_s": lib_appends,
        "http_1_client": one,
        "http_clients": clients,
        "http_many_clients": many,
        "ratio_http_1_client_to_library": one["trades_per_s"] / lib_trades,
        "ratio_http_clients_to_library": many["trades_per_s"] / lib_trades,
    }


def _pg_schema(base: str) -> tuple[str, str, Any]:
    schema = f"bench_trades_{uuid.uuid4().hex[:8]}"
    engine = create_engine(make_url(base))
    with engine.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    return schema, f"{base}?options=-csearch_path%3D{schema}", engine


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trades", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pg", default=PG_DEFAULT)
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {"clients": args.clients, "seconds": args.seconds, "trades": args.trades}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = run_one(
            f"sqlite:///{Path(tmp) / 'ledger.db'}", Path(tmp), args.trades, args.clients, args.seconds
        )
        if not args.no_pg:
            schema, url, engine = _pg_schema(args.pg)
            try:
                out["postgresql"] = run_one(url, Path(tmp), args.trades, args.clients, args.seconds)
            finally:
                with engine.begin() as c:
                    c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                engine.dispose()
    out["load_average"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out))
        return
    for db in ("sqlite", "postgresql"):
        if db not in out:
            continue
        r = out[db]
        one, many = r["http_1_client"], r["http_many_clients"]
        print(
            f"{db}: library {r['library_trades_per_s']:.0f} checked trades/s, {r['library_appends_per_s']:.0f} appends/s"
        )
        print(
            f"  HTTP 1 client        {one['trades_per_s']:7.1f} trades/s  p50 {one['p50_ms']:6.1f} ms  "
            f"p99 {one['p99_ms']:6.1f} ms  ({r['ratio_http_1_client_to_library']:.2f}x library)"
        )
        print(
            f"  HTTP {args.clients} clients      {many['trades_per_s']:7.1f} trades/s  p50 {many['p50_ms']:6.1f} ms  "
            f"p99 {many['p99_ms']:6.1f} ms  errors {int(many['errors'])}  ({r['ratio_http_clients_to_library']:.2f}x library)"
        )
    print(f"load average {out['load_average']}")


if __name__ == "__main__":
    main()
