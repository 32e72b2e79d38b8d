"""The margin-model conformance suite (STYLE.md 8), in the manner of scikit-learn's ``check_estimator``.

Every ``MarginModel`` must pass these named checks on a market and a few example books (by default
``books.example_market()`` and ``books.example_portfolios()``):

==================================  ================================================================
check_result_well_formed            arrays of length n_accounts, finite; breakdown one JSON dict each
check_im_ge_mm_ge_zero              IM ≥ MM ≥ 0 for every account
check_empty_account_zero            an account with nothing needs nothing (alone, among others, 0 rows)
check_idempotent                    the same call twice gives the same result
check_inputs_not_mutated            the book, the market and the model are left as they were
check_account_subset_invariance     one account alone = its row in a multi-account book
check_account_order_invariance      permuting the accounts permutes the results
check_zero_size_equals_absent       a zero-size position or balance is the same as none
check_scales_linearly               k × portfolio → k × IM, MM, equity, margin balance (if declared)
check_pm_le_sum_of_parts            IM and MM of a union ≤ the sum of its parts (if declared)
check_pickle_roundtrip              a pickled and restored model gives the same result
check_prepared_matches              requirement(prepared=model.prepare(...)) equals requirement()
check_stateless                     evaluations on other markets in between change nothing
check_decomposes_by_underlying      combine(per-underlying sub-books) equals the whole (if declared)
check_option_purchase_costs_premium buying an option at mark lowers available by its premium or more
==================================  ================================================================

A model declares the properties it has: ``scales_linearly`` and ``subadditive`` (booleans; a model that has
not declared one is skipped for that check), with ``scales_linearly_reason`` / ``subadditive_reason``
saying why not. ``conformance_skips: Mapping[str, str]`` (check name → reason) declares any other known gap,
as scikit-learn's ``_xfail_checks``. A check raises ``AssertionError`` naming what failed.

>>> import xmargin.margin._simple as simple
>>> report = check_margin_model(simple.CrossMargin())
>>> report["check_im_ge_mm_ge_zero"]
'passed'
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
import pickle
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from xmargin.core import to_data
from xmargin.instruments import Instrument, Kind, Portfolio, Position
from xmargin.margin import (
    FhsBreakdown,
    MarginModel,
    MarginResult,
    PmBreakdown,
    RatioBreakdown,
    SpanBreakdown,
    VenueBreakdown,
    resolve_model,
)
from xmargin.market import STABLECOINS, MarketSnapshot
from xmargin.risk import Book, Trade, apply_trades
from xmargin.testing import books as example_books

TOL_REL = 1e-9
"""Relative tolerance between results that differ only in summation order (USD amounts)."""
TOL_ABS_USD = 1e-7
"""Absolute floor of the same comparison, USD."""
SCALES = (0.5, 3.0)
"""Factors ``k`` of ``check_scales_linearly``."""

Portfolios = tuple[Portfolio, ...]
BookLike = Book | Sequence[Portfolio]
CheckFunction = Callable[[MarginModel, MarketSnapshot, Sequence[Portfolios]], None]
NUMBERS = ("initial_margin", "maintenance_margin", "equity", "margin_balance")


# -- helpers -----------------------------------------------------------------------------------------------
def portfolios_of(book: Book) -> Portfolios:
    """The book's accounts as portfolios (``Book.portfolios``: the one seam)."""
    return book.portfolios()


def _as_portfolios(book: BookLike) -> Portfolios:
    return portfolios_of(book) if isinstance(book, Book) else tuple(book)


def _run(model: MarginModel, portfolios: Sequence[Portfolio], market: MarketSnapshot) -> MarginResult:
    return model.requirement(Book.from_portfolios(list(portfolios)), market)


def _close(a: float, b: float, *, scale: float = 0.0) -> bool:
    return math.isclose(a, b, rel_tol=TOL_REL, abs_tol=TOL_ABS_USD + TOL_REL * scale)


def _assert_numbers(
    got: MarginResult, i: int, want: MarginResult, j: int, what: str, *, k: float = 1.0
) -> None:
    for field in NUMBERS:
        a = float(getattr(got, field)[i])
        b = k * float(getattr(want, field)[j])
        scale = float(np.max(np.abs(getattr(want, field)))) if len(want.accounts) else 0.0
        assert _close(a, b, scale=abs(k) * scale), (
            f"{what}: {field} of {got.accounts[i]!r} is {a!r}, expected {b!r}"
        )


