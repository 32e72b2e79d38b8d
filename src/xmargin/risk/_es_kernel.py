"""Compiled expected-shortfall scan of a book's rows against a historical scenario set (numba, parallel
over batches of accounts): ``Q @ PnL`` fused with the ES of each block, without materialising the
(accounts × scenarios) loss matrix.

Each block is a set of scenario columns of ``pnl``; their union is cut into chunks of at most ``WIDTH``
consecutive columns. A batch of ``BATCH`` accounts walks the chunks in column order: for each account the
loss of every scenario of the chunk (``−Σ q·PnL[c, s]``, its non-zero entries in CSR order, so each loss
is bit for bit the one of a whole-row pass; four positions per pass over the tile) is accumulated in a
small tile that stays in L1, while the chunk's PnL columns stay in L2/L3 for the whole batch (a whole PnL
row per account streamed from memory was the cost of the previous scan). Each block keeps, per account, a min-heap of its ``k`` largest losses
so far: a loss enters the heap only above its current root (the ``k``-th largest so far), so the heap ends
holding exactly the ``k`` largest losses of the block (equal values are interchangeable: the ES is their
mean). Instruments whose PnL row is all zeros (stablecoin collateral) are skipped: ``x − q·0 = x``.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
from numpy.typing import NDArray

from xmargin.pricing import parallel_and_serial

FloatArray = NDArray[np.float64]
PARALLEL_MIN_ROWS = 256
WIDTH = 512
"""scenario columns per chunk: the chunk's PnL (instruments × WIDTH) is read from cache by a whole batch"""
BATCH = 4096
"""accounts per batch (one thread's unit of work; its heaps and thresholds stay in cache)"""


def _es_scan(  # type: ignore[no-untyped-def]
    rows,
    indptr,
    indices,
    data,
    pnl,
    live,
    ch_col,
    ch_len,
    ch_mask,
    colmask,
    block_k,
    kmax,
    batch,
    width,
    max_nnz,
    es_out,
    worst,
    worst_j,
):
    n = rows.shape[0]
    n_b = block_k.shape[0]
    n_ch = ch_col.shape[0]
    n_batches = (n + batch - 1) // batch
    for bi in nb.prange(n_batches):
        a0 = bi * batch
        na = min(a0 + batch, n) - a0
        heap = np.full((na, n_b, kmax), -np.inf)
        thr = np.full((na, n_b), -np.inf)
        wv = np.full(na, -np.inf)
        wj = np.full(na, -1)
        tile = np.empty(width)
        qs = np.empty(max_nnz)
        js = np.empty(max_nnz, dtype=np.int64)
        for c in range(n_ch):
            c0 = ch_col[c]
            w = ch_len[c]
            cm = ch_mask[c]
            for ii in range(na):
                r = rows[a0 + ii]
                nq = 0
                for p in range(indptr[r], indptr[r + 1]):
                    if data[p] != 0.0 and live[indices[p]]:
                        qs[nq] = data[p]
                        js[nq] = indices[p]
                        nq += 1
                for s in range(w):
                    tile[s] = 0.0
                # four positions per pass over the tile; each loss still takes its terms one by one in
                # CSR order, ((x − q₀a) − q₁b) − …, so it is bit for bit the loss of a one-by-one pass
                p = 0
                while p + 4 <= nq:
                    q0, q1, q2, q3 = qs[p], qs[p + 1], qs[p + 2], qs[p + 3]
                    g0 = pnl[js[p], c0 : c0 + w]
                    g1 = pnl[js[p + 1], c0 : c0 + w]
                    g2 = pnl[js[p + 2], c0 : c0 + w]
                    g3 = pnl[js[p + 3], c0 : c0 + w]
                    for s in range(w):
                        tile[s] = (((tile[s] - q0 * g0[s]) - q1 * g1[s]) - q2 * g2[s]) - q3 * g3[s]
                    p += 4
                while p < nq:
                    q0 = qs[p]
                    g0 = pnl[js[p], c0 : c0 + w]
                    for s in range(w):
                        tile[s] -= q0 * g0[s]
                    p += 1
                # the lowest heap root among the chunk's blocks: no loss at or below it enters a heap
                t = np.inf
                for b in range(n_b):
                    if (cm >> b) & 1 and thr[ii, b] < t:
                        t = thr[ii, b]
                for s in range(w):
                    v = tile[s]
                    if v > t:
                        m = colmask[c0 + s]
                        if m & 1 and v > wv[ii]:
                            wv[ii] = v
                            wj[ii] = c0 + s
                        for b in range(n_b):
                            if (m >> b) & 1 and v > thr[ii, b]:
                                k = block_k[b]
                                h = heap[ii, b]
                                i = 0  # replace the root (the k-th largest so far) and sift down
                                while True:
                                    child = 2 * i + 1
                                    if child >= k:
                                        break
                                    if child + 1 < k and h[child + 1] < h[child]:
                                        child += 1
                                    if h[child] < v:
                                        h[i] = h[child]
                                        i = child
                                    else:
                                        break
                                h[i] = v
                                thr[ii, b] = h[0]
                        t = np.inf
                        for b in range(n_b):
                            if (cm >> b) & 1 and thr[ii, b] < t:
                                t = thr[ii, b]
        for ii in range(na):
            for b in range(n_b):
                k = block_k[b]
                if k == 0:
                    continue
                top = np.sort(heap[ii, b, :k])
                acc = 0.0
                for j in range(k):
                    acc += top[j]
                es_out[a0 + ii, b] = acc / k
            if wj[ii] >= 0:
                worst[a0 + ii] = wv[ii]
                worst_j[a0 + ii] = wj[ii]


