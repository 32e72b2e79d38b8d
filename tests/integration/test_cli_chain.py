"""``xmargin chain margin`` as a user runs it: the vault's margin equals ``xmargin margin --model cross``
(the engine, the reference) on the shipped hedged example; bad input exits 2 naming the flag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xmargin.cli import app

pytest.importorskip("boa")

pytestmark = pytest.mark.slow

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
MARKET = str(ROOT / "examples" / "market.yaml")
HEDGED = str(ROOT / "examples" / "hedged.yaml")
FIELDS = ("equity", "margin_balance", "initial_margin", "maintenance_margin", "available")


def run_json(args: list[str]) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_chain_margin_matches_the_engine_on_the_hedged_example() -> None:
    chain = run_json(["chain", "margin", HEDGED, "--market", MARKET, "--model", "cross"])
    engine = run_json(["margin", HEDGED, "--market", MARKET, "--model", "cross"])
    for key in FIELDS:
        assert chain[key] == pytest.approx(engine[key], rel=1e-9, abs=1e-9), key
    assert chain["status"] == engine["status"]
    assert chain["prices_fresh"] is True
    assert 0 < chain["gas_used"] < 1_000_000
    assert chain["positions"] == 2


def test_chain_margin_pm_matches_the_engine_on_the_hedged_example() -> None:
    chain = run_json(["chain", "margin", HEDGED, "--market", MARKET, "--model", "pm-chain"])
    engine = run_json(["margin", HEDGED, "--market", MARKET, "--model", "pm-chain"])
    for key in FIELDS:
        assert chain[key] == pytest.approx(engine[key], rel=1e-6, abs=1e-6), key
    assert chain["model"] == "pm" and chain["preset"] == "pm-chain"


def test_chain_margin_refuses_a_pm_preset_beyond_the_vault() -> None:
    result = runner.invoke(app, ["chain", "margin", HEDGED, "--market", MARKET, "--model", "pm-deribit"])
    assert result.exit_code == 2
    assert "pm-deribit.view" in result.stderr and "Traceback" not in result.output


def test_chain_margin_table() -> None:
    result = runner.invoke(app, ["chain", "margin", HEDGED, "--market", MARKET])
    assert result.exit_code == 0, result.stderr
    assert "health check:" in result.stdout


def test_chain_margin_refuses_a_mode_the_vault_lacks() -> None:
    result = runner.invoke(app, ["chain", "margin", HEDGED, "--market", MARKET, "--model", "standard"])
    assert result.exit_code == 2
    assert "--model" in result.stderr and "standard" in result.stderr
    assert "Traceback" not in result.output


def test_chain_margin_refuses_tiered_rates() -> None:
    result = runner.invoke(app, ["chain", "margin", HEDGED, "--market", MARKET, "--model", "cross-binance"])
    assert result.exit_code == 2, result.output
    assert "fixed ratio" in result.stderr


def test_chain_bench_json() -> None:
    doc = run_json(["chain", "bench", "--positions", "1,4"])
    points = doc["points"]
    assert [p["positions"] for p in points] == [1, 4]
    # each extra position reads more cold storage: the check must cost more, and every slot read is
    # at least 2,100 gas (EIP-2929), so 3 more positions of >= 3 slots each cost >= 18,900
    assert points[1]["gas_used"] - points[0]["gas_used"] >= 3 * 3 * 2_100
    ops = {o["operation"]: o for o in doc["operations"]}
    assert ops["deposit"]["gas_used"] > 21_000 and ops["oracle update (poke)"]["gas_used"] > 21_000
    assert {b["gas_limit"] for b in doc["blocks"]} >= {30_000_000, 60_000_000}
    # a kick stores a new sale of 7 storage words, each a zero-to-non-zero write of 20,000 gas (EIP-2200)
    assert ops["auction kick"]["execution_gas"] >= 7 * 20_000
    assert 21_000 < ops["auction take (partial)"]["gas_used"] < ops["auction kick"]["gas_used"]
    assert {"auction take (last)", "auction redo"} <= set(ops)


@pytest.mark.parametrize("bad", ["0", "65", "1,x", ""])
def test_chain_bench_refuses_bad_counts(bad: str) -> None:
    result = runner.invoke(app, ["chain", "bench", "--positions", bad])
    assert result.exit_code == 2
    assert "--positions" in result.stderr
