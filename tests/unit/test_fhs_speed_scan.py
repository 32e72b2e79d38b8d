"""The chunked ES scan against the plain dense computation, and the trimmed historical scenario set against
the untrimmed one: the speed-ups of the ``fhs`` charge change no result."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from xmargin.market import load_history
from xmargin.risk import FilteredHistory, es_scan, expected_shortfall
from xmargin.risk import _es_kernel as kernel


def _case(seed: int) -> tuple[sp.csr_matrix, np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    n_acc, n_inst, n_s = 700, 40, 97
    q = sp.random(n_acc, n_inst, density=0.15, random_state=seed, format="csr") * 10.0
    q.data -= 5.0
    q.data[::17] = 0.0  # explicit zeros are skipped
    pnl = rng.standard_normal((n_inst, n_s)) * rng.uniform(0.1, 100.0, (n_inst, 1))
    pnl[3] = 0.0  # a stablecoin: its row is all zeros
    pnl[:, 11] = pnl[:, 40]  # a tie for the worst loss: the lower column wins
    pnl[5, 50:60] = 2.5  # equal losses across a run of scenarios
    blocks = [
        np.r_[0:30, 35:60],  # two runs
        np.r_[50:97],  # overlaps the first block
        np.zeros(0, dtype=np.intp),  # empty
        np.array([1, 2, 3, 70, 90, 96]),  # scattered, overlapping both
    ]
    return q, pnl, blocks


@pytest.mark.parametrize("width", [1, 3, 7, 512])
@pytest.mark.parametrize("parallel_min_rows", [1, 10**9])
@pytest.mark.parametrize("seed", [0, 1])
def test_es_scan_is_the_dense_expected_shortfall(
    monkeypatch: pytest.MonkeyPatch, width: int, parallel_min_rows: int, seed: int
) -> None:
    monkeypatch.setattr(kernel, "WIDTH", width)
    monkeypatch.setattr(kernel, "BATCH", 64)
    monkeypatch.setattr(kernel, "PARALLEL_MIN_ROWS", parallel_min_rows)
    q, pnl, blocks = _case(seed)
    rows = np.arange(0, q.shape[0], 2)  # a subset of the book's rows
    es, worst, worst_j = es_scan(rows, q.indptr, q.indices, q.data, pnl, blocks, 0.97)
    loss = -np.asarray(q[rows] @ pnl)
    for b, cols in enumerate(blocks):
        want = expected_shortfall(loss[:, cols], 0.97) if cols.size else np.zeros(rows.size)
        np.testing.assert_allclose(es[:, b], want, rtol=1e-12, atol=0.0)
    in0 = loss[:, blocks[0]]
    np.testing.assert_array_equal(worst, in0.max(axis=1))
    np.testing.assert_array_equal(worst_j, blocks[0][np.argmax(in0, axis=1)])  # lowest column on a tie


def test_es_scan_of_an_empty_first_block() -> None:
    q, pnl, blocks = _case(0)
    rows = np.arange(5)
    es, worst, worst_j = es_scan(rows, q.indptr, q.indices, q.data, pnl, [blocks[2], blocks[1]], 0.99)
    assert (es[:, 0] == 0.0).all() and (worst == 0.0).all() and (worst_j == -1).all()
    loss = -np.asarray(q[rows] @ pnl)
    np.testing.assert_allclose(es[:, 1], expected_shortfall(loss[:, blocks[1]], 0.99), rtol=1e-12)


@pytest.mark.parametrize("lookback_days, floor_years", [(3653, 10.0), (730, 10.0), (365, None)])
def test_trimmed_scenarios_keep_every_window_a_group_uses(
    lookback_days: int, floor_years: float | None
) -> None:
    fh = FilteredHistory.build(load_history("crypto-daily"), 0.94)
    unders = ("BTC", "ETH")
    asof = fh.history.dates[-1]
    span = max(lookback_days, round(365.25 * (floor_years or 0.0)))
    trimmed, full = (
        fh.scenarios(
            asof,
            unders,
            horizon_days=2,
            ratio_cap=2.0,
            floor_years=floor_years,
            raw=floor_years is not None,
            span_days=span_days,
        )
        for span_days in (span, None)
    )
    assert len(trimmed) <= len(full)
    for members in ([0], [1], [0, 1]):
        picks = []
        for scen in (trimmed, full):
            m = fh.masks(
                scen,
                np.array(members, dtype=np.intp),
                lookback_days=lookback_days,
                floor_years=floor_years,
                floor_volatility=False,
                stressed=False,
            )
            picks.append(
                [
                    (scen.end_row[mask], scen.block[mask], scen.price_move[:, mask])
                    for mask in (m.filtered, m.lookback)
                ]
            )
        for (rows_t, block_t, move_t), (rows_f, block_f, move_f) in zip(*picks, strict=True):
            np.testing.assert_array_equal(rows_t, rows_f)
            np.testing.assert_array_equal(block_t, block_f)
            np.testing.assert_array_equal(move_t, move_f)
