"""Service start with and without a ledger snapshot (docs/service.md, "Snapshots").

A generated book (``xmargin book generate``'s synthetic book, seed 0, on ``examples/market.yaml``) is
written to a SQLite ledger (:func:`xmargin.testing.ledger_books.write_book`), then, in this one run:

- **full fold**: every account folded from every event (``fold_accounts(use_snapshot=False)``), the
  reference;
- **snapshot written**: ``write_snapshot`` (a full fold the first time), and its size;
- **snapshot + tail**: the latest snapshot and the events written after it (``--tail`` accounts get one
  deposit each after the snapshot);
- **service start**: the tick path's risk book built (``Ticker``: fold + the whole-book engine), without
  and with the snapshot.

Ratios are against the full fold of the same run. Results in ``benchmarks/results/snapshot_<N>.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from xmargin.engine import generate_book
from xmargin.ledger import Ledger
from xmargin.ledger._snapshot import fold_accounts, write_snapshot
from xmargin.margin import resolve_model
from xmargin.market import load_market
from xmargin.service._stream import Hub
from xmargin.service._ticks import Ticker
from xmargin.testing.ledger_books import write_book

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--tail", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    market = load_market(ROOT / "examples" / "market.yaml")
    model = resolve_model("pm")
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(f"sqlite:///{Path(tmp) / 'book.db'}")
        book = generate_book(market, args.accounts, args.seed)
        events, load_s = _timed(lambda: write_book(ledger, book, market))
        for i in range(args.tail):
            ledger.deposit(book.portfolio(i * (args.accounts // args.tail)).account, "USDC", "1")
        full, full_s = _timed(lambda: fold_accounts(ledger.store, use_snapshot=False))
        _, write_s = _timed(lambda: write_snapshot(ledger.store))
        for i in range(args.tail):
            ledger.deposit(book.portfolio(i * (args.accounts // args.tail)).account, "USDC", "1")
        snap, snap_s = _timed(lambda: fold_accounts(ledger.store))
        again = fold_accounts(ledger.store, use_snapshot=False)
        assert snap.states == again.states, "snapshot + tail differs from the full fold"
        info2, write2_s = _timed(lambda: write_snapshot(ledger.store))
        for i in range(args.tail):
            ledger.deposit(book.portfolio(i * (args.accounts // args.tail)).account, "USDC", "1")
        _, start_full_s = _timed(lambda: Ticker(ledger, market, model, Hub(), use_snapshot=False))
        _, start_snap_s = _timed(lambda: Ticker(ledger, market, model, Hub()))
        ledger.close()
    out = {
        "accounts": args.accounts,
        "events": events + 3 * args.tail,
        "tail_events": args.tail,
        "ledger_load_s": load_s,
        "full_fold_s": full_s,
        "snapshot_first_write_s": write_s,
        "snapshot_next_write_s": write2_s,
        "snapshot_bytes": info2.bytes,
        "snapshot_plus_tail_s": snap_s,
        "fold_ratio_full_over_snapshot": full_s / snap_s,
        "start_full_fold_s": start_full_s,
        "start_with_snapshot_s": start_snap_s,
        "start_ratio": start_full_s / start_snap_s,
        "full_fold_events": full.tail_events,
        "snapshot_source": snap.source,
    }
    print(json.dumps(out, indent=2))
    (ROOT / "benchmarks" / "results" / f"snapshot_{args.accounts}.json").write_text(
        json.dumps(out, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
