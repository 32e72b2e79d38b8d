"""Ledger throughput and pre-trade check latency.

- events appended per second, one writer, every append a full command (idempotency-key lookup, live
  state, optimistic append, commit): SQLite file (WAL, synchronous=FULL) and PostgreSQL;
- the same with 4 writer threads on 4 accounts (PostgreSQL; SQLite serialises writers);
- pre-trade check latency (fold + pm margin of the account after the trade, nothing written), p50/p99,
  and a whole checked trade command (check + append) on SQLite.

Usage::

    python benchmarks/bench_ledger.py [--events 2000] [--checks 2000] [--pg URL | --no-pg]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from xmargin.ledger import Ledger
from xmargin.market import load_market

ROOT = Path(__file__).resolve().parents[1]
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def appends_per_second(url: str, n: int, threads: int = 1) -> float:
    def work(t: int) -> None:
        with Ledger(url) as ledger:
            for _ in range(n // threads):
                ledger.deposit(f"bench-{t}", "USDC", "1.5", key=uuid.uuid4().hex)

    with Ledger(url) as ledger:  # migrate and warm up
        ledger.deposit("warm", "USDC", "1")
    t0 = time.perf_counter()
    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return (n // threads) * threads / (time.perf_counter() - t0)


def check_latency(url: str, calls: int) -> dict[str, float]:
    market = load_market(ROOT / "examples" / "market.yaml")
    with Ledger(url) as ledger:
        ledger.deposit("trader", "USDC", "2000000")
        ledger.deposit("trader", "BTC", "5")
        for name, size, price in (
            ("BTC-PERPETUAL", "-2", "95000"),
            ("BTC-27DEC26-100000-C", "-3", "0.04"),
            ("BTC-27DEC26", "1", "95400"),
            (
                "ETH_USDC-27DEC26-4000-P",
                "-20",
                "590",
            ),  # near its mark (594): fills outside the band are refused
            ("BTC_USDC-PERPETUAL", "1.5", "95000"),
        ):
            ledger.trade("trader", name, size, price, market=market)
        ledger.preview_trade("trader", "BTC_USDC-PERPETUAL", "0.1", "95000", market=market)
        pre = []
        for _ in range(calls):
            t0 = time.perf_counter()
            ledger.preview_trade("trader", "BTC_USDC-PERPETUAL", "0.1", "95000", market=market)
            pre.append(time.perf_counter() - t0)
        full = []
        for i in range(calls // 4):
            t0 = time.perf_counter()
            ledger.trade(
                "trader", "BTC_USDC-PERPETUAL", "0.001" if i % 2 else "-0.001", "95000", market=market
            )
            full.append(time.perf_counter() - t0)
    p = np.asarray(pre) * 1e3
    f = np.asarray(full) * 1e3
    return {
        "check_p50_ms": float(np.percentile(p, 50)),
        "check_p99_ms": float(np.percentile(p, 99)),
        "trade_p50_ms": float(np.percentile(f, 50)),
        "trade_p99_ms": float(np.percentile(f, 99)),
    }


def _pg_schema(base: str) -> tuple[str, str] | None:
    import psycopg
    from sqlalchemy import make_url

    conninfo = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except Exception as exc:
        print(f"PostgreSQL skipped: {type(exc).__name__}: {exc}")
        return None
    return conninfo, schema


def _drop(conninfo: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--pg", default=PG_DEFAULT)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        out["sqlite_events_per_s"] = appends_per_second(url, args.events)
        out.update(check_latency(f"sqlite:///{tmp}/check.db", args.checks))
    if not args.no_pg:
        made = _pg_schema(args.pg)
        if made is not None:
            conninfo, schema = made
            url = f"{args.pg}?options=-csearch_path%3D{schema}"
            try:
                out["postgresql_events_per_s"] = appends_per_second(url, args.events)
                out["postgresql_4_threads_events_per_s"] = appends_per_second(url, args.events, threads=4)
            finally:
                _drop(conninfo, schema)
    for k, v in out.items():
        print(f"{k:36s} {v:12,.3f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
