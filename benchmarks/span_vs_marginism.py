"""xmargin's ``span`` model beside marginism 0.1.1 (MIT, github.com/marketcalls/marginism) on one SPAN file and book.

    .venv/bin/python benchmarks/span_vs_marginism.py [--span-file examples/span/btc-synthetic.spn]
        [--portfolio examples/span/portfolio.yaml] [--random N] [--json]

Both read the same XML risk-parameter file. The book is turned into marginism ``Position`` rows (symbol = the
base coin, FUT or C/P, quantity in coin, expiry YYYYMMDD, strike); marginism's exposure (ELM), ad-hoc and
expiry-day add-ons are NSE's and not SPAN, so they are set to 0 and its ``total_margin`` is its SPAN margin.
Printed: each component (scan, calendar spread, short option minimum, net option value) and the total from
both, with the relative difference of the totals. ``--random N`` adds N seeded random books on the file's
contracts (the largest relative gap over them is printed). ``--speed N``: N random accounts margined as one book
by ``SpanMargin.requirement`` (vectorised over accounts) and one by one by marginism, seconds and the ratio (a
second xmargin run, after the first has warmed up the pricer).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from xmargin.instruments import Kind, load_portfolio, portfolio_from_mapping
from xmargin.margin import SpanMargin
from xmargin.margin.venues._span import SpanResult
from xmargin.risk import Book

ROOT = Path(__file__).resolve().parents[1]


def marginism_total(span_file: Path, rows: list[tuple[str, str, float, str, float]]) -> dict[str, float]:
    """marginism's SPAN figures for ``rows`` = (symbol, FUT|C|P, quantity, YYYYMMDD, strike)."""
    from marginism import ExposureConfig, Position, SpanCalculator

    no_addons = ExposureConfig(
        index_futures_pct=0.0,
        index_options_pct=0.0,
        stock_futures_pct=0.0,
        stock_options_pct=0.0,
        expiry_day_elm_pct=0.0,
    )
    calc = SpanCalculator.from_file(str(span_file), exposure=no_addons)
    res = calc.calculate([Position(s, i, q, expiry=e, strike=k) for s, i, q, e, k in rows])
    if res.unmatched:
        raise SystemExit(f"marginism did not match: {res.unmatched}")
    coms = res.by_commodity.values()
    return {
        "scan_risk": sum(c.scan_risk for c in coms),
        "intra_charge": sum(c.calendar_spread_charge for c in coms),
        "short_option_minimum": sum(c.short_option_minimum for c in coms),
        "net_option_value": res.net_option_value,
        "total": res.total_margin,
    }


def xmargin_total(model: SpanMargin, book: Book) -> SpanResult:
    prep = model.prepare(book.columns, model.market())
    cols = book.q.indices.astype(np.intp)
    return model.evaluate(prep, cols, np.asarray(book.q.data, dtype=np.float64))


def rows_of(book: Book) -> list[tuple[str, str, float, str, float]]:
    rows = []
    for c, q in zip(book.q.indices.tolist(), book.q.data.tolist(), strict=True):
        inst = book.instruments[c]
        if inst.kind is Kind.SPOT:
            continue
        assert inst.expiry is not None
        kind = "FUT" if inst.kind is Kind.FUTURE else ("C" if inst.is_call else "P")
        rows.append((inst.base, kind, q, inst.expiry.strftime("%Y%m%d"), inst.strike_usd or 0.0))
    return rows


def random_book(model: SpanMargin, rng: np.random.Generator, legs: int) -> dict[str, float]:
    """A book of ``legs`` random positions (±0.1 to ±5 coin) on the file's BTC contracts (linear names)."""
    from datetime import UTC, datetime

    from xmargin.instruments import Instrument

    contracts = model.span.commodities["BTC"].contracts
    pick = rng.choice([i for i, c in enumerate(contracts) if c.kind != "phy"], size=legs, replace=False)
    out = {}
    for i in pick.tolist():
        c = contracts[i]
        expiry = datetime.strptime(c.period, "%Y%m%d").replace(hour=8, tzinfo=UTC)
        if c.kind == "fut":
            inst = Instrument(Kind.FUTURE, "BTC", "USDC", expiry)
        else:
            inst = Instrument(Kind.OPTION, "BTC", "USDC", expiry, c.strike, c.option_type == "C")
        out[inst.name] = float(np.round(rng.uniform(0.1, 5.0) * rng.choice([-1, 1]), 1))
    return out