_es_par, _es_ser = parallel_and_serial(_es_scan)


def _chunks(
    colmask: NDArray[np.int64], width: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """The union of the blocks' columns as chunks of at most ``width`` consecutive columns: first column,
    length and the blocks met (bit mask)."""
    union = np.flatnonzero(colmask)
    if union.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    run_start = np.concatenate([[0], np.flatnonzero(np.diff(union) != 1) + 1])
    run_len = np.diff(np.concatenate([run_start, [union.size]]))
    pieces = -(-run_len // width)
    first = np.repeat(run_start, pieces) + width * (
        np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    )
    length = np.minimum(width, np.repeat(run_start + run_len, pieces) - first)
    ch_col = union[first].astype(np.int64)
    ch_mask = np.bitwise_or.reduceat(colmask[union], first).astype(np.int64)
    return ch_col, length.astype(np.int64), ch_mask


def es_scan(
    rows: NDArray[np.intp],
    indptr: Any,
    indices: Any,
    data: Any,
    pnl: FloatArray,
    blocks: list[NDArray[np.intp]],
    confidence: float,
) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    """For the accounts ``rows`` of a CSR book: the ES at ``confidence`` of their loss over each block (a set
    of distinct columns of ``pnl``, at most 62 blocks) (``(rows, blocks)``, 0 for an empty block), the
    largest loss over ``blocks[0]`` and its column (the lowest on a tie; 0 and −1 if the block is empty)."""
    pnl = np.ascontiguousarray(pnl, dtype=np.float64)
    n_s = pnl.shape[1]
    sizes = np.array([b.size for b in blocks], dtype=np.int64)
    k = np.where(sizes > 0, np.maximum(1, np.ceil(sizes * (1.0 - confidence) - 1e-9)), 0).astype(np.int64)
    colmask = np.zeros(n_s, dtype=np.int64)
    for b, cols in enumerate(blocks):
        colmask[cols] |= np.int64(1) << b
    ch_col, ch_len, ch_mask = _chunks(colmask, WIDTH)
    live = np.asarray((pnl != 0.0).any(axis=1), dtype=np.bool_)
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
        pnl,
        live,
        ch_col,
        ch_len,
        ch_mask,
        colmask,
        k,
        int(max(1, k.max(initial=1))),
        BATCH,
        WIDTH,
        max(1, int(np.diff(indptr)[rows].max(initial=1))),
        es,
        worst,
        worst_j,
    )
    return es, worst, worst_j


__all__ = ["es_scan"]
