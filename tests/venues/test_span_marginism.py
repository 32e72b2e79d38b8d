"""``span`` beside marginism 0.1.1 (MIT, github.com/marketcalls/marginism; pinned in requirements.lock) on the shipped
synthetic BTC SPAN file, and ``xmargin margin --model span --span-file`` on the command line.

marginism is an independent SPAN implementation reading the same XML files; with its NSE add-ons (exposure,
ad-hoc, expiry-day ELM) set to 0 its ``total_margin`` is its SPAN margin. The shipped file is regenerated from
the shipped Deribit chain by ``benchmarks/span_btc_file.py`` and must match byte for byte.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import jsonschema
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.integration.test_service import MARGIN_SCHEMA, ROOT
from xmargin.cli import app
from xmargin.instruments import Portfolio, Position, load_portfolio, parse_name, portfolio_from_mapping
from xmargin.margin import SpanMargin, parse_span
from xmargin.risk import Book
from xmargin.testing import parametrize_margin_models

pytest.importorskip("marginism")

SPAN_FILE = ROOT / "examples" / "span" / "btc-synthetic.spn"
PORTFOLIO = ROOT / "examples" / "span" / "portfolio.yaml"
REL = 1e-6
runner = CliRunner()


def _bench(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    return _bench("span_vs_marginism")


@pytest.fixture(scope="module")
def model() -> SpanMargin:
    return SpanMargin(SPAN_FILE)


def test_the_shipped_book_matches_marginism_component_by_component(bench, model: SpanMargin) -> None:  # type: ignore[no-untyped-def]
    doc = bench.compare(model, SPAN_FILE, Book.from_portfolio(load_portfolio(PORTFOLIO)))
    ours, theirs = doc["xmargin"], doc["marginism"]
    assert (
        theirs["intra_charge"] > 0 and theirs["short_option_minimum"] > 0 and theirs["net_option_value"] < 0
    )
    for key in ("scan_risk", "intra_charge", "short_option_minimum", "net_option_value", "total"):
        assert ours[key] == pytest.approx(theirs[key], rel=REL, abs=1e-9), key


def test_random_books_match_marginism(bench, model: SpanMargin) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(20261204)
    for _ in range(40):
        pf = portfolio_from_mapping({"positions": bench.random_book(model, rng, int(rng.integers(1, 9)))})
        doc = bench.compare(model, SPAN_FILE, Book.from_portfolio(pf))
        assert doc["xmargin"]["total"] == pytest.approx(doc["marginism"]["total"], rel=REL, abs=1e-6)


def test_the_shipped_file_is_what_the_script_writes() -> None:
    """Same contracts and parameters; numbers to 1e-12 (the pricer's last bits may differ across CPUs)."""
    fresh = parse_span(_bench("span_btc_file").build(), source="fresh")
    shipped = parse_span(SPAN_FILE.read_text(encoding="utf-8"), source="shipped")
    a, b = fresh.commodities["BTC"], shipped.commodities["BTC"]
    assert [c.label for c in a.contracts] == [c.label for c in b.contracts]
    for x, y in zip(a.contracts, b.contracts, strict=True):
        assert (*x.risk, x.price, x.delta, x.vol) == pytest.approx(
            (*y.risk, y.price, y.delta, y.vol), rel=1e-12, abs=1e-9
        )
    assert a.som_tiers == b.som_tiers and a.intra_spreads == b.intra_spreads


def test_cli_margin_with_a_span_file(bench, model: SpanMargin) -> None:  # type: ignore[no-untyped-def]
    args = ["margin", str(PORTFOLIO), "--model", "span", "--span-file", str(SPAN_FILE)]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, MARGIN_SCHEMA)
    bd = doc["breakdown"]
    theirs = bench.compare(model, SPAN_FILE, Book.from_portfolio(load_portfolio(PORTFOLIO)))["marginism"]
    assert bd["model"] == "span" and bd["span_requirement"] == pytest.approx(theirs["total"], rel=REL)
    assert doc["initial_margin"] == pytest.approx(bd["span_requirement"] + bd["option_value_usd"])
    assert doc["maintenance_margin"] == doc["initial_margin"]
    # available is SPAN's excess: the 150,000 USDC less SPAN's total (the options' value cancels out)
    assert doc["available"] == pytest.approx(150_000.0 - theirs["total"], rel=1e-12)
    assert doc["valuation_time"] == "2025-12-31T00:00:00Z"
    human = runner.invoke(app, args)
    assert human.exit_code == 0 and "SPAN from btc-synthetic.spn" in human.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "span"], "--span-file: expected a SPAN risk-parameter file"),
        (["--span-file", "SPAN"], "--span-file: expected --model span"),
        (
            ["--model", "span", "--span-file", "BAD"],
            "bad.spn: line 1: expected a SPAN XML risk-parameter file",
        ),
    ],
    ids=["no-file", "wrong-model", "not-xml"],
)
def test_cli_bad_span_input_is_one_error_line(tmp_path, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.spn"
    bad.write_text("not a span file\n", encoding="utf-8")
    args = [str(SPAN_FILE) if a == "SPAN" else str(bad) if a == "BAD" else a for a in args]
    res = runner.invoke(app, ["margin", str(PORTFOLIO), *args])
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.startswith("error: ") and message in res.stderr and res.stderr.count("\n") == 1


def test_cli_a_contract_missing_from_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pf = tmp_path / "p.yaml"
    pf.write_text("positions:\n  BTC_USDC-27MAR26-91000-C: 1\n  BTC-PERPETUAL: 1\n", encoding="utf-8")
    res = runner.invoke(app, ["margin", str(pf), "--model", "span", "--span-file", str(SPAN_FILE)])
    assert res.exit_code == 2 and res.stdout == ""
    assert "BTC_USDC-27MAR26-91000-C in " in res.stderr and "no such contract" in res.stderr
    assert "BTC-PERPETUAL in " in res.stderr and "a perpetual" in res.stderr


def _pos(name: str, size: float, avg: float | None = None) -> Position:
    return Position(parse_name(name), size, avg)


CONFORMANCE_MODEL = SpanMargin(SPAN_FILE)
CONFORMANCE_MARKET = CONFORMANCE_MODEL.market().replace(
    index_usd={**CONFORMANCE_MODEL.market().index_usd, "USDC": 1.0}
)
CONFORMANCE_BOOKS = (
    (
        Portfolio(
            "calendar",
            {"USDC": 60_000.0},
            (_pos("BTC_USDC-30JAN26", 2.0, 88_000.0), _pos("BTC_USDC-27MAR26", -2.0)),
        ),
        Portfolio(
            "options",
            {"USDC": 40_000.0, "BTC": 0.5},
            (
                _pos("BTC_USDC-27FEB26-100000-C", -3.0),
                _pos("BTC_USDC-27FEB26-80000-P", 1.0),
                _pos("BTC-27MAR26-90000-C", 0.7),
            ),
        ),
        Portfolio("empty", {}),
        Portfolio("long-put", {"USDC": 10_000.0}, (_pos("BTC_USDC-30JAN26-84000-P", 1.5),)),
    ),
)


@parametrize_margin_models([CONFORMANCE_MODEL], market=CONFORMANCE_MARKET, books=CONFORMANCE_BOOKS)
def test_conformance(model: object, check: object) -> None:
    check(model)  # type: ignore[operator]
