"""Every venue model by name in every command (issue 18): ``derive-pmrm`` and ``span`` through ``margin``,
``compare``, ``book margin``, ``backtest`` and the service; ``span`` reads its file from ``--span-file`` (the
service: ``serve --span-file``), is one exit-2 line without it, and is refused by ``backtest`` (one day's file).
Each figure is checked against the same model run directly on the same account (``account_report``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tests.integration.test_service import MARGIN_SCHEMA, ROOT, Service
from xmargin.cli import app
from xmargin.engine import write_book
from xmargin.instruments import load_portfolio, portfolio_from_mapping
from xmargin.margin import SpanMargin, account_report, resolve_model
from xmargin.market import load_market
from xmargin.risk import Book
from xmargin.service import ServiceConfig

MARKET = str(ROOT / "examples" / "market.yaml")
PORTFOLIO = str(ROOT / "examples" / "portfolio.yaml")
SPAN_FILE = str(ROOT / "examples" / "span" / "btc-synthetic.spn")
SPAN_BOOK = str(ROOT / "examples" / "span" / "portfolio.yaml")
COMPARE_SCHEMA = json.loads((ROOT / "src" / "xmargin" / "schemas" / "compare.json").read_text())
runner = CliRunner()


def test_margin_derive_pmrm_is_the_model_run_directly() -> None:
    res = runner.invoke(app, ["margin", PORTFOLIO, "--market", MARKET, "--model", "derive-pmrm", "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, MARGIN_SCHEMA)
    want = account_report(resolve_model("derive"), load_portfolio(PORTFOLIO), load_market(MARKET))
    assert doc["model"] == "derive" and doc["breakdown"]["model"] == "derive"
    assert doc["initial_margin"] == pytest.approx(want.initial_margin, rel=1e-12)
    assert doc["maintenance_margin"] == pytest.approx(want.maintenance_margin, rel=1e-12)


def test_compare_takes_models_by_name() -> None:
    args = ["compare", PORTFOLIO, "--market", MARKET, "--model", "derive-pmrm", "--model", "pm", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, COMPARE_SCHEMA)
    assert list(doc["models"]) == ["derive", "pm"]
    want = account_report(resolve_model("derive-pmrm"), load_portfolio(PORTFOLIO), load_market(MARKET))
    assert doc["models"]["derive"]["initial_margin"] == pytest.approx(want.initial_margin, rel=1e-12)


def test_compare_default_is_unchanged() -> None:
    doc = json.loads(runner.invoke(app, ["compare", PORTFOLIO, "--market", MARKET, "--json"]).stdout)
    assert list(doc["models"]) == ["isolated", "cross", "standard", "pm"]


def test_compare_one_kind_under_two_presets_keys_both() -> None:
    args = ["compare", PORTFOLIO, "--market", MARKET, "--model", "pm", "--model", "pm-span", "--json"]
    doc = json.loads(runner.invoke(app, args).stdout)
    assert list(doc["models"]) == ["pm:pm-deribit", "pm:pm-span"]


def test_compare_with_span_reads_the_file() -> None:
    args = [
        "compare",
        SPAN_BOOK,
        "--model",
        "span",
        "--model",
        "derive-pmrm",
        "--span-file",
        SPAN_FILE,
        "--json",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    span = SpanMargin(SPAN_FILE)
    want = account_report(span, load_portfolio(SPAN_BOOK), span.market())
    assert doc["models"]["span"]["initial_margin"] == pytest.approx(want.initial_margin, rel=1e-12)


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["compare", PORTFOLIO, "--market", MARKET, "--model", "span"], "--span-file"),
        (["compare", PORTFOLIO, "--market", MARKET, "--span-file", SPAN_FILE], "--span-file"),
        (["compare", PORTFOLIO], "--market"),
        (["backtest", PORTFOLIO, "--model", "span"], "--model span"),
        (["margin", PORTFOLIO, "--market", MARKET, "--model", "span"], "--span-file"),
    ],
)
def test_span_without_its_file_is_one_error_line(args: list[str], where: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.startswith(f"error: {where}") and res.stderr.count("\n") == 1, res.stderr


def _book(tmp_path: Path, portfolio: str, n: int = 3) -> tuple[str, list[object]]:
    base = yaml.safe_load(Path(portfolio).read_text())
    pfs = []
    for k in range(n):
        doc = dict(base, account=f"a{k}")
        doc["positions"] = {
            name: (dict(p, size=p["size"] * (k + 1)) if isinstance(p, dict) else p * (1 - 0.5 * k))
            for name, p in base["positions"].items()
        }
        pfs.append(portfolio_from_mapping(doc))
    path = tmp_path / "book.parquet"
    write_book(Book.from_portfolios(pfs), path)
    return str(path), pfs


@pytest.mark.parametrize(
    ("portfolio", "extra"),
    [
        (PORTFOLIO, ["--market", MARKET, "--model", "derive-pmrm"]),
        (SPAN_BOOK, ["--model", "span", "--span-file", SPAN_FILE]),
    ],
    ids=["derive-pmrm", "span"],
)
def test_book_margin_equals_each_account_alone(tmp_path: Path, portfolio: str, extra: list[str]) -> None:
    book, pfs = _book(tmp_path, portfolio)
    span = "span" in extra
    m = SpanMargin(SPAN_FILE) if span else resolve_model("derive-pmrm")
    market = m.market() if isinstance(m, SpanMargin) else load_market(MARKET)
    out = tmp_path / "result.parquet"
    res = runner.invoke(app, ["book", "margin", book, *extra, "--out", str(out), "--no-liquidation-prices"])
    assert res.exit_code == 0, res.stderr
    got = pd.read_parquet(out).set_index("account")
    for pf in pfs:
        want = account_report(m, pf, market, with_liquidation=False)
        assert got.loc[pf.account, "initial_margin"] == pytest.approx(want.initial_margin, rel=1e-9)
        assert got.loc[pf.account, "maintenance_margin"] == pytest.approx(want.maintenance_margin, rel=1e-9)


def test_book_margin_span_without_its_file_is_bad_input(tmp_path: Path) -> None:
    book, _ = _book(tmp_path, SPAN_BOOK)
    res = runner.invoke(
        app, ["book", "margin", book, "--model", "span", "--out", str(tmp_path / "r.parquet")]
    )
    assert res.exit_code == 2 and res.stderr.startswith("error: --span-file"), res.stderr


def test_backtest_derive_pmrm_runs() -> None:
    args = [
        "backtest",
        str(ROOT / "examples" / "backtest" / "short_strangle_btc.yaml"),
        "--model",
        "derive-pmrm",
    ]
    res = runner.invoke(app, [*args, "--history", "deribit-2026", "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["observations"] > 100 and doc["margin_usd"]["min"] > 0


# -- the service ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    s = Service(tmp_path_factory.mktemp("models-svc"), load_market(MARKET))
    yield s
    s.ledger.close()


def test_service_margins_a_posted_portfolio_with_derive_pmrm(svc: Service) -> None:
    body = {"portfolio": yaml.safe_load(Path(PORTFOLIO).read_text()), "model": "derive-pmrm"}
    res = svc.call("POST", "/v1/margin", "read", body)
    assert res.status_code == 200, res.text
    jsonschema.validate(res.json(), MARGIN_SCHEMA)
    want = account_report(resolve_model("derive-pmrm"), load_portfolio(PORTFOLIO), load_market(MARKET))
    assert res.json()["initial_margin"] == pytest.approx(want.initial_margin, rel=1e-12)


def test_service_span_reads_its_configured_file(tmp_path: Path) -> None:
    span = SpanMargin(SPAN_FILE)
    s = Service(tmp_path, span.market(), ServiceConfig(span_file=SPAN_FILE))
    try:
        body = {"portfolio": yaml.safe_load(Path(SPAN_BOOK).read_text()), "model": "span"}
        res = s.call("POST", "/v1/margin", "read", body)
        assert res.status_code == 200, res.text
        jsonschema.validate(res.json(), MARGIN_SCHEMA)
        want = account_report(span, load_portfolio(SPAN_BOOK), span.market())
        assert res.json()["initial_margin"] == pytest.approx(want.initial_margin, rel=1e-12)
        assert s.call("GET", "/v1/accounts/alice/margin?model=span", "read").status_code == 200
    finally:
        s.ledger.close()


def test_service_span_without_a_file_is_a_422(tmp_path: Path) -> None:
    s = Service(tmp_path, load_market(MARKET))
    try:
        res = s.call("GET", "/v1/accounts/alice/margin?model=span", "read")
        assert res.status_code == 422 and "span" in json.dumps(res.json()["error"])
    finally:
        s.ledger.close()
