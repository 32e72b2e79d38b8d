"""Compiled expected-shortfall scan of a book's rows against a historical scenario set (numba, parallel
over accounts): ``Q @ PnL`` fused with the ES of each block, without materialising the (accounts ×
scenarios) loss matrix.

For each listed account row, one pass over its non-zero entries accumulates its loss in every scenario of
``pnl`` (``−Σ q·PnL[c, :]``); then for each block (a set of scenario columns) the mean of its ``k`` largest
losses, and the largest loss of block 0 with its column.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
from numpy.typing import NDArray

from xmargin.pricing import parallel_and_serial

FloatArray = NDArray[np.float64]
PARALLEL_MIN_ROWS = 256


def _es_scan(  # type: ignore[no-untyped-def]
    rows,
    indptr,
    indices,
    data,
    pnl,
    block_ptr,
    block_cols,
    block_k,
    es_out,
    worst,
    worst_j,
):
    n_s = pnl.shape[1]
    n_b = block_k.shape[0]
    for i in nb.prange(rows.shape[0]):
        r = rows[i]
        loss = np.zeros(n_s)
        for p in range(indptr[r], indptr[r + 1]):
            q = data[p]
            if q != 0.0:
                row = pnl[indices[p]]
                for s in range(n_s):
                    loss[s] -= q * row[s]
        for b in range(n_b):
            lo, hi = block_ptr[b], block_ptr[b + 1]
            m = hi - lo
            if m == 0:
                es_out[i, b] = 0.0
                continue
            sel = np.empty(m)
            for j in range(m):
                sel[j] = loss[block_cols[lo + j]]
            k = block_k[b]
            part = np.partition(sel, m - k)
            acc = 0.0
            for j in range(m - k, m):
                acc += part[j]
            es_out[i, b] = acc / k
            if b == 0:
                best, at = -np.inf, -1
                for j in range(m):
                    if sel[j] > best:
                        best, at = sel[j], block_cols[lo + j]
                worst[i] = best
                worst_j[i] = at


_es_par, _es_ser = parallel_and_serial(_es_scan)


def es_scan(
    rows: NDArray[np.intp],
    indptr: Any,
    indices: Any,
    data: Any,
    pnl: FloatArray,
    blocks: list[NDArray[np.intp]],
    confidence: float,
) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    """For the accounts ``rows`` of a CSR book: the ES at ``confidence`` of their loss over each block of
    scenario columns (``(rows, blocks)``), the largest loss over ``blocks[0]`` and its column."""
    sizes = np.array([b.size for b in blocks], dtype=np.int64)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    cols = np.concatenate(blocks).astype(np.int64) if blocks else np.zeros(0, dtype=np.int64)
    k = np.maximum(1, np.ceil(sizes * (1.0 - confidence) - 1e-9)).astype(np.int64)
    n = rows.size
    es = np.zeros((n, len(blocks)))
    worst = np.zeros(n)
    worst_j = np.full(n, -1, dtype=np.int64)
    fn = _es_par if n >= PARALLEL_MIN_ROWS else _es_ser
    fn(
        rows.astype(np.int64),
        indptr,
        indices,
        data,
        np.ascontiguousarray(pnl),
        ptr,
        cols,
        k,
        es,
        worst,
        worst_j,
    )
    return es, worst, worst_j


__all__ = ["es_scan"]
