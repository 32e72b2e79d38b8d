"""``BookEngine.replace_accounts``' row splice against the sparse algebra it replaced (the reference)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from xmargin.engine._engine import _splice_rows


def _reference(
    old: sp.csr_matrix, rows: np.ndarray, repl: sp.csr_matrix, cmap: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """The previous code: zero the replaced rows by a diagonal product, add the placed rows, canonicalise."""
    keep = np.ones(shape[0])
    keep[rows] = 0.0
    o = sp.csr_matrix((old.data, old.indices, old.indptr), shape=shape)
    coo = repl.tocoo()
    k = cmap[coo.col] >= 0
    placed = sp.csr_matrix((coo.data[k], (rows[coo.row[k]], cmap[coo.col[k]])), shape=shape)
    out = (sp.diags(keep) @ o + placed).tocsr()
    out.eliminate_zeros()
    out.sort_indices()
    return out


def test_splice_equals_the_sparse_algebra_entry_for_entry() -> None:
    rng = np.random.default_rng(0)
    for trial in range(300):
        n, m = int(rng.integers(1, 30)), int(rng.integers(1, 12))
        old = sp.random(n, m, density=0.4, random_state=int(rng.integers(1e9)), format="csr")
        old.data -= 0.5  # signed values
        if trial % 3 == 0 and old.nnz:
            old.data[rng.integers(0, old.nnz)] = 0.0  # an explicit zero, as a fresh book may hold
        k = int(rng.integers(1, n + 1))
        rows = rng.choice(n, k, replace=False)
        mr = int(rng.integers(1, 6))
        repl = sp.random(k, mr, density=0.5, random_state=int(rng.integers(1e9)), format="csr")
        ncols = m + int(rng.integers(0, 3))  # new instruments widen the book
        perm = rng.permutation(np.arange(-mr, ncols))[:mr]
        cmap = np.where(perm < 0, -1, perm)  # injective where kept, as the engine's column maps are
        shape = (n, ncols)
        want = _reference(old, rows, repl, cmap, shape)
        got = _splice_rows(old, rows, repl, cmap, shape)
        assert np.array_equal(want.indptr, got.indptr), trial
        assert np.array_equal(want.indices, got.indices), trial
        assert np.array_equal(want.data, got.data), trial
