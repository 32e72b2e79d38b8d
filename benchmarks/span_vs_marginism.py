"""xmargin's ``span`` model beside marginism 0.1.1 (MIT, github.com/marketcalls/marginism) on one SPAN file and book.

    .venv/bin/python benchmarks/span_vs_marginism.py [--span-file examples/span/btc-synthetic.spn]
        [--portfolio examples/span/portfolio.yaml] [--random N] [--json]

Both read the same XML risk-parameter file. The book is turned into marginism ``Position`` rows (symbol = the
base coin, FUT or C/P, quantity in coin, expiry YYYYMMDD, strike); marginism's exposure (ELM), ad-hoc and
expiry-day add-ons are NSE's and not SPAN, so they are set to 0 and its ``total_margin`` is its SPAN margin.
Printed: each component (scan, calendar spread, short option minimum, net option value) and the total from
both, with the relative difference of the totals. ``--random N`` adds N seeded random books on the file's
contracts (the largest relative gap over them is printed).
"""

from __future__ import annotations

import argparse
import json
import sys
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--span-file", type=Path, default=ROOT / "examples/span/btc-synthetic.spn")
    ap.add_argument("--portfolio", type=Path, default=ROOT / "examples/span/portfolio.yaml")
    ap.add_argument("--random", type=int, default=0)
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
    if args.json:
        print(
            json.dumps(
                {**doc, "relative_difference": rel, "random_books": args.random, "worst_random": worst}
            )
        )
        return 0
    print(f"{'USD':<22}{'xmargin':>16}{'marginism':>16}")
    for key in doc["xmargin"]:
        print(f"{key:<22}{doc['xmargin'][key]:>16,.6f}{doc['marginism'][key]:>16,.6f}")
    print(f"relative difference of the totals: {rel:.3g}")
    if args.random:
        print(f"{args.random} random books: largest relative difference {worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