def _assert_tree(a: Any, b: Any, where: str) -> None:
    """Deep equality with floats compared to ``TOL_REL``."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        assert set(a) == set(b), f"{where}: keys {sorted(map(str, a))} != {sorted(map(str, b))}"
        for key in a:
            _assert_tree(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), f"{where}: lengths {len(a)} != {len(b)}"
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_tree(x, y, f"{where}[{n}]")
    elif isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        assert _close(float(a), float(b), scale=max(abs(float(a)), abs(float(b)))), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _assert_breakdown(got: MarginResult, i: int, want: MarginResult, j: int, what: str) -> None:
    a = to_data(got.breakdown[i]) if got.breakdown else {}
    b = to_data(want.breakdown[j]) if want.breakdown else {}
    _assert_tree(a, b, f"{what}: breakdown of {got.accounts[i]!r}")


def _merge(parts: Iterable[Portfolio], account: str) -> Portfolio:
    """The union of portfolios: balances and sizes added per asset / instrument (entry prices dropped)."""
    collateral: dict[str, float] = {}
    sizes: dict[Instrument, float] = {}
    for pf in parts:
        for asset, amount in pf.collateral.items():
            collateral[asset] = collateral.get(asset, 0.0) + amount
        for pos in pf.positions:
            sizes[pos.instrument] = sizes.get(pos.instrument, 0.0) + pos.size_coin
    return Portfolio(account, collateral, tuple(Position(i, s) for i, s in sizes.items()))


def _without_entry(pf: Portfolio) -> Portfolio:
    return Portfolio(
        pf.account, pf.collateral, tuple(Position(p.instrument, p.size_coin) for p in pf.positions)
    )


# -- the checks ---------------------------------------------------------------------------------------------
def check_result_well_formed(model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]) -> None:
    for pfs in books:
        res = _run(model, pfs, market)
        n = len(pfs)
        assert res.accounts == tuple(p.account for p in pfs), f"accounts {res.accounts} in the wrong order"
        for field in NUMBERS:
            arr = np.asarray(getattr(res, field))
            assert arr.shape == (n,), f"{field} has shape {arr.shape}, expected ({n},)"
            assert np.all(np.isfinite(arr)), f"{field} is not finite: {arr}"
        assert len(res.breakdown) in (0, n), f"{len(res.breakdown)} breakdowns for {n} accounts"
        for bd in res.breakdown:
            assert isinstance(
                bd, PmBreakdown | RatioBreakdown | FhsBreakdown | VenueBreakdown | SpanBreakdown
            ), f"a breakdown is a {type(bd).__name__}, expected a typed breakdown (xmargin.margin)"
            json.dumps(to_data(bd), allow_nan=False)  # JSON-serialisable, by the one serializer
        assert all(isinstance(w, str) and w for w in res.warnings), f"warnings {res.warnings!r}"


def check_im_ge_mm_ge_zero(model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]) -> None:
    for pfs in books:
        res = _run(model, pfs, market)
        for i, acc in enumerate(res.accounts):
            im, mm = float(res.initial_margin[i]), float(res.maintenance_margin[i])
            assert mm >= 0.0, f"{acc!r}: maintenance margin {mm!r} < 0"
            assert im >= mm - TOL_ABS_USD - TOL_REL * mm, (
                f"{acc!r}: initial margin {im!r} < maintenance {mm!r}"
            )


def check_empty_account_zero(model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]) -> None:
    empty = Portfolio("empty")
    for pfs in ((empty,), *((empty, *b) for b in books)):
        res = _run(model, pfs, market)
        for field in NUMBERS:
            value = float(getattr(res, field)[0])
            assert value == 0.0, f"{field} of an empty account is {value!r}, expected 0"
    res = _run(model, (), market)
    for field in NUMBERS:
        assert np.asarray(getattr(res, field)).shape == (0,), (
            f"{field} of a book without accounts is not empty"
        )


def check_idempotent(model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]) -> None:
    for pfs in books:
        book = Book.from_portfolios(list(pfs))
        first = model.requirement(book, market)
        second = model.requirement(book, market)
        for i in range(len(pfs)):
            for field in NUMBERS:
                a, b = float(getattr(first, field)[i]), float(getattr(second, field)[i])
                assert a == b, f"{field} of {first.accounts[i]!r} changed between calls: {a!r} then {b!r}"
        assert to_data(first.breakdown, Any) == to_data(second.breakdown, Any), (
            "the breakdown changed between two identical calls"
        )
        if "detail" in inspect.signature(model.requirement).parameters:
            quiet = model.requirement(book, market, detail=False)
            for i in range(len(pfs)):
                _assert_numbers(quiet, i, first, i, "detail=False")


def _snapshot_book(book: Book) -> list[np.ndarray[Any, Any]]:
    return [np.array(a, copy=True) for m in book.matrices for a in (m.data, m.indices, m.indptr)]


def _snapshot_market(market: MarketSnapshot) -> tuple[Any, ...]:
    return (
        market.valuation_time,
        dict(market.index_usd),
        dict(market.marks_usd),
        dict(market.vol),
        dict(market.option_iv),
        market.rate,
        dict(market.forwards_usd),
        tuple(market.surfaces),
    )


def check_inputs_not_mutated(model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]) -> None:
    for pfs in books:
        book = Book.from_portfolios(list(pfs))
        before = _snapshot_book(book)
        market_before = _snapshot_market(market)
        try:
            model_before: bytes | None = pickle.dumps(model)
        except Exception:  # an unpicklable model fails check_pickle_roundtrip instead
            model_before = None
        model.requirement(book, market)
        after = _snapshot_book(book)
        assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)), "the book was mutated"
        assert _snapshot_market(market) == market_before, "the market was mutated"
        if model_before is not None:
            assert pickle.dumps(model) == model_before, "the model's state changed during requirement()"


def check_account_subset_invariance(
    model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]
) -> None:
    for pfs in books:
        book = Book.from_portfolios(list(pfs))
        full = model.requirement(book, market)
        for i, pf in enumerate(pfs):
            for label, sub in (("alone", Book.from_portfolio(pf)), ("book.row", book.row(i))):
                one = model.requirement(sub, market)
                assert one.accounts == (pf.account,), f"{label}: accounts {one.accounts}"
                _assert_numbers(one, 0, full, i, f"account {label} vs its row")
                _assert_breakdown(one, 0, full, i, f"account {label} vs its row")


def check_account_order_invariance(
    model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]
) -> None:
    for pfs in books:
        n = len(pfs)
        full = _run(model, pfs, market)
        for order in (list(reversed(range(n))), [*range(1, n), 0][:n]):
            res = _run(model, [pfs[j] for j in order], market)
            for i, j in enumerate(order):
                _assert_numbers(res, i, full, j, f"accounts in order {order}")
                _assert_breakdown(res, i, full, j, f"accounts in order {order}")


def check_zero_size_equals_absent(
    model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]
) -> None:
    everything = [pos.instrument for pfs in books for pf in pfs for pos in pf.positions]
    assets = {a for pfs in books for pf in pfs for a in pf.collateral}
    for pfs in books:
        padded = []
        for pf in pfs:
            held = {p.instrument for p in pf.positions}
            extra = tuple(
                Position(inst, 0.0, 1.0 if inst.kind in (Kind.FUTURE, Kind.PERPETUAL) else None)
                for inst in dict.fromkeys(everything)
                if inst not in held
            )
            collateral = {**{a: 0.0 for a in assets}, **pf.collateral}
            padded.append(Portfolio(pf.account, collateral, pf.positions + extra))
        base = _run(model, pfs, market)
        res = _run(model, padded, market)
        for i in range(len(pfs)):
            _assert_numbers(res, i, base, i, "with zero-size positions and balances")


def check_scales_linearly(model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]) -> None:
    for pfs in books:
        base = _run(model, pfs, market)
        for k in SCALES:
            res = _run(model, [pf.scaled(k) for pf in pfs], market)
            for i in range(len(pfs)):
                _assert_numbers(res, i, base, i, f"portfolio × {k}", k=k)


def check_pm_le_sum_of_parts(model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]) -> None:
    cases: list[tuple[Portfolio, tuple[Portfolio, ...]]] = []
    for pfs in books:
        plain = [_without_entry(pf) for pf in pfs]
        for pf in plain:  # a portfolio split into two halves
            if len(pf.positions) >= 2:
                a = Portfolio(f"{pf.account}/a", pf.collateral, pf.positions[::2])
                b = Portfolio(f"{pf.account}/b", {}, pf.positions[1::2])
                cases.append((pf, (a, b)))
        for a, b in itertools.pairwise(plain):  # two accounts joined
            cases.append((_merge((a, b), f"{a.account}+{b.account}"), (a, b)))
    for whole, parts in cases:
        res = _run(model, (whole, *parts), market)
        for field in ("initial_margin", "maintenance_margin"):
            arr = getattr(res, field)
            total, summed = float(arr[0]), float(np.sum(arr[1:]))
            assert total <= summed + TOL_ABS_USD + TOL_REL * summed, (
                f"{field} of {whole.account!r} is {total!r}, above the sum of its parts {summed!r}"
            )


def check_pickle_roundtrip(model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]) -> None:
    restored = pickle.loads(pickle.dumps(model))
    assert restored.name == model.name, f"restored model is named {restored.name!r}"
    for pfs in books:
        a = _run(model, pfs, market)
        b = _run(restored, pfs, market)
        for i in range(len(pfs)):
            for field in NUMBERS:
                x, y = float(getattr(a, field)[i]), float(getattr(b, field)[i])
                assert x == y, f"{field} of {a.accounts[i]!r}: {x!r} before pickling, {y!r} after"
        assert to_data(a.breakdown, Any) == to_data(b.breakdown, Any), "the breakdown differs after pickling"


def check_prepared_matches(model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]) -> None:
    for pfs in books:
        book = Book.from_portfolios(list(pfs))
        plain = model.requirement(book, market)
        prepared = model.prepare(book.columns, market)
        for sub in (book, book.select(np.arange(book.n_accounts)[::-1])):
            res = model.requirement(sub, market, prepared=prepared)
            for i in range(sub.n_accounts):
                j = book.accounts.index(sub.accounts[i])
                _assert_numbers(res, i, plain, j, "with a prepared value")
                _assert_breakdown(res, i, plain, j, "with a prepared value")


def check_stateless(model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]) -> None:
    """No hidden state: evaluating other markets and books in between changes nothing."""
    others = [
        market.shifted(u, f) for u in sorted(set(market.index_usd) - set(STABLECOINS)) for f in (0.7, 1.4)
    ]
    for pfs in books:
        book = Book.from_portfolios(list(pfs))
        first = model.requirement(book, market)
        for other in others:
            model.requirement(book, other)
            model.requirement(Book.from_portfolios(list(reversed(pfs))), other, detail=False)
        again = model.requirement(book, market)
        for i in range(len(pfs)):
            _assert_numbers(again, i, first, i, "after evaluating other markets")
        assert to_data(first.breakdown, Any) == to_data(again.breakdown, Any), "the breakdown changed"


def check_decomposes_by_underlying(
    model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]
) -> None:
    """The engine's assumption: each underlying's columns form a sub-book whose figures depend on no other
    column; IM and MM are ``combine`` of the per-underlying requirements, equity and margin balance sums."""
    for pfs in books:
        book = Book.from_portfolios(list(pfs))
        whole = model.requirement(book, market, detail=False)
        bases = sorted({i.base for i in book.instruments})
        parts = {f: np.zeros((book.n_accounts, len(bases))) for f in NUMBERS}
        for k, u in enumerate(bases):
            cols = np.array([c for c, i in enumerate(book.instruments) if i.base == u], dtype=np.intp)
            sub = model.requirement(book.select(None, cols), market, detail=False)
            for f in NUMBERS:
                parts[f][:, k] = getattr(sub, f)
        combined = MarginResult(
            model.name,
            book.accounts,
            model.combine(parts["initial_margin"]),
            model.combine(parts["maintenance_margin"]),
            parts["equity"].sum(axis=1),
            parts["margin_balance"].sum(axis=1),
        )
        for i in range(book.n_accounts):
            _assert_numbers(combined, i, whole, i, "combined from per-underlying sub-books")


def check_option_purchase_costs_premium(
    model: MarginModel, market: MarketSnapshot, books: Sequence[Portfolios]
) -> None:
    """FORMATS.md: an option bought at mark costs its premium: ``available`` falls by at least it."""
    options = dict.fromkeys(
        p.instrument for pfs in books for pf in pfs for p in pf.positions if p.instrument.kind is Kind.OPTION
    )
    for inst in list(options)[:4]:
        cash = Portfolio("cash", {"USDC": 1_000_000.0})
        after = apply_trades(cash, [Trade(inst, 1.0)], market)
        premium_usd = cash.collateral["USDC"] - after.collateral.get("USDC", 0.0)
        if inst.inverse:
            premium_usd = -after.collateral.get(inst.base, 0.0) * market.index(inst.base)
        res = _run(model, (cash, after), market)
        fall = float(res.available[0] - res.available[1])
        assert fall >= premium_usd - TOL_ABS_USD - TOL_REL * premium_usd, (
            f"buying 1 {inst.name} at mark (premium {premium_usd!r} USD) lowered available by only {fall!r}"
        )


CHECKS: tuple[CheckFunction, ...] = (
    check_result_well_formed,
    check_im_ge_mm_ge_zero,
    check_empty_account_zero,
    check_idempotent,
    check_inputs_not_mutated,
    check_account_subset_invariance,
    check_account_order_invariance,
    check_zero_size_equals_absent,
    check_scales_linearly,
    check_pm_le_sum_of_parts,
    check_pickle_roundtrip,
    check_prepared_matches,
    check_stateless,
    check_decomposes_by_underlying,
    check_option_purchase_costs_premium,
)
DECLARED = {
    "check_scales_linearly": "scales_linearly",
    "check_pm_le_sum_of_parts": "subadditive",
    "check_decomposes_by_underlying": "decomposes_by_underlying",
}
"""Checks that run only for models declaring the property (attribute name)."""


# -- running the suite ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ModelCheck:
    """One named check bound to a market and books; ``check(model)`` runs it. ``skip`` says why not to."""

    name: str
    func: Callable[[MarginModel], None]
    skip: str | None = None

    def __call__(self, model: MarginModel) -> None:
        self.func(model)


def skip_reason(model: MarginModel, check_name: str) -> str | None:
    """Why ``model`` declares it does not pass ``check_name`` (None: it must pass)."""
    declared = getattr(model, "conformance_skips", {}) or {}
    if check_name in declared:
        return str(declared[check_name])
    prop = DECLARED.get(check_name)
    if prop is None:
        return None
    value = getattr(model, prop, None)
    if value is None:
        return f"the model does not declare {prop}"
    if not value:
        return f"{prop} = False: {getattr(model, f'{prop}_reason', '') or 'no reason given'}"
    return None


def yield_margin_model_checks(
    model: MarginModel, market: MarketSnapshot | None = None, books: Sequence[BookLike] | None = None
) -> Iterator[ModelCheck]:
    """The suite's checks for ``model``, each bound to ``market`` and ``books`` (defaults: the examples)."""
    m = market if market is not None else example_books.example_market()
    bks = (
        tuple(_as_portfolios(b) for b in books)
        if books is not None
        else (example_books.example_portfolios(m),)
    )
    for fn in CHECKS:
        bound = partial(_call_check, fn, market=m, books=bks)
        yield ModelCheck(fn.__name__, bound, skip_reason(model, fn.__name__))


