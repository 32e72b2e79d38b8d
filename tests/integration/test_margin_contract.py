"""The ``margin`` / ``compare`` / ``models`` contract after issue 12: what-ifs pay their premium (#3), every
preset works with its model kind (#5), status and liquidation prices on both sides everywhere (#6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from xmargin.cli import app
from xmargin.margin import shipped_presets
from xmargin.margin._presets import preset_info

ROOT = Path(__file__).resolve().parents[2]
MARKET = str(ROOT / "examples" / "market.yaml")
HEDGED = str(ROOT / "examples" / "hedged.yaml")
LINEAR = str(ROOT / "examples" / "linear.yaml")
VENUE_KINDS = ("drift", "mango")
"""preset kinds of venues that list no options or inverse contracts: run on the linear example"""
CALL = "BTC-27DEC26-100000-C"
runner = CliRunner()


def run_json(args: list[str]) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def cash(tmp_path: Path, usdc: float = 100_000.0, btc: float = 0.0) -> str:
    path = tmp_path / "cash.yaml"
    path.write_text(yaml.safe_dump({"account": "cash", "collateral": {"USDC": usdc, "BTC": btc}}))
    return str(path)


def premium_usd() -> float:
    """The call's mark premium in USD: its coin price (``xmargin price``) at the BTC index."""
    doc = run_json(["price", CALL, "--market", MARKET])["instruments"][CALL]
    assert doc["price_currency"] == "BTC"
    return float(doc["price"]) * 95_000.0


# -- 3. a what-if purchase pays its premium -------------------------------------------------------------
@pytest.mark.parametrize("model", ["pm", "cross", "isolated", "standard", "pm-span", "pm-cross-collateral"])
def test_buying_an_option_lowers_available_by_at_least_its_premium(tmp_path: Path, model: str) -> None:
    """Before: no premium left the account and ``available`` rose (100,000 → 100,000, equity +4,615)."""
    doc = run_json(["margin", cash(tmp_path), "--market", MARKET, "--model", model, "--add", f"{CALL}=1"])
    before, premium = doc["before"], premium_usd()
    assert doc["equity"] == pytest.approx(before["equity"], abs=1e-6)  # cash became an option at mark
    assert before["available"] - doc["available"] >= premium * (1 - 1e-9)


def test_a_price_above_mark_costs_the_difference(tmp_path: Path) -> None:
    mark = premium_usd() / 95_000.0
    doc = run_json(["margin", cash(tmp_path), "--market", MARKET, "--add", f"{CALL}=2@{mark + 0.01}"])
    assert doc["before"]["equity"] - doc["equity"] == pytest.approx(2 * 0.01 * 95_000.0, rel=1e-9)


def test_a_future_enters_at_its_price(tmp_path: Path) -> None:
    """Bought at 95,000 against a mark of 95,400: 0.5 × 400 USD of unrealised profit, in equity at once."""
    doc = run_json(["margin", cash(tmp_path), "--market", MARKET, "--add", "BTC_USDC-27DEC26=0.5@95000"])
    assert doc["equity"] - doc["before"]["equity"] == pytest.approx(0.5 * 400.0, rel=1e-9)


@pytest.mark.parametrize(
    "flag", ["X=1", f"{CALL}=1@-0.1", f"{CALL}=١", f"{CALL}=0", f"{CALL}=1e300", "BTC=1"]
)
def test_bad_what_ifs_are_one_error_line(tmp_path: Path, flag: str) -> None:
    result = runner.invoke(app, ["margin", cash(tmp_path), "--market", MARKET, "--add", flag])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: --add") and result.stderr.count("\n") == 1


# -- 5. every preset with its model kind ---------------------------------------------------------------
def test_models_lists_every_preset_with_its_sources() -> None:
    doc = run_json(["models"])
    presets = {p["name"]: p for p in doc["models"] if p["type"] == "preset"}
    assert set(presets) == set(shipped_presets())
    for p in presets.values():
        assert p["models"] and p["description"] and p["parameters"]
    assert presets["cross-binance"]["models"] == ["cross", "isolated"]
    assert any("binance.com" in s for s in presets["cross-binance"]["sources"].values())
    kinds = {m["name"]: m for m in doc["models"] if m["type"] == "model"}
    assert set(kinds) >= {"isolated", "cross", "standard", "pm"}
    assert all(m["source"] for m in doc["models"])  # FORMATS.md: every model and preset with its source
    human = runner.invoke(app, ["models"])
    assert human.exit_code == 0 and "cross-binance" in human.stdout


