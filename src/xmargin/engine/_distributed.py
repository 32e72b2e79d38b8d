"""Margin of a whole book sharded by accounts: in process, or on a Dask cluster.

The book is cut into row chunks; each chunk is ``model.requirement(book.select(rows), market)``, the same
call as for one account, and the chunks' results are concatenated in account order. With Dask the market
is scattered to the workers once and each chunk travels as its own sparse sub-book.

Pointing a risk team's cluster at it: start a scheduler and workers on the cluster
(``dask scheduler`` on one host, ``dask worker tcp://SCHEDULER:8786`` on each of the others, or the
cluster's own launcher: dask-jobqueue, dask-kubernetes), install xmargin on every worker, then run
``xmargin book margin BOOK.parquet --market MARKET --scheduler tcp://SCHEDULER:8786``. ``--scheduler local``
starts a LocalCluster on this machine (two worker processes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from xmargin.core import require
from xmargin.margin import MarginModel, MarginResult
from xmargin.market import MarketSnapshot
from xmargin.risk import Book

DEFAULT_CHUNK = 25_000


def chunks(n: int, size: int) -> Iterator[np.ndarray[Any, np.dtype[np.intp]]]:
    for start in range(0, n, size):
        yield np.arange(start, min(start + size, n), dtype=np.intp)


def _concat(model: MarginModel, book: Book, parts: list[MarginResult]) -> MarginResult:
    def cat(field: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        arrays = [getattr(p, field) for p in parts]
        return np.concatenate(arrays) if arrays else np.zeros(0)

    gaps = [p.position_gap if p.position_gap is not None else np.full(len(p.accounts), np.inf) for p in parts]
    return MarginResult(
        model.name,
        book.accounts,
        cat("initial_margin"),
        cat("maintenance_margin"),
        cat("equity"),
        cat("margin_balance"),
        warnings=tuple(dict.fromkeys(w for p in parts for w in p.warnings)),
        position_gap=np.concatenate(gaps) if gaps else np.zeros(0),
    )


def margin_book(
    model: MarginModel,
    book: Book,
    market: MarketSnapshot,
    *,
    chunk: int = DEFAULT_CHUNK,
    progress: Callable[[int], None] | None = None,
) -> MarginResult:
    """Every account's margin, chunk by chunk in this process (``progress(n_done)`` after each chunk); the
    model prepares the book's columns on the market once for all chunks."""
    parts = []
    prepared = model.prepare(book.columns, market)
    for rows in chunks(book.n_accounts, chunk):
        parts.append(model.requirement(book.select(rows), market, detail=False, prepared=prepared))
        if progress is not None:
            progress(len(rows))
    return _concat(model, book, parts)


def _remote(model: MarginModel, sub: Book, market: MarketSnapshot) -> MarginResult:
    return model.requirement(sub, market, detail=False)


def margin_book_dask(
    model: MarginModel,
    book: Book,
    market: MarketSnapshot,
    client: Any,
    *,
    chunk: int = DEFAULT_CHUNK,
    progress: Callable[[int], None] | None = None,
) -> MarginResult:
    """The same computation with each chunk a task on a Dask ``distributed.Client``."""
    from distributed import as_completed

    market_f = client.scatter(market, broadcast=True, hash=False)
    model_f = client.scatter(model, broadcast=True, hash=False)
    pieces = [book.select(rows) for rows in chunks(book.n_accounts, chunk)]
    # the data goes to the workers directly, not inside the task graph
    piece_fs = client.scatter(pieces, hash=False)
    futures = {}
    for k, (piece, piece_f) in enumerate(zip(pieces, piece_fs, strict=True)):
        futures[client.submit(_remote, model_f, piece_f, market_f, pure=False)] = (k, piece.n_accounts)
    results: dict[int, MarginResult] = {}
    for fut in as_completed(futures):
        k, n = futures[fut]
        results[k] = fut.result()
        if progress is not None:
            progress(n)
    return _concat(model, book, [results[k] for k in sorted(results)])


def connect(scheduler: str) -> Any:
    """A ``distributed.Client`` for ``scheduler`` (an address, or ``local`` for a LocalCluster here)."""
    require("distributed", "dask")
    from distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster)
    return Client(scheduler, timeout="10s")
