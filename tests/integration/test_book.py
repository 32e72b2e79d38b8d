"""Books: Parquet round trip, ``xmargin book generate|margin|export`` as a user runs them, and the Dask path
(a LocalCluster with 2 workers) giving the same results as the single-process run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from xmargin.cli import app
from xmargin.engine import (
    book_from_frame,
    book_liquidation_prices,
    book_to_frame,
    generate_book,
    margin_book,
    margin_book_dask,
    read_book,
)
from xmargin.instruments import load_portfolio
from xmargin.margin import get_model, liquidation_prices, resolve_model
from xmargin.market import DEMO_SNAPSHOT, load_deribit_chain, shipped_chain_path
from xmargin.risk import Book

runner = CliRunner()
CHAIN = f"{shipped_chain_path()}#{DEMO_SNAPSHOT}"
MARKET = load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)


@pytest.fixture(scope="module")
def small_book() -> Book:
    return generate_book(MARKET, 400, seed=3)


def test_generation_is_seeded_and_has_every_archetype(small_book: Book) -> None:
    again = generate_book(MARKET, 400, seed=3)
    assert small_book.accounts == again.accounts
    assert (small_book.q != again.q).nnz == 0
    other = generate_book(MARKET, 400, seed=4)
    assert (small_book.q.shape != other.q.shape) or (small_book.q != other.q).nnz > 0
    kinds = {i.kind.value for i in small_book.instruments}
    assert kinds == {"spot", "perpetual", "future", "option"}
    sizes = np.abs(small_book.q.data)
    assert np.quantile(sizes, 0.999) > 20 * np.median(sizes)  # heavy tail


def test_parquet_round_trip(tmp_path: Path, small_book: Book) -> None:
    from xmargin.engine import write_book

    write_book(small_book, tmp_path / "b.parquet")
    back = read_book(tmp_path / "b.parquet")
    assert back.accounts == small_book.accounts
    a = book_to_frame(small_book).sort_values(["account", "instrument"]).reset_index(drop=True)
    b = book_to_frame(back).sort_values(["account", "instrument"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_entry_prices_survive_the_round_trip() -> None:
    df = pd.DataFrame(
        {
            "account": ["x", "x"],
            "instrument": ["BTC-PERPETUAL", "USDC"],
            "size": [2.0, 100.0],
            "avg_price": [60000.0, np.nan],
        }
    )
    frame = book_to_frame(book_from_frame(df))
    assert frame.loc[frame["instrument"] == "BTC-PERPETUAL", "avg_price"].iloc[0] == pytest.approx(60000.0)


def test_cli_generate_margin_export(tmp_path: Path) -> None:
    book = tmp_path / "book.parquet"
    res = runner.invoke(
        app, ["book", "generate", "--accounts", "300", "--seed", "1", "--market", CHAIN, "--out", str(book)]
    )
    assert res.exit_code == 0, res.stderr
    out = tmp_path / "result.parquet"
    res = runner.invoke(app, ["book", "margin", str(book), "--market", CHAIN, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.stderr
    summary = json.loads(res.stdout)
    result = pd.read_parquet(out)
    assert list(result.columns)[:5] == [
        "account",
        "initial_margin",
        "maintenance_margin",
        "margin_balance",
        "equity",
    ]
    assert len(result) == summary["accounts"] == 300
    assert summary["total_initial_margin"] == pytest.approx(result["initial_margin"].sum())
    # export an account and margin it alone: the single-account path gives the book path's numbers
    account = str(result["account"].iloc[7])
    res = runner.invoke(app, ["book", "export", str(book), "--account", account])
    assert res.exit_code == 0, res.stderr
    pf_path = tmp_path / "one.json"
    pf_path.write_text(res.stdout)
    single = runner.invoke(app, ["margin", str(pf_path), "--market", CHAIN, "--json"])
    assert single.exit_code == 0, single.stderr
    doc = json.loads(single.stdout)
    row = result.iloc[7]
    for key in ("initial_margin", "maintenance_margin", "margin_balance", "equity"):
        assert doc[key] == pytest.approx(float(row[key]), rel=1e-9, abs=1e-6), key
    assert load_portfolio(pf_path).account == account
    # status and liquidation prices on both sides, as the single-account report gives them
    assert row["status"] == doc["status"]
    assert set(result["status"]) <= {"ok", "margin_call", "liquidatable"}
    assert summary["accounts_below_maintenance"] == int((result["status"] == "liquidatable").sum())
    for u, sides in doc["breakdown"]["liquidation_prices"].items():
        for side in ("below", "above"):
            book_price = float(row[f"liquidation_{side}_{u}"])
            if sides[side] is None:
                assert np.isnan(book_price), (u, side)
            else:
                assert book_price == pytest.approx(sides[side], rel=1e-4), (u, side)


@pytest.mark.parametrize("model", ["pm", "cross", "isolated"])
def test_book_liquidation_prices_match_the_one_account_solver(small_book: Book, model: str) -> None:
    """The book-wide grid + refinement against Brent's method on each account alone (both sides)."""
    m = resolve_model(model)
    sub = small_book.select(np.arange(0, 400, 20))
    assert _compare_with_one_account_solver(m, sub, lambda row: row) >= 10


