"""The margin-model conformance suite (``xmargin.testing``) on ``isolated``, ``cross`` and ``standard``.

Models are looked up by name, so ``pm`` can join the list once it is registered. Also: the tiered presets,
random books (hypothesis), and the suite itself catching broken models (it must fail them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xmargin.margin._simple
import xmargin.margin._standard  # registers "standard"
from xmargin.instruments import Instrument, Portfolio, Position
from xmargin.margin import MarginResult, get_model
from xmargin.market import MarketSnapshot
from xmargin.risk import Book
from xmargin.testing import (
    books,
    check_account_order_invariance,
    check_account_subset_invariance,
    check_empty_account_zero,
    check_im_ge_mm_ge_zero,
    check_inputs_not_mutated,
    check_margin_model,
    check_scales_linearly,
    parametrize_margin_models,
)

MODELS = ["isolated", "cross", "standard"]
MARKET = books.example_market()
EXAMPLES = books.example_portfolios(MARKET)


@parametrize_margin_models(MODELS)
def test_conformance(model: Any, check: Any) -> None:
    check(model)


@parametrize_margin_models(
    [
        xmargin.margin._simple.CrossMargin("cross-binance"),
        xmargin.margin._simple.IsolatedMargin("cross-binance"),
    ]
)
def test_conformance_tiered(model: Any, check: Any) -> None:
    check(model)


def test_check_margin_model_reports_skips_with_reasons() -> None:
    report = check_margin_model("standard")
    assert report["check_idempotent"] == "passed"
    assert report["check_scales_linearly"].startswith("skipped: scales_linearly = False")


# -- random books -----------------------------------------------------------------------------------------
POOL: tuple[Instrument, ...] = tuple(dict.fromkeys(p.instrument for pf in EXAMPLES for p in pf.positions))
sizes = st.floats(min_value=-50.0, max_value=50.0, allow_nan=False).map(lambda x: round(x, 3))
portfolio = st.builds(
    lambda picks, cash: Portfolio("x", {"USDC": cash}, tuple(Position(POOL[i], s) for i, s in picks.items())),
    st.dictionaries(st.integers(0, len(POOL) - 1), sizes, max_size=5),
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
)
random_books = st.lists(portfolio, min_size=1, max_size=4).map(
    lambda pfs: tuple(Portfolio(f"acc{i}", p.collateral, p.positions) for i, p in enumerate(pfs))
)


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=random_books)
def test_random_books(name: str, book: tuple[Portfolio, ...]) -> None:
    model = get_model(name)
    for check in (check_im_ge_mm_ge_zero, check_account_subset_invariance, check_account_order_invariance):
        check(model, MARKET, [book])
    if getattr(model, "scales_linearly", False):
        check_scales_linearly(model, MARKET, [book])


# -- the suite fails broken models -----------------------------------------------------------------------
class Broken:
    """``cross`` with one fault injected into its result."""

    name = "broken"
    scales_linearly = True
    subadditive = True

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.inner = get_model("cross")

    def requirement(self, book: Book, market: MarketSnapshot, *, detail: bool = True) -> MarginResult:
        if self.fault == "mutate" and book.q.nnz:
            book.q.data[0] += 1.0
        r = self.inner.requirement(book, market, detail=detail)
        im, mm = r.initial_margin.copy(), r.maintenance_margin.copy()
        n = len(r.accounts)
        if self.fault == "mm_above_im":
            mm = im + 1.0
        elif self.fault == "flat_fee":
            im, mm = im + 1.0, mm + 1.0
        elif self.fault == "row_index":
            im = im + np.arange(n, dtype=np.float64)
        elif self.fault == "square":
            im = im * np.abs(np.asarray(book.q.sum(axis=1)).reshape(-1))
        return MarginResult(self.name, r.accounts, im, mm, r.equity, r.margin_balance, r.breakdown)


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("mm_above_im", check_im_ge_mm_ge_zero),
        ("flat_fee", check_empty_account_zero),
        ("row_index", check_account_subset_invariance),
        ("row_index", check_account_order_invariance),
        ("mutate", check_inputs_not_mutated),
        ("square", check_scales_linearly),
    ],
)
def test_suite_catches_broken_models(fault: str, check: Any) -> None:
    with pytest.raises(AssertionError):
        check(Broken(fault), MARKET, [EXAMPLES])
