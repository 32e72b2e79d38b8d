"""Bad debt against bridge latency, the haircut solver, a venue's own collateral oracle (the 2025-10-10
example) and the HTML reports of contagion and Monte Carlo runs (docs/contagion.md)."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from xmargin.cli import app
from xmargin.cli._common import VALIDATE_ENV
from xmargin.sim.contagion import (
    ContagionFile,
    Overrides,
    bad_debt,
    contagion,
    latency_sweep,
    load_contagion,
    solve_haircut,
)

ROOT = Path(__file__).resolve().parents[2]
OCT10 = ROOT / "examples" / "contagion-2025-10-10.yaml"
LATENCIES = [0.0, 240.0, 1440.0, 10080.0]


def _small(**bridge: object) -> ContagionFile:
    """One CEX whose 120 long BTC accounts all post a bridged coin and answer margin calls across the
    bridge; the coin depegs to 0.8 at hour 80 and the bridge halts at hour 84 (Black Thursday's window)."""
    b = {"name": "b", "latency_minutes": 13, "depeg_at_hour": 80, "depeg_price": 0.8, "halt_at_hour": 84,
         "collateral_share": {"v": 1.0}, **bridge}  # fmt: skip
    return ContagionFile.model_validate(
        {
            "scenario": "2020-03-12",
            "impact": {"y": 1.0, "depth_usd_per_day": {"BTC": 5e7}},
            "venues": [
                {
                    "name": "v",
                    "kind": "cex",
                    "maintenance_margin": 0.05,
                    "initial_margin": 0.1,
                    "penalty": 0.05,
                    "insurance_fund_usd": 0.0,
                    "accounts": {
                        "count": 120,
                        "notional_usd": [1e4, 1e6],
                        "leverage": [2, 8],
                        "long_share": 1.0,
                        "seed": 1,
                        "top_up_share": 1.0,
                        "top_up_fraction": 0.5,
                    },
                }
            ],
            "bridges": [b],
        }
    )


def test_bad_debt_rises_with_bridge_latency_on_a_small_book() -> None:
    """Top-ups sent in the crash arrive later as the latency grows, and past the halt (hour 84) not at all:
    on this seeded book the system's bad debt never falls with the latency and ends far higher."""
    s = latency_sweep(_small(), LATENCIES)
    debt = [p.bad_debt_usd for p in s.points]
    assert s.monotone and all(b >= a for a, b in itertools.pairwise(debt)), debt
    assert debt[0] == 0.0 and debt[-1] > 10_000.0, debt
    lost = [p.venues["v"].top_ups_lost + p.venues["v"].top_ups_in_flight for p in s.points]
    assert lost[-1] > lost[0] == 0
    # the sweep's points are the plain runs at those latencies
    assert debt[1] == contagion(_small(), Overrides(bridge_latency_minutes=240.0)).system.bad_debt_usd


def test_solved_haircut_meets_the_target_and_a_lower_one_does_not() -> None:
    cfg, over, target = _small(), Overrides(bridge_latency_minutes=1440.0), 5_000.0
    s = solve_haircut(cfg, "b", target, over, tolerance=0.004, grid_points=6)
    assert s.haircut is not None and s.haircut_below is not None and s.monotone
    assert 0.0 < s.haircut - s.haircut_below <= 0.004
    # checked by runs of their own, not the solver's record
    at = bad_debt(cfg, replace(over, haircuts={"b": s.haircut}))[1]["b"]
    below = bad_debt(cfg, replace(over, haircuts={"b": s.haircut - 0.004}))[1]["b"]
    assert at <= target < below
    assert s.evaluations[0].haircut == 0.0 and s.evaluations[0].bad_debt_usd > target


def test_haircut_edges() -> None:
    """0 when the bad debt without a haircut already meets the target; None when no haircut can meet it
    (a coin that becomes worthless: more of it adds nothing)."""
    cfg, over = _small(), Overrides(bridge_latency_minutes=1440.0)
    free = solve_haircut(cfg, "b", 1e9, over, grid_points=2)
    assert free.haircut == 0.0 and free.haircut_below is None
    worthless = _small(depeg_price=0.0)
    s = solve_haircut(worthless, "b", 0.0, over, grid_points=2, max_haircut=0.5)
    assert s.haircut is None and s.bad_debt_usd is None


def test_a_venue_oracle_at_one_changes_nothing_and_at_065_liquidates_more() -> None:
    cfg = load_contagion(OCT10)
    doc = json.loads(cfg.model_dump_json())
    base = contagion(cfg)
    internal = base.venues["cex-internal"]
    at_one = json.loads(json.dumps(doc))
    at_one["venues"][0]["collateral_oracle"][0]["price"] = 1.0
    none = json.loads(json.dumps(doc))
    none["venues"][0]["collateral_oracle"] = []
    a = contagion(ContagionFile.model_validate(at_one)).as_dict()
    b = contagion(ContagionFile.model_validate(none)).as_dict()
    assert a["venues"] == b["venues"] and a["system"] == b["system"]
    # the internal oracle's 0.65 at the crash's low liquidates more of the venue's traders, deeper
    plain = b["venues"]["cex-internal"]
    assert plain["liquidations"] < internal.liquidations and plain["bad_debt_usd"] < internal.bad_debt_usd
    assert plain["accounts_bankrupt"] < internal.accounts_bankrupt


def test_the_package_ships_the_2025_10_10_example() -> None:
    shipped = resources.files("xmargin") / "data" / "examples" / OCT10.name
    assert shipped.read_text(encoding="utf-8") == OCT10.read_text(encoding="utf-8")


def test_config_names_an_unknown_bridge_in_a_collateral_oracle() -> None:
    doc = json.loads(load_contagion(OCT10).model_dump_json())
    doc["venues"][0]["collateral_oracle"][0]["bridge"] = "usdx"
    with pytest.raises(ValueError, match="collateral_oracle: bridge 'usdx'"):
        ContagionFile.model_validate(doc)


def _self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"<script[^>]+src=", page), "a script fetched from the network"
    assert page.count("Plotly.newPlot") >= 1


