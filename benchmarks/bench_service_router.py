"""What the router costs: ``GET /v1/accounts/{a}/margin`` through ``xmargin route`` against the same request
sent straight to the owning shard (docs/service.md, "Router").

Two ``xmargin serve --shard I/2`` processes on one SQLite ledger (``examples/market.yaml``, ``--rate-limit
none``) and ``xmargin route`` in front of them, all on loopback. ``--accounts`` accounts each hold 10,000
USDC and a 0.1 BTC_USDC-PERPETUAL long. One client (``httpx.Client``, one keep-alive connection to the
router and one to each shard) asks each account's margin, alternately straight from its owner and through
the router, ``--rounds`` times over the accounts after one warm-up round (the shards' report caches are
filled, so the figures are the HTTP path, not the model). Both columns are measured in the same run, one
request after the other, so a load change on the shared machine moves both.

Usage::

    python benchmarks/bench_service_router.py [--accounts 20] [--rounds 25] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from _serving import free_port, latency_stats, wait_healthy
from xmargin.ledger import Ledger
from xmargin.market import load_market
from xmargin.service import KeyStore, Scope
from xmargin.service._shard import shard_of

ROOT = Path(__file__).resolve().parents[1]
MARKET = ROOT / "examples" / "market.yaml"
XMARGIN = Path(sys.executable).parent / "xmargin"
PERP = "BTC_USDC-PERPETUAL"
RESULTS = ROOT / "benchmarks" / "results" / "service_router.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    accounts = [f"acct{i:03d}" for i in range(args.accounts)]
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'ledger.db'}"
        market = load_market(MARKET)
        with Ledger(db) as ledger:
            admin = KeyStore(ledger.store).create("venue", Scope.ADMIN).key
            for a in accounts:
                ledger.deposit(a, "USDC", "10000")
                ledger.trade(a, PERP, "0.1", "95000", market=market)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        shards = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
        try:
            for i, base in enumerate(shards):
                log = Path(tmp) / f"shard{i}.log"
                cmd = [
                    str(XMARGIN),
                    "serve",
                    "--db",
                    db,
                    "--market",
                    str(MARKET),
                    "--port",
                    base.rsplit(":", 1)[1],
                ]
                cmd += ["--shard", f"{i}/2", "--rate-limit", "none"]
                with log.open("w") as out:
                    procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env))
                wait_healthy(base, procs[-1], log, 90.0)
            router = f"http://127.0.0.1:{free_port()}"
            log = Path(tmp) / "router.log"
            cmd = [str(XMARGIN), "route", "--port", router.rsplit(":", 1)[1]]
            for base in shards:
                cmd += ["--shard-url", base]
            with log.open("w") as out:
                procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env))
            wait_healthy(router, procs[-1], log, 90.0)
            h = {"X-API-Key": admin}
            direct: list[float] = []
            routed: list[float] = []
            load = os.getloadavg()[0]
            with httpx.Client(timeout=60) as c:
                for r in range(args.rounds + 1):
                    for a in accounts:
                        for base, out_ in ((shards[shard_of(a, 2)], direct), (router, routed)):
                            t0 = time.perf_counter()
                            resp = c.get(f"{base}/v1/accounts/{a}/margin", headers=h)
                            took = time.perf_counter() - t0
                            if resp.status_code != 200:
                                raise SystemExit(f"{base} {a}: {resp.status_code} {resp.text[:300]}")
                            if r > 0:  # round 0 warms the caches
                                out_.append(took)
            load = max(load, os.getloadavg()[0])
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
    doc: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_average_max": round(load, 2),
        "accounts": args.accounts,
        "rounds": args.rounds,
        "direct": latency_stats(direct),
        "router": latency_stats(routed),
    }
    doc["overhead_p50_ms"] = doc["router"]["p50_ms"] - doc["direct"]["p50_ms"]
    doc["overhead_p99_ms"] = doc["router"]["p99_ms"] - doc["direct"]["p99_ms"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