def _compare_with_one_account_solver(m: Any, sub: Book, alone: Callable[[Book], Book]) -> int:
    """Each account's book-wide liquidation prices against Brent's method on ``alone(its row)``, both sides,
    to 2e-4 relative; returns how many prices were compared (NaN on both sides are checked, not counted)."""
    book_prices = book_liquidation_prices(m, sub, MARKET)
    compared = 0
    for i in range(sub.n_accounts):
        for u, lp in liquidation_prices(m, alone(sub.row(i)), MARKET).items():
            for k, side in enumerate((lp.below, lp.above)):
                got = book_prices[u][k][i]
                if side is None:
                    assert np.isnan(got)
                    continue
                assert got == pytest.approx(side, rel=2e-4)
                compared += 1
    return compared


@pytest.mark.parametrize(
    "args",
    [
        ["book", "export", "nope.parquet", "--account", "x"],
        ["book", "generate", "--accounts", "0", "--market", CHAIN, "--out", "b.parquet"],
        ["book", "generate", "--accounts", "10", "--market", CHAIN, "--out", "/no/such/dir/b.parquet"],
    ],
)
def test_book_bad_input(args: list[str]) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ")


def test_unknown_account(tmp_path: Path, small_book: Book) -> None:
    from xmargin.engine import write_book

    write_book(small_book, tmp_path / "b.parquet")
    res = runner.invoke(app, ["book", "export", str(tmp_path / "b.parquet"), "--account", "nobody"])
    assert res.exit_code == 2 and "nobody" in res.stderr


def test_dask_local_cluster_equals_single_process(small_book: Book) -> None:
    from distributed import Client, LocalCluster

    model = get_model("pm")
    local = margin_book(model, small_book, MARKET, chunk=150)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        remote = margin_book_dask(model, small_book, MARKET, client, chunk=150)
        # a second run on the same client re-scatters the same market: it must not lose the first's data
        again = margin_book_dask(model, small_book, MARKET, client, chunk=100)
    np.testing.assert_array_equal(again.initial_margin, remote.initial_margin)
    for field in ("initial_margin", "maintenance_margin", "equity", "margin_balance"):
        np.testing.assert_allclose(getattr(remote, field), getattr(local, field), rtol=1e-12, atol=0)
    assert remote.accounts == local.accounts


@pytest.mark.slow
def test_book_liquidation_prices_of_a_model_that_does_not_decompose(small_book: Book) -> None:
    """fhs charges the whole account at once (joint historical days): the book solver re-margins each holder's
    whole account, and agrees with Brent's method on each account alone."""
    m = resolve_model("fhs")
    assert not m.decomposes_by_underlying
    sub = small_book.select(np.arange(0, 400, 50))

    def own_columns(row: Book) -> Book:  # the account alone on just the columns it holds
        return row.select(None, np.flatnonzero(np.diff(row.q.tocsc().indptr) > 0))

    assert _compare_with_one_account_solver(m, sub, own_columns) >= 4