@pytest.mark.parametrize("preset", sorted(shipped_presets()))
def test_every_shipped_preset_works_by_name_and_with_its_kind(preset: str) -> None:
    venue = preset_info(preset, ()).kind in VENUE_KINDS
    pf = LINEAR if venue else HEDGED
    by_name = run_json(["margin", pf, "--market", MARKET, "--model", preset.upper()])
    assert by_name["preset"] == preset
    kind = by_name["model"]
    with_flag = run_json(["margin", pf, "--market", MARKET, "--model", kind, "--preset", preset])
    assert with_flag["initial_margin"] == by_name["initial_margin"]


def test_binance_tiers_reach_cross_and_isolated() -> None:
    """Before: ``--preset`` worked only with pm, so the Binance tier tables of ``cross`` were unreachable."""
    tiered = run_json(["margin", HEDGED, "--market", MARKET, "--model", "cross", "--preset", "cross-binance"])
    fixed = run_json(["margin", HEDGED, "--market", MARKET, "--model", "cross"])
    assert tiered["initial_margin"] != fixed["initial_margin"]
    iso = run_json(["margin", HEDGED, "--market", MARKET, "--model", "isolated", "--preset", "cross-binance"])
    assert iso["model"] == "isolated" and iso["preset"] == "cross-binance"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model", "pm", "--preset", "cross-binance"], "--preset: expected a preset for the pm model"),
        (["--model", "cross-binance", "--preset", "pm-span"], "--preset: expected only with a model kind"),
        (["--model", "nope"], "--model: expected a model"),
    ],
)
def test_a_preset_of_the_wrong_kind_is_named(args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["margin", HEDGED, "--market", MARKET, *args])
    assert result.exit_code == 2 and needle in result.stderr


# -- 6. status and liquidation prices on both sides -----------------------------------------------------
def test_status_and_liquidation_prices_on_both_sides(tmp_path: Path) -> None:
    """A short BTC straddle on 60,000 USDC: liquidated by a fall and by a rise."""
    path = tmp_path / "straddle.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "collateral": {"USDC": 60_000},
                "positions": {"BTC-27DEC26-95000-C": -1, "BTC-27DEC26-95000-P": -1},
            }
        )
    )
    doc = run_json(["margin", str(path), "--market", MARKET])
    lp = doc["breakdown"]["liquidation_prices"]["BTC"]
    assert doc["status"] == "ok"
    assert lp["below"] < 95_000 < lp["above"]
    assert doc["breakdown"]["liquidation_price"]["BTC"] in (lp["below"], lp["above"])


def test_an_account_already_liquidatable_has_no_liquidation_price(tmp_path: Path) -> None:
    """Before: the current price was reported as the liquidation price."""
    path = tmp_path / "broke.yaml"
    path.write_text(yaml.safe_dump({"collateral": {"USDC": 100}, "positions": {"BTC_USDC-PERPETUAL": 1}}))
    doc = run_json(["margin", str(path), "--market", MARKET])
    assert doc["status"] == "liquidatable"
    assert doc["breakdown"]["liquidation_prices"]["BTC"] == {"below": None, "above": None}
    assert doc["breakdown"]["liquidation_price"]["BTC"] is None


def test_compare_carries_status_and_liquidation_prices() -> None:
    doc = run_json(["compare", HEDGED, "--market", MARKET])
    for name in ("isolated", "cross", "standard", "pm"):
        m = doc["models"][name]
        assert m["status"] in ("ok", "margin_call", "liquidatable")
        assert set(m["liquidation_prices"]["BTC"]) == {"below", "above"}


def test_margin_call_status(tmp_path: Path) -> None:
    """Between maintenance and initial margin: ``margin_call`` (available < 0 but not liquidatable)."""
    path = tmp_path / "mc.yaml"
    # 10% IM and 5% MM of 95,400 under cross: 7,000 USDC lies between 4,770 and 9,540
    path.write_text(yaml.safe_dump({"collateral": {"USDC": 7_000}, "positions": {"BTC_USDC-27DEC26": 1}}))
    doc = run_json(["margin", str(path), "--market", MARKET, "--model", "cross"])
    assert doc["status"] == "margin_call" and doc["available"] < 0