def test_contagion_report_page(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    from xmargin.sim._systemic_report import contagion_figure, write_contagion_report

    cfg = load_contagion(OCT10)
    r = contagion(cfg)
    sweep = latency_sweep(cfg, [0.0, 1440.0])
    out = write_contagion_report(tmp_path / "c.html", r, sweep)
    page = out.read_text(encoding="utf-8")
    _self_contained(page)
    assert page.count("Plotly.newPlot") == 2 and len(re.findall(r"plotly\.js v\d", page)) == 1  # inlined once
    assert "cex-internal" in page and "Bridge latency" in page and f"{r.system.amplification:.3f}" in page
    fig = contagion_figure(r)
    names = [t.name for t in fig.data]
    assert "BTC with feedback" in names and "BTC without" in names and "rounds" in names
    assert "ETH with feedback" not in names  # the window has no ETH bars: flat, not drawn
    rounds = next(t for t in fig.data if t.name == "rounds")
    assert max(rounds.y) == r.system.cascade_rounds
    liq = sum(sum(t.y) for t in fig.data if t.type == "bar" and t.name in r.venues)
    assert liq == r.system.liquidations


def test_monte_carlo_report_page(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    from xmargin.liquidation import CexConfig
    from xmargin.sim import ImpactConfig, ReplayConfig, monte_carlo
    from xmargin.sim._systemic_report import monte_carlo_figure, write_monte_carlo_report

    cfg = ReplayConfig(clock_s=600.0, cex_tick_move=0.004, insurance_fraction=0.001,
                       impact=ImpactConfig(adv_to_oi=0.05), cex=CexConfig(penalty=0.0))  # fmt: skip
    mc = monte_carlo("2025-10-10", "cex", paths=3, accounts=10, seed=0, config=cfg)
    page = write_monte_carlo_report(tmp_path / "mc.html", mc).read_text(encoding="utf-8")
    _self_contained(page)
    for name in ("p50", "p95", "p99"):
        assert f"{mc.bad_debt_usd_quantiles[name]:,.0f}"[:3] in page
    fig = monte_carlo_figure(mc)
    hist = next(t for t in fig.data if t.type == "histogram")
    assert list(hist.x) == [p.bad_debt_usd for p in mc.runs]
    marks = {
        t.name.split()[0]: t.x[0] for t in fig.data if t.name and t.name.split()[0] in ("p50", "p95", "p99")
    }
    assert marks == {k: mc.bad_debt_usd_quantiles[k] for k in ("p50", "p95", "p99")}


runner = CliRunner()


def _cli(*args: str) -> Result:
    """In process (a subprocess costs seconds of start-up per call)."""
    return runner.invoke(app, ["contagion", *args])


def test_cli_sweep_haircut_and_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("plotly")
    monkeypatch.setenv(VALIDATE_ENV, "1")  # the JSON is checked against the shipped schemas
    out = tmp_path / "r.html"
    p = _cli("--config", str(OCT10), "--latency-sweep", "0,1440", "--json", "--report", str(out))
    assert p.exit_code == 0, p.stderr
    d = json.loads(p.stdout)
    assert [x["latency_minutes"] for x in d["points"]] == [0.0, 1440.0] and d["schema_version"] == 1
    assert out.read_text(encoding="utf-8").count("Plotly.newPlot") == 2
    p = _cli("--config", str(OCT10), "--haircut-target", "1e12", "--json")
    assert p.exit_code == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["haircut"] == 0.0 and d["bridge"] == "usde"


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--latency-sweep", "0,abc"], "--latency-sweep"),
        (["--latency-sweep", "0,-1"], "--latency-sweep"),
        (["--latency-sweep", "0", "--bridge-latency", "5"], "--latency-sweep"),
        (["--haircut-target", "-1"], "--haircut-target"),
        (["--haircut-bridge", "usde"], "--haircut-bridge"),
        (["--haircut-target", "10", "--haircut-bridge", "nope"], "--haircut-bridge"),
        (["--report", "r.txt"], "--report"),
    ],
)
def test_cli_bad_input(tmp_path: Path, args: list[str], where: str) -> None:
    args = [str(tmp_path / a) if a == "r.txt" else a for a in args]
    p = _cli("--config", str(OCT10), *args)
    assert p.exit_code == 2 and where in p.stderr, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("error: ") for ln in lines), p.stderr  # no traceback
    assert not list(tmp_path.iterdir())  # nothing written


def test_replay_report_needs_paths_and_an_html_name(tmp_path: Path) -> None:
    base = ["replay", "--scenario", "2025-10-10", "--venue", "cex", "--accounts", "5"]
    for extra, needle in (
        (["--report", str(tmp_path / "mc.html")], "--paths"),
        (["--paths", "3", "--report", str(tmp_path / "mc.txt")], "--report"),
    ):
        p = runner.invoke(app, [*base, *extra])
        assert p.exit_code == 2 and needle in p.stderr, p.stderr
    assert not list(tmp_path.iterdir())
