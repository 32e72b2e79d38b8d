"""``xmargin margin`` / ``compare`` as a user runs them: JSON contract, what-if, currency, bad portfolios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xmargin.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
MARKET = str(ROOT / "examples" / "market.yaml")
HEDGED = str(ROOT / "examples" / "hedged.yaml")
KEYS = (
    "account",
    "model",
    "currency",
    "equity",
    "margin_balance",
    "initial_margin",
    "maintenance_margin",
    "available",
    "breakdown",
)


def run_json(args: list[str]) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@pytest.mark.parametrize("model", ["pm"])
def test_margin_json_contract(model: str) -> None:
    doc = run_json(["margin", HEDGED, "--market", MARKET, "--model", model])
    assert all(k in doc for k in KEYS)
    assert doc["initial_margin"] >= doc["maintenance_margin"] >= 0
    assert doc["available"] == pytest.approx(doc["margin_balance"] - doc["initial_margin"])
    assert "BTC" in doc["breakdown"]["liquidation_price"]
    assert set(doc["breakdown"]["greeks"]["BTC"]) == {"delta_coin", "delta_usd", "gamma", "vega", "theta"}


def test_currency_btc_divides_by_index() -> None:
    usd = run_json(["margin", HEDGED, "--market", MARKET])
    btc = run_json(["margin", HEDGED, "--market", MARKET, "--currency", "BTC"])
    assert btc["currency"] == "BTC"
    assert btc["initial_margin"] == pytest.approx(usd["initial_margin"] / 95000.0)


def test_what_if_has_before_and_after() -> None:
    doc = run_json(
        [
            "margin",
            HEDGED,
            "--market",
            MARKET,
            "--add",
            "BTC-PERPETUAL=-0.5",
            "--add",
            "BTC-27DEC26-100000-C=1",
        ]
    )
    before = doc["before"]
    assert all(k in before for k in KEYS)
    assert doc["initial_margin"] != before["initial_margin"]


def test_what_if_unwinding_the_hedge_costs_margin() -> None:
    """Buying back the hedging future leaves a naked long call: more risk (maintenance, the risk charge, rises).
    The initial margin of a long call is its premium either way (long options are paid in full)."""
    doc = run_json(["margin", HEDGED, "--market", MARKET, "--add", "BTC-27DEC26=0.35"])
    assert doc["maintenance_margin"] > doc["before"]["maintenance_margin"]
    assert doc["initial_margin"] >= doc["before"]["initial_margin"]


def test_liquidation_price_of_a_short_perp_counts_collateral() -> None:
    """Short 1 BTC perp on 20k USDC: liquidated when the rally eats the collateral down to maintenance."""
    doc = run_json(
        ["margin", str(ROOT / "tests" / "integration" / "data" / "short_perp.yaml"), "--market", MARKET]
    )
    liq = doc["breakdown"]["liquidation_price"]["BTC"]
    assert liq is not None and 95_000 < liq < 95_000 + 20_000


def test_human_table_runs() -> None:
    result = runner.invoke(app, ["margin", HEDGED, "--market", MARKET])
    assert result.exit_code == 0
    assert "Liquidation index prices" in result.stdout and "scenario P&L" in result.stdout
    assert "vol up" in result.stdout and "extended moves" in result.stdout


BAD = {
    "unknown instrument": ({"positions": {"BTC-NOPE": 1}}, "BTC-NOPE"),
    "non-numeric size": ({"positions": {"BTC-PERPETUAL": "lots"}}, "positions.BTC-PERPETUAL"),
    "unknown key": ({"positions": {}, "leverage": 10}, "leverage"),
    "unknown key in position": ({"positions": {"BTC-PERPETUAL": {"size": 1, "px": 3}}}, "px"),
    "expired option": ({"positions": {"BTC-27DEC25-100000-C": 1}}, "expired"),
    "asset without index": ({"collateral": {"DOGE": 5}, "positions": {}}, "DOGE"),
    "underlying without index": ({"positions": {"SOL-PERPETUAL": 5}}, "SOL"),
    "negative avg price": ({"positions": {"BTC-PERPETUAL": {"size": 1, "avg_price": -3}}}, "avg_price"),
    "not a mapping": ([1, 2], "mapping"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_portfolio(tmp_path: Path, case: str) -> None:
    doc, needle = BAD[case]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["margin", str(path), "--market", MARKET])
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert lines and all(ln.startswith("error: ") for ln in lines)
    assert len(lines) == 1, lines
    assert needle in lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["--model", "nope"],
        ["--currency", "XYZ"],
        ["--add", "BTC-PERPETUAL"],
        ["--add", "BTC-PERPETUAL=abc"],
        ["--model", "pm", "--preset", "nope.yaml"],
    ],
)
def test_bad_flags(args: list[str]) -> None:
    result = runner.invoke(app, ["margin", HEDGED, "--market", MARKET, *args])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