def _call_check(
    fn: CheckFunction, model: MarginModel, *, market: MarketSnapshot, books: Sequence[Portfolios]
) -> None:
    try:
        fn(model, market, books)
    except AssertionError as exc:
        raise AssertionError(f"{model.name}: {fn.__name__}: {exc}") from exc


def check_margin_model(
    model: MarginModel | str, market: MarketSnapshot | None = None, books: Sequence[BookLike] | None = None
) -> dict[str, str]:
    """Run every check on ``model`` (an instance or a registered name); raise on the first failure.

    Returns ``{check name: "passed" | "skipped: reason"}``.
    """
    mdl = resolve_model(model) if isinstance(model, str) else model
    report: dict[str, str] = {}
    for check in yield_margin_model_checks(mdl, market, books):
        if check.skip is not None:
            report[check.name] = f"skipped: {check.skip}"
            continue
        check(mdl)
        report[check.name] = "passed"
    return report


def parametrize_margin_models(
    models: Iterable[MarginModel | str],
    market: MarketSnapshot | None = None,
    books: Sequence[BookLike] | None = None,
) -> Any:
    """A ``pytest.mark.parametrize("model, check", ...)`` over every (model, check), with ids
    ``<model>-<check>`` and declared gaps marked as skips::

        @parametrize_margin_models(["isolated", "cross", "standard"])
        def test_conformance(model, check):
            check(model)
    """
    import pytest  # a test-time dependency only

    params = []
    for spec in models:
        model = resolve_model(spec) if isinstance(spec, str) else spec
        for check in yield_margin_model_checks(model, market, books):
            marks = [pytest.mark.skip(reason=check.skip)] if check.skip is not None else []
            params.append(pytest.param(model, check, marks=marks, id=f"{model.name}-{check.name}"))
    return pytest.mark.parametrize("model, check", params)
