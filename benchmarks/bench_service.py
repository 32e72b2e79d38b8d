"""The service's latency and throughput over real HTTP: ``xmargin serve`` (uvicorn, one process) on loopback.

Issue 14's targets: a what-if answered with p99 <= 5 ms for one client; 50 concurrent clients served at
>= 1,000 requests/s with p99 <= 50 ms. Measured here, in the same run:

- ``library``: the same what-if as a library call in this process (``whatif_report`` on the same account and
  market), the reference the HTTP figures are divided by;
- ``whatif_1_client``: one client sending ``POST /v1/accounts/{a}/whatif`` back to back on one keep-alive
  connection (``httpx.Client``);
- ``margin_50_clients``: 50 clients (``httpx.AsyncClient``, one connection each, one key each, on 50
  accounts) each sending ``GET /v1/accounts/{a}/margin`` back to back for ``--seconds``; throughput is the
  answered requests over the wall time, latency is per request.

The accounts hold ``examples/portfolio.yaml``'s book (collateral deposited and trades booked through the
API); the market is ``examples/market.yaml``; the model is the service's default (``pm``); the rate limit
is off (``--rate-limit none``) so the limiter does not shape the figures. The client runs on the same two
cores as the server, so the figures include the client's own cost.

Usage::

    python benchmarks/bench_service.py [--calls 500] [--clients 50] [--seconds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from _serving import free_port, latency_stats, wait_healthy
from xmargin.instruments import parse_name, portfolio_from_mapping
from xmargin.margin import account_report, resolve_model, solve, whatif_report
from xmargin.margin._liquidation import account_gap, underlyings_of
from xmargin.market import load_market
from xmargin.risk import Book, Trade, apply_trades, fill_price

ROOT = Path(__file__).resolve().parents[1]
MARKET = ROOT / "examples" / "market.yaml"
PORTFOLIO = ROOT / "examples" / "portfolio.yaml"
XMARGIN = Path(sys.executable).parent / "xmargin"
WHATIF = {"trades": [{"instrument": "BTC-PERPETUAL", "size": "0.1"}]}


def _key(db: Path, account: str, scope: str) -> str:
    out = subprocess.run(
        [str(XMARGIN), "keys", "create", account, "--scope", scope, "--db", str(db), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return str(json.loads(out.stdout)["key"])


def _stats(seconds: list[float]) -> dict[str, float]:
    return {**latency_stats(seconds), "max_ms": float(np.max(seconds)) * 1e3}


def _library_whatif(doc: Any, calls: int) -> dict[str, dict[str, float]]:
    """The what-if as a library call on the account the server holds (``doc``: its portfolio file):
    ``full`` (before and after, each with its liquidation prices), ``before_kept`` (the before made once and
    passed in, as the service does while the account and the market stand) and ``scan`` (``full`` with the
    point-by-point liquidation-price scan, the solver before the stacked one: the reference)."""
    market = load_market(MARKET)
    account = portfolio_from_mapping(doc)
    model = resolve_model("pm")
    trade = [Trade(parse_name("BTC-PERPETUAL"), 0.1, None)]
    before = account_report(model, account, market)

    def timed(fn: Any, n: int) -> dict[str, float]:
        for _ in range(min(n, 20)):
            fn()
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return _stats(times)

    full = timed(lambda: whatif_report(model, account, trade, market), calls)
    kept = timed(lambda: whatif_report(model, account, trade, market, before=before), calls)

    def scan_whatif() -> None:
        """The same what-if with the liquidation prices of the point-by-point scan (``margin.solve``)."""
        whatif_report(model, account, trade, market, with_liquidation=False)
        for pf in (account, apply_trades(account, trade, market)):
            book = Book.from_portfolio(pf)
            gap = account_gap(model, model.pin(book, market))
            {u: solve(gap, market, u) for u in underlyings_of(book)}

    scan = timed(scan_whatif, max(calls // 50, 5))
    return {"full": full, "before_kept": kept, "scan": scan}


def _fund(base: str, admin: str, account: str) -> None:
    book = yaml.safe_load(PORTFOLIO.read_text())
    headers = {"X-API-Key": admin}
    with httpx.Client(base_url=base, headers=headers, timeout=30.0) as c:
        for asset, amount in book["collateral"].items():
            r = c.post(f"/v1/accounts/{account}/deposits", json={"asset": asset, "amount": str(amount)})
            r.raise_for_status()
        r = c.post(f"/v1/accounts/{account}/deposits", json={"asset": "USDC", "amount": "500000"})
        r.raise_for_status()
        for name, pos in book["positions"].items():
            size = pos["size"] if isinstance(pos, dict) else pos
            mark = _mark(name)
            r = c.post(
                f"/v1/accounts/{account}/trades",
                json={"instrument": name, "size": str(size), "price": f"{mark:.8f}"},
            )
            if r.status_code != 201:
                raise SystemExit(f"booking {name} on {account}: {r.status_code} {r.text}")


_MARKS: dict[str, float] = {}


def _mark(name: str) -> float:
    if not _MARKS:
        market = load_market(MARKET)
        book = yaml.safe_load(PORTFOLIO.read_text())
        for n in book["positions"]:
            _MARKS[n] = fill_price(parse_name(n), market)
    return _MARKS[name]


def _one_client(base: str, key: str, account: str, calls: int) -> dict[str, float]:
    times = []
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30.0) as c:
        for _ in range(20):
            c.post(f"/v1/accounts/{account}/whatif", json=WHATIF).raise_for_status()
        for _ in range(calls):
            t = time.perf_counter()
            r = c.post(f"/v1/accounts/{account}/whatif", json=WHATIF)
            times.append(time.perf_counter() - t)
            r.raise_for_status()
    return _stats(times)


async def _many_clients(
    base: str, keys: list[tuple[str, str]], seconds: float, *, whatif: bool
) -> dict[str, float]:
    """Each client sends requests back to back for ``seconds``: what-ifs (``whatif``) or margin reads."""
    times: list[float] = []
    errors = 0

    async def one(c: httpx.AsyncClient, account: str) -> httpx.Response:
        if whatif:
            return await c.post(f"/v1/accounts/{account}/whatif", json=WHATIF)
        return await c.get(f"/v1/accounts/{account}/margin")

    async def client(c: httpx.AsyncClient, account: str, stop: float) -> None:
        nonlocal errors
        while True:  # at least one counted request per client, however slow
            t = time.perf_counter()
            r = await one(c, account)
            times.append(time.perf_counter() - t)
            errors += r.status_code != 200
            if time.perf_counter() >= stop:
                break

    clients = [httpx.AsyncClient(base_url=base, headers={"X-API-Key": k}, timeout=60.0) for k, _ in keys]
    try:
        # warm-up, not counted: every client connected and every account's report made once
        await asyncio.gather(*(one(c, a) for c, (_, a) in zip(clients, keys, strict=True)))
        start = time.perf_counter()
        stop = start + seconds
        await asyncio.gather(*(client(c, a, stop) for c, (_, a) in zip(clients, keys, strict=True)))
        wall = time.perf_counter() - start
    finally:
        for c in clients:
            await c.aclose()
    out = _stats(times)
    out["requests_per_s"] = len(times) / wall
    out["errors"] = float(errors)
    return out


def run(calls: int, clients: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ledger.db"
        admin = _key(db, "venue", "admin")
        accounts = [f"c{i:03d}" for i in range(clients)]
        keys = [(_key(db, a, "read"), a) for a in accounts]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = (Path(tmp) / "serve.log").open("w")
        cmd = [str(XMARGIN), "serve", "--db", str(db), "--market", str(MARKET), "--port", str(port)]
        proc = subprocess.Popen(
            [*cmd, "--rate-limit", "none"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            wait_healthy(base, proc, Path(tmp) / "serve.log", 30.0)
            for a in accounts:
                _fund(base, admin, a)
            held = httpx.get(f"{base}/v1/accounts/{accounts[0]}", headers={"X-API-Key": admin}).json()
            library = _library_whatif({k: held[k] for k in ("account", "collateral", "positions")}, calls)
            one = _one_client(base, keys[0][0], accounts[0], calls)
            many_whatif = asyncio.run(_many_clients(base, keys, seconds, whatif=True))
            many = asyncio.run(_many_clients(base, keys, seconds, whatif=False))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # still draining queued requests: the figures are taken
                proc.kill()
                proc.wait(timeout=10)
            log.close()
    return {
        "library_whatif": library["full"],
        "library_whatif_before_kept": library["before_kept"],
        "library_whatif_scan": library["scan"],
        "whatif_1_client": one,
        "clients": clients,
        "whatif_many_clients": many_whatif,
        "margin_clients": clients,
        "margin_many_clients": many,
        "ratio_whatif_http_to_library_p50": one["p50_ms"] / library["before_kept"]["p50_ms"],
        "ratio_library_scan_to_grid_p50": library["scan"]["p50_ms"] / library["full"]["p50_ms"],
        "targets": {
            "whatif_p99_ms_max": 5.0,
            "clients_requests_per_s_min": 1000.0,
            "clients_p99_ms_max": 50.0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.calls, args.clients, args.seconds)
    if args.json:
        print(json.dumps(result))
        return
    lib, kept, scan = (
        result["library_whatif"],
        result["library_whatif_before_kept"],
        result["library_whatif_scan"],
    )
    one, many_w, many = (
        result["whatif_1_client"],
        result["whatif_many_clients"],
        result["margin_many_clients"],
    )
    print(f"library what-if (full)         p50 {lib['p50_ms']:7.2f} ms  p99 {lib['p99_ms']:7.2f} ms")
    print(f"library what-if (before kept)  p50 {kept['p50_ms']:7.2f} ms  p99 {kept['p99_ms']:7.2f} ms")
    print(f"library what-if (scan solver)  p50 {scan['p50_ms']:7.2f} ms  p99 {scan['p99_ms']:7.2f} ms")
    print(
        f"HTTP what-if, 1 client         p50 {one['p50_ms']:7.2f} ms  p99 {one['p99_ms']:7.2f} ms  (target p99 <= 5)"
    )
    for label, m in (
        (f"what-if, {args.clients} clients", many_w),
        (f"margin, {args.clients} clients ", many),
    ):
        print(
            f"HTTP {label}    p50 {m['p50_ms']:7.2f} ms  p99 {m['p99_ms']:7.2f} ms  "
            f"{m['requests_per_s']:8.1f} req/s  errors {int(m['errors'])}  (target >= 1000 req/s, p99 <= 50)"
        )
    print(f"HTTP / library (before kept) what-if p50 = {result['ratio_whatif_http_to_library_p50']:.2f}x")
    print(f"library what-if scan / stacked solver p50 = {result['ratio_library_scan_to_grid_p50']:.1f}x")


if __name__ == "__main__":
    main()
