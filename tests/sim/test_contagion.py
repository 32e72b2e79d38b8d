"""Contagion across venues (``xmargin contagion``, ``sim.contagion``) and DebtRank."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from xmargin.sim.contagion import ContagionFile, Overrides, contagion, debtrank, load_contagion

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "contagion.yaml"


def test_debtrank_on_a_chain_by_hand() -> None:
    """Battiston et al. (2012), Methods, applied by hand to a three-node chain A -> B -> C with
    W[A, B] = 0.5, W[B, C] = 0.4, values (0.5, 0.3, 0.2), A defaulting (psi = 1):
    t1: h = (1, 0, 0), states (D, U, U); t2: h_B = 0.5, states (I, D, U); t3: h_C = 0.4 x 0.5 = 0.2,
    states (I, I, D); t4: nothing distressed propagates further.
    R = (1 x 0.5 + 0.5 x 0.3 + 0.2 x 0.2) - 1 x 0.5 = 0.19."""
    w = np.zeros((3, 3))
    w[0, 1], w[1, 2] = 0.5, 0.4
    r = debtrank(w, np.array([0.5, 0.3, 0.2]), np.array([1.0, 0.0, 0.0]))
    assert r.debtrank == pytest.approx(0.19, abs=1e-15)
    np.testing.assert_allclose(r.distress, [1.0, 0.5, 0.2])


def test_debtrank_counts_a_cycle_once() -> None:
    """Two nodes that impact each other by 0.5, values (0.6, 0.4), A defaulting: B reaches 0.5 and, once
    inactive, A cannot pass distress back (the paper's reason for the Inactive state): R = 0.5 x 0.4 = 0.2.
    Without the rule (a walk counted at every step), B would be pushed to 1 and R would be 0.4."""
    w = np.array([[0.0, 0.5], [0.5, 0.0]])
    r = debtrank(w, np.array([0.6, 0.4]), np.array([1.0, 0.0]))
    assert r.debtrank == pytest.approx(0.2, abs=1e-15)
    assert r.distress[1] == pytest.approx(0.5)


def _cfg(**changes: object) -> ContagionFile:
    doc = json.loads(load_contagion(EXAMPLE).model_dump_json())
    doc.update(changes)
    return ContagionFile.model_validate(doc)


@pytest.fixture(scope="module")
def base() -> dict[str, object]:
    return contagion(load_contagion(EXAMPLE)).as_dict(path=True)


def test_every_venue_accounts_for_its_bad_debt_and_fund(base: dict[str, object]) -> None:
    venues = base["venues"]
    assert isinstance(venues, dict)
    for name, v in venues.items():
        split = v["insurance_fund_used_usd"] + v["adl_usd"] + v["socialized_loss_usd"]
        assert math.isclose(v["bad_debt_usd"], split, rel_tol=1e-12, abs_tol=1e-6), name
        fund = v["insurance_fund_start_usd"] + v["penalties_usd"] - v["insurance_fund_used_usd"]
        assert math.isclose(v["insurance_fund_end_usd"], fund, rel_tol=1e-12, abs_tol=1e-6), name
    system = base["system"]
    assert isinstance(system, dict)
    assert math.isclose(system["bad_debt_usd"], sum(v["bad_debt_usd"] for v in venues.values()))
    # the example is meant to show the mechanisms: a cascade, an exhausted fund with ADL, a broken hedge
    assert system["cascade_rounds"] > 1 and system["insurance_funds_exhausted"]
    assert venues["cex"]["adl_usd"] > 0 and system["unhedged_market_maker_usd"] > 0
    assert 0 < system["debtrank"] <= 1


def test_seeded_runs_are_identical(base: dict[str, object]) -> None:
    assert contagion(load_contagion(EXAMPLE)).as_dict(path=True) == base


def test_no_impact_means_no_feedback() -> None:
    r = contagion(load_contagion(EXAMPLE), Overrides(impact_scale=0.0))
    assert r.system.amplification == 1.0
    for paths in r.price_path.values():
        assert paths["with_feedback"] == paths["without_feedback"]


def test_feedback_deepens_the_fall(base: dict[str, object]) -> None:
    system = base["system"]
    assert isinstance(system, dict)
    assert system["max_drop_with_feedback"] > system["max_drop_without_feedback"]
    assert system["amplification"] > 1.0


def test_zero_latency_bridge_without_depeg_is_the_single_chain_run() -> None:
    """Collateral behind a bridge with no delay, no depeg and no halt is plain USDC collateral."""
    doc = json.loads(load_contagion(EXAMPLE).model_dump_json())
    bridge = doc["bridges"][0]
    bridged = dict(doc, bridges=[dict(bridge, latency_minutes=0.0, depeg_at_hour=None, halt_at_hour=None)])
    plain = dict(doc, bridges=[])
    a = contagion(ContagionFile.model_validate(bridged)).as_dict()
    b = contagion(ContagionFile.model_validate(plain)).as_dict()
    assert a["venues"] == b["venues"] and a["system"] == b["system"]
    # and a depeg to 1.0 changes nothing
    same = dict(doc, bridges=[dict(bridge, depeg_price=1.0)])
    unchanged = dict(doc, bridges=[dict(bridge, depeg_at_hour=None)])
    assert (
        contagion(ContagionFile.model_validate(same)).as_dict()["venues"]
        == contagion(ContagionFile.model_validate(unchanged)).as_dict()["venues"]
    )


def test_a_late_bridge_loses_top_ups_sent_in_the_crash() -> None:
    """With a day of bridge latency (an optimistic rollup's challenge window is 7 days), top-ups sent
    during the crash are still in flight when the bridge halts: they never arrive."""
    late = contagion(load_contagion(EXAMPLE), Overrides(bridge_latency_minutes=24 * 60.0))
    fast = contagion(load_contagion(EXAMPLE), Overrides(bridge_latency_minutes=0.0))
    assert late.venues["dex"].top_ups_lost > fast.venues["dex"].top_ups_lost
    assert late.bridge_latency_minutes == 24 * 60.0
    for v in (late.venues["dex"], fast.venues["dex"]):  # every top-up is accounted for
        assert v.top_ups_sent == v.top_ups_arrived + v.top_ups_lost + v.top_ups_in_flight


def test_the_package_ships_the_example() -> None:
    shipped = resources.files("xmargin") / "data" / "examples" / "contagion.yaml"
    assert shipped.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xmargin", "contagion", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_json_contract() -> None:
    p = _cli("--config", str(EXAMPLE), "--json", "--impact-scale", "2")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["schema_version"] == 1
    for v in d["venues"].values():
        for k in (
            "bad_debt_usd",
            "liquidations",
            "insurance_fund_used_usd",
            "adl_usd",
            "socialized_loss_usd",
        ):
            assert k in v
    for k in ("bad_debt_usd", "amplification", "cascade_rounds", "debtrank"):
        assert k in d["system"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("scenario: 2020-03-12\nimpact: {depth_usd_per_day: {BTC: 1.0e8}}\nvenues: []\n", "venues"),
        ("scenario: nowhere\nimpact: {depth_usd_per_day: {BTC: 1.0e8}}\nvenues: []\n", "venues"),
        ("scenario: 2020-03-12\nimpact: {depth_usd_per_day: {BTC: 1.0e8}}\nvenus: []\n", "venus"),
    ],
)
def test_cli_bad_file(tmp_path: Path, body: str, where: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(body, encoding="utf-8")
    p = _cli("--config", str(f))
    assert p.returncode == 2 and where in p.stderr and "Traceback" not in p.stderr


def test_cli_bad_flags() -> None:
    p = _cli("--config", str(EXAMPLE), "--bridge-latency", "-5")
    assert p.returncode == 2 and "--bridge-latency" in p.stderr


def test_cli_chart_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "contagion.png"
    p = _cli("--config", str(EXAMPLE), "--chart", str(out))
    assert p.returncode == 0, p.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    p = _cli("--config", str(EXAMPLE), "--chart", str(out))  # exists: refused without --force
    assert p.returncode == 2 and "--chart" in p.stderr