def compare(model: SpanMargin, span_file: Path, book: Book) -> dict[str, dict[str, float]]:
    ours = xmargin_total(model, book)
    theirs = marginism_total(span_file, rows_of(book))
    mine = {
        "scan_risk": ours.scan_risk,
        "intra_charge": ours.intra_charge,
        "short_option_minimum": ours.short_option_minimum,
        "net_option_value": ours.net_option_value,
        "total": ours.total,
    }
    return {"xmargin": mine, "marginism": theirs}


def speed_run(model: SpanMargin, span_file: Path, n: int) -> dict[str, float]:
    """Margin ``n`` random accounts as one book (xmargin) and one by one (marginism); seconds and ratio."""
    rng = np.random.default_rng(7)
    pfs = [
        portfolio_from_mapping(
            {"account": f"a{i}", "collateral": {"USDC": 1e5}, "positions": random_book(model, rng, 6)}
        )
        for i in range(n)
    ]
    book = Book.from_portfolios(pfs)
    base = model.market()
    market = base.replace(index_usd={**base.index_usd, "USDC": 1.0})
    model.requirement(book, market, detail=False)  # warm-up
    t0 = time.perf_counter()
    res = model.requirement(book, market, detail=False)
    ours = time.perf_counter() - t0
    from marginism import ExposureConfig, Position, SpanCalculator

    calc = SpanCalculator.from_file(
        str(span_file), exposure=ExposureConfig(0, 0, 0, 0, expiry_day_elm_pct=0.0)
    )
    rows = [rows_of(Book.from_portfolios([p])) for p in pfs]
    t0 = time.perf_counter()
    theirs = [
        calc.calculate([Position(s, i, q, expiry=e, strike=k) for s, i, q, e, k in r]).total_margin
        for r in rows
    ]
    ref = time.perf_counter() - t0
    table = model.prepare(book.columns, market).table
    option_value = np.asarray(book.q @ np.where(table.is_option, table.value_usd, 0.0))
    gap = np.abs(res.initial_margin - option_value - np.asarray(theirs)) / np.maximum(np.asarray(theirs), 1.0)
    return {"xmargin_seconds": ours, "marginism_seconds": ref, "ratio": ref / ours, "worst": float(gap.max())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--span-file", type=Path, default=ROOT / "examples/span/btc-synthetic.spn")
    ap.add_argument("--portfolio", type=Path, default=ROOT / "examples/span/portfolio.yaml")
    ap.add_argument("--random", type=int, default=0)
    ap.add_argument("--speed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model = SpanMargin(args.span_file)
    book = Book.from_portfolio(load_portfolio(args.portfolio))
    doc = compare(model, args.span_file, book)
    a, b = doc["xmargin"]["total"], doc["marginism"]["total"]
    rel = abs(a - b) / max(abs(b), 1e-12)
    worst = 0.0
    rng = np.random.default_rng(18)
    for _ in range(args.random):
        pf = portfolio_from_mapping({"positions": random_book(model, rng, int(rng.integers(1, 9)))})
        d = compare(model, args.span_file, Book.from_portfolio(pf))
        x, y = d["xmargin"]["total"], d["marginism"]["total"]
        worst = max(worst, abs(x - y) / max(abs(y), 1.0))
    speed = speed_run(model, args.span_file, args.speed) if args.speed else {}
    if args.json:
        out = {**doc, "relative_difference": rel, "random_books": args.random, "worst_random": worst, **speed}
        print(json.dumps(out))
        return 0
    print(f"{'USD':<22}{'xmargin':>16}{'marginism':>16}")
    for key in doc["xmargin"]:
        print(f"{key:<22}{doc['xmargin'][key]:>16,.6f}{doc['marginism'][key]:>16,.6f}")
    print(f"relative difference of the totals: {rel:.3g}")
    if args.random:
        print(f"{args.random} random books: largest relative difference {worst:.3g}")
    if speed:
        print(
            f"{args.speed} accounts: xmargin {speed['xmargin_seconds']:.3f} s, marginism {speed['marginism_seconds']:.3f} s,"
            f" ratio {speed['ratio']:.2f} (marginism / xmargin); largest relative gap {speed['worst']:.3g}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
