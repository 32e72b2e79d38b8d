"""Parallel writers (threads, each with its own ``Ledger``): no lost update, and no two trades both pass a
check only one of them would pass. SQLite (file) and PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from decimal import Decimal

import pytest

from xmargin.ledger import Ledger, RefusedError, upgrade_to_head
from xmargin.market import MarketSnapshot

PERP = "BTC_USDC-PERPETUAL"


def run_threads(n: int, target: Callable[[int], None]) -> None:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_no_lost_updates(db_url: str) -> None:
    upgrade_to_head(db_url)
    n_threads, per_thread = 4, 25

    def deposit_many(i: int) -> None:
        with Ledger(db_url) as ledger:
            for j in range(per_thread):
                ledger.deposit("shared", "USDC", "1", key=f"t{i}-{j}")
                ledger.deposit(f"own-{i}", "BTC", "0.1")

    run_threads(n_threads, deposit_many)
    with Ledger(db_url) as ledger:
        st = ledger.replay("shared")
        assert st.version == n_threads * per_thread
        assert st.balance("USDC") == Decimal(n_threads * per_thread)
        assert [e.seq for e in ledger.events("shared")] == list(range(1, n_threads * per_thread + 1))
        for i in range(n_threads):
            assert ledger.replay(f"own-{i}").balance("BTC") == Decimal("2.5")
        chain = ledger.store.verify_chain()  # racing appends still chain every event to the one before
        assert chain.first_break is None and chain.events == 2 * n_threads * per_thread


def test_concurrent_trades_cannot_overdraw(db_url: str, market: MarketSnapshot) -> None:
    """40k USDC carries two 1-BTC perp shorts under pm (IM 16,150 each), not three: of 6 racing trades
    exactly 2 pass, whatever the interleaving."""
    with Ledger(db_url) as ledger:
        ledger.deposit("acct", "USDC", "40000")
    accepted: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()

    def trade(i: int) -> None:
        with Ledger(db_url) as ledger:
            try:
                ledger.trade("acct", PERP, "-1", "95000", market=market, key=f"trade-{i}")
                with lock:
                    accepted.append(i)
            except RefusedError:
                with lock:
                    refused.append(i)

    run_threads(6, trade)
    assert len(accepted) == 2 and len(refused) == 4
    with Ledger(db_url) as ledger:
        st = ledger.replay("acct")
        assert st.size(PERP) == Decimal(-2) and st.version == 3
        from xmargin.ledger._checks import margin_of

        assert margin_of(st, ledger.model, market).available >= 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_parallel_writer_processes_on_postgresql(pg_url: str) -> None:
    """Four processes (own connections, own caches) append to one account: every update survives."""
    upgrade_to_head(pg_url)
    pids = []
    for p in range(4):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                with Ledger(pg_url) as ledger:
                    for j in range(25):
                        ledger.deposit("shared", "BTC", "0.01", key=f"p{p}-{j}")
                        ledger.charge_fee("shared", "BTC", "0.001")
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in pids)
    with Ledger(pg_url) as ledger:
        st = ledger.replay("shared")
    assert st.version == 200
    assert st.balance("BTC") == Decimal("0.9") and st.venue["fees"]["BTC"] == Decimal("0.1")
    with Ledger(pg_url) as ledger:  # each seq's hash chained from the head its writer read under the lock
        chain = ledger.store.verify_chain()
    assert chain.ok and chain.events == 200, chain.first_break
