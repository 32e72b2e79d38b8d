"""Derive v2 PMRM_2 against Derive's own portfolio cases (``tests/venues/data/NOTICE.md``).

Each case is named as Derive names it (``test_N_...``, the fixture file and the Solidity test function) and is
checked as Derive's harness ``TestPMRM_2_PortfolioCasesNEW.t.sol`` checks it: IM, MM and option MtM at 1e-8
relative, collateral MtM at 1e-8 absolute (its 1e10 in 18 decimals), and every scenario's P&L at 1e-8 relative
(absolute when either side is below 1e-10). Derive's own suite comments out ``test_67`` ("Invalid param setup
so skipping"): its IM, MM and MtM are checked here too; its last scenario (a skew shock combined with a spot
move, which PMRMLib_2 prices at the unshocked forward while the fixture's reference does not) is not.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xmargin.cli import app
from xmargin.core import InputError
from xmargin.margin.venues._derive import Svi, black76
from xmargin.margin.venues._derive_case import evaluate_case

DATA = Path(__file__).parent / "data" / "derive_pmrm2_cases.jsonl.gz"
CASES: list[dict[str, Any]] = [
    json.loads(line) for line in gzip.decompress(DATA.read_bytes()).decode().splitlines() if line.strip()
]
REL = 1e-8
"""Derive's assertApproxEqRel(…, 1e10): 1e10 / 1e18"""
ABS = 1e-8
"""Derive's assertApproxEqAbs(…, 1e10), and its switch to absolute below 1e8 wei (1e-10)"""
SKIPPED_BY_DERIVE = {"test_67_misc_skew_scenario_with_spot_move": 30}


def close_rel(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=0.0) or a == b


def close_scenario(a: float, b: float) -> bool:
    if abs(a) < 1e-10 or abs(b) < 1e-10:
        return abs(a - b) <= ABS
    return close_rel(a, b)


def test_all_139_cases_are_here() -> None:
    assert len(CASES) == 139
    assert len({c["name"] for c in CASES}) == 139


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_portfolio_case(case: dict[str, Any]) -> None:
    got = evaluate_case(case)
    want = case["Result"]
    assert close_rel(got.initial_margin, float(want["IM"])), (got.initial_margin, want["IM"])
    assert close_rel(got.maintenance_margin, float(want["MM"])), (got.maintenance_margin, want["MM"])
    assert close_rel(got.option_mtm, float(want["OptionMTM"])), (got.option_mtm, want["OptionMTM"])
    assert abs(got.collateral_mtm - float(want["CollateralMTM"])) <= ABS
    expected = [float(x) for x in want["scenario_pnl"]]
    assert len(got.scenario_pnl) == len(expected)
    skip = SKIPPED_BY_DERIVE.get(case["name"])
    for i, (a, b) in enumerate(zip(got.scenario_pnl, expected, strict=True)):
        if i != skip:
            assert close_scenario(a, b), f"scenario {i}: {a!r} != {b!r}"


# -- the pricing pieces against closed forms -----------------------------------------------------------------
def test_black76_put_call_parity() -> None:
    call, put = black76(86400 * 30, 0.6, 100.0, 110.0, 0.99)
    assert call - put == pytest.approx(0.99 * (100.0 - 110.0), abs=1e-12)


def test_svi_is_flat_at_sigma_only() -> None:
    """With b = 0 the SVI total variance is a: vol = √(a/τ) at every strike."""
    svi = Svi(a=0.04, b=0.0, rho=0.0, m=0.0, sigma=0.1, forward=100.0, tau=0.25)
    assert svi.vol(50.0) == pytest.approx(0.4) and svi.vol(200.0) == pytest.approx(0.4)


# -- the command ---------------------------------------------------------------------------------------------------
def test_command_prints_derive_figures(tmp_path: Path) -> None:
    case = next(c for c in CASES if c["name"] == "test_20_structures_basic_put")
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case))
    res = CliRunner().invoke(app, ["venue", "derive-pmrm", str(path), "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert close_rel(doc["initial_margin"], float(case["Result"]["IM"]))
    assert set(doc) >= {
        "initial_margin",
        "maintenance_margin",
        "option_mtm",
        "collateral_mtm",
        "scenario_pnl",
    }


def test_bad_case_names_the_key(tmp_path: Path) -> None:
    case = json.loads(json.dumps(CASES[0]))
    del case["Parameters"]["Margin"]["IM_LOSS_FACTOR"]
    with pytest.raises(InputError) as err:
        evaluate_case(case)
    assert err.value.where == "Parameters.Margin.IM_LOSS_FACTOR"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(case))
    res = CliRunner().invoke(app, ["venue", "derive-pmrm", str(path)])
    assert res.exit_code == 2 and res.stdout == "" and "IM_LOSS_FACTOR" in res.stderr


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("Scenario", "OptionFeeds", 0, "SVIparam", 0), "x", "Scenario.OptionFeeds[0].SVIparam[0]"),
        (("Scenario", "OptionFeeds", 0, "SVIparam", 6), 0, "Scenario.OptionFeeds[0].SVIparam (tau)"),
        (("Scenario", "OptionFeeds", 0, "Forward"), 0, "Scenario.OptionFeeds[0].Forward"),
        (("Scenario", "OptionFeeds", 0, "SVIparam", 0), "-5", "Scenario.OptionFeeds (expiry 1399652)"),
        (("Scenario", "Options", 0, "Strike"), -5, "Scenario.Options[0].Strike"),
        (
            ("Parameters", "Scenarios", 0, "VolShockDirection"),
            "Sideways",
            "Parameters.Scenarios[0].VolShockDirection",
        ),
    ],
)
def test_bad_values_name_their_place(path: tuple[Any, ...], value: Any, where: str) -> None:
    case = json.loads(json.dumps(next(c for c in CASES if c["name"] == "test_20_structures_basic_put")))
    node = case
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(InputError) as err:
        evaluate_case(case)
    assert err.value.where == where
