"""``xmargin contagion --config FILE [--impact-scale X] [--bridge-latency MINUTES] [--json]`` (FORMATS.md),
with ``--latency-sweep M1,M2,..``, ``--haircut-target USD [--haircut-bridge NAME]`` and ``--report FILE.html``
(docs/contagion.md)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from xmargin.core import InputError, atomic_write, check_output

from ._common import console, err_console, fmt, handle_errors, print_json

if TYPE_CHECKING:
    from xmargin.sim.contagion import HaircutSolution, LatencySweep


def _latencies(text: str) -> list[float]:
    try:
        out = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        out = []
    if not out or any(not (math.isfinite(x) and x >= 0.0) for x in out):
        raise InputError(where="--latency-sweep", expected="minutes >= 0, comma-separated", found=text)
    return out


def _haircut(h: HaircutSolution | None) -> str:
    if h is None:
        return "-"
    if h.haircut is None:
        return f"> {h.max_haircut:.0%} (not reached)"
    return f"{h.haircut:.1%}" + ("" if h.monotone else " (not monotone!)")


def _print_sweep(s: LatencySweep) -> None:
    t = Table(title=f"Bad debt against bridge latency, {s.scenario} (impact x{s.impact_scale:g})")
    t.add_column("latency, min", justify="right")
    t.add_column("system bad debt, USD", justify="right")
    venues = list(s.points[0].venues)
    bridges = list(s.points[0].bridges)
    for n in venues:
        t.add_column(f"{n}, USD", justify="right")
    for n in bridges:
        t.add_column(f"{n} holders, USD", justify="right")
    for n in venues:
        t.add_column(f"{n} top-ups lost / in flight", justify="right")
    if s.haircut_target_usd is not None:
        t.add_column(f"haircut for <= {fmt(s.haircut_target_usd, 0)}", justify="right")
    for p in s.points:
        row = [f"{p.latency_minutes:g}", fmt(p.bad_debt_usd, 0)]
        row += [fmt(p.venues[n].bad_debt_usd, 0) for n in venues]
        row += [fmt(p.bridges[n].bad_debt_usd, 0) for n in bridges]
        row += [f"{p.venues[n].top_ups_lost} / {p.venues[n].top_ups_in_flight}" for n in venues]
        if s.haircut_target_usd is not None:
            row.append(_haircut(p.haircut_needed))
        t.add_row(*row)
    console.print(t)
    console.print(
        "system bad debt " + ("rises monotonically" if s.monotone else "is NOT monotone") + " in latency"
    )


def _print_haircut(h: HaircutSolution) -> None:
    console.print(
        f"haircut on {h.bridge} for its holders' bad debt <= {fmt(h.target_usd, 0)} USD at "
        f"{h.latency_minutes:g} min: {_haircut(h)}"
        + ("" if h.bad_debt_usd is None else f" (bad debt {fmt(h.bad_debt_usd, 0)} USD")
        + ("" if h.haircut_below is None or h.bad_debt_below_usd is None else
           f"; at {h.haircut_below:.1%}: {fmt(h.bad_debt_below_usd, 0)} USD")
        + ("" if h.bad_debt_usd is None else ")")
        + f"; {len(h.evaluations)} runs, monotone on them: {'yes' if h.monotone else 'NO'}"
    )  # fmt: skip


@handle_errors
def contagion(
    config: Annotated[
        Path, typer.Option("--config", help="Contagion file (YAML/JSON): examples/contagion.yaml")
    ],
    impact_scale: Annotated[
        float, typer.Option("--impact-scale", help="Multiplies every price impact's effect (0: no feedback)")
    ] = 1.0,
    bridge_latency: Annotated[
        float | None, typer.Option("--bridge-latency", help="Every bridge's delay, minutes")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Write prices with/without feedback and bad debt (.png)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace existing --chart/--report files")] = False,
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Write an HTML report: prices with/without feedback, cascade, bad debt"
        ),
    ] = None,
    latency_sweep: Annotated[
        str | None,
        typer.Option("--latency-sweep", help="Bad debt against bridge latency: minutes, comma-separated"),
    ] = None,
    haircut_target: Annotated[
        float | None,
        typer.Option(
            "--haircut-target", help="Solve the haircut keeping the bridged holders' bad debt <= USD"
        ),
    ] = None,
    haircut_bridge: Annotated[
        str | None, typer.Option("--haircut-bridge", help="The bridge to solve for (default: the only one)")
    ] = None,
) -> None:
    """Several venues on shared markets through a crash: liquidation feedback, market makers across venues,
    bridged collateral; bad debt, insurance funds, ADL, cascade rounds, amplification and DebtRank."""
    from xmargin.sim.contagion import Overrides, load_contagion
    from xmargin.sim.contagion import contagion as run

    if not (math.isfinite(impact_scale) and 0.0 <= impact_scale <= 100.0):
        raise InputError(where="--impact-scale", expected="a number in [0, 100]", found=impact_scale)
    if bridge_latency is not None and not (math.isfinite(bridge_latency) and bridge_latency >= 0.0):
        raise InputError(where="--bridge-latency", expected="minutes >= 0", found=bridge_latency)
    if latency_sweep is not None and bridge_latency is not None:
        raise InputError(
            where="--latency-sweep", expected="no --bridge-latency beside it", found=latency_sweep
        )
    sweep_at = _latencies(latency_sweep) if latency_sweep is not None else None
    if haircut_target is not None and not (math.isfinite(haircut_target) and haircut_target >= 0.0):
        raise InputError(where="--haircut-target", expected="USD >= 0", found=haircut_target)
    if haircut_bridge is not None and haircut_target is None:
        raise InputError(
            where="--haircut-bridge", expected="--haircut-target beside it", found=haircut_bridge
        )
    if chart is not None:
        check_output(chart, force=force, where="--chart", suffixes=(".png",))
    if report_file is not None:
        check_output(report_file, force=force, where="--report", suffixes=(".html", ".htm"))
    cfg = load_contagion(config)
    over = Overrides(impact_scale, bridge_latency)
    sweep: LatencySweep | None = None
    solved: HaircutSolution | None = None
    if sweep_at is not None:
        from xmargin.sim.contagion import latency_sweep as run_sweep

        with err_console.status(f"sweeping {len(sweep_at)} latencies ..."):
            sweep = run_sweep(cfg, sweep_at, over, haircut_target_usd=haircut_target, bridge=haircut_bridge)
    elif haircut_target is not None:
        from xmargin.sim.contagion import solve_haircut
        from xmargin.sim.contagion._solve import pick_bridge

        if not cfg.bridges:
            raise InputError(where="--haircut-target", expected="a file with a bridge", found="none")
        with err_console.status("solving the haircut ..."):
            solved = solve_haircut(cfg, pick_bridge(cfg, haircut_bridge), haircut_target, over)
    report = run(cfg, over) if (sweep is None or chart or report_file) else None
    if report is not None and report_file is not None:
        from xmargin.sim._systemic_report import write_contagion_report

        write_contagion_report(report_file, report, sweep, solved)
        err_console.print(f"wrote {report_file}")
    if sweep is not None:
        if json_out:
            print_json(sweep.as_dict(), schema="contagion-sweep")
        else:
            _print_sweep(sweep)
        return
    if solved is not None and json_out:
        print_json(solved.as_dict(), schema="contagion-haircut")
        return
    assert report is not None
    if chart is not None:
        from xmargin.sim._risk_charts import plot_contagion

        with atomic_write(chart) as tmp:
            plot_contagion(report, tmp)
        err_console.print(f"wrote {chart}")
    if json_out:
        print_json(report.as_dict(), schema="contagion")
        return
    t = Table(title=f"Contagion through {report.scenario} (impact x{impact_scale:g})")
    t.add_column("")
    names = list(report.venues)
    for n in names:
        t.add_column(f"{n} ({report.venues[n].kind})", justify="right")
    rows = [
        ("liquidations", "liquidations", 0),
        ("volume liquidated, USD", "volume_liquidated_usd", 0),
        ("bad debt, USD", "bad_debt_usd", 0),
        ("  insurance fund used", "insurance_fund_used_usd", 0),
        ("  ADL", "adl_usd", 0),
        ("  socialized loss", "socialized_loss_usd", 0),
        ("insurance fund start, USD", "insurance_fund_start_usd", 0),
        ("insurance fund end, USD", "insurance_fund_end_usd", 0),
        ("accounts bankrupt", "accounts_bankrupt", 0),
        ("market-maker legs liquidated", "market_maker_legs_liquidated", 0),
        ("top-ups sent / arrived / lost / in flight", "", 0),
    ]
    for label, key, digits in rows:
        if not key:
            t.add_row(
                label,
                *(
                    f"{v.top_ups_sent} / {v.top_ups_arrived} / {v.top_ups_lost} / {v.top_ups_in_flight}"
                    for v in report.venues.values()
                ),
            )
            continue
        t.add_row(label, *(fmt(float(getattr(report.venues[n], key)), digits) for n in names))
    t.add_row(
        "fund exhausted at hour",
        *(
            "-" if v.insurance_fund_exhausted_at_hour is None else f"{v.insurance_fund_exhausted_at_hour:.1f}"
            for v in report.venues.values()
        ),
    )
    console.print(t)
    s = report.system
    console.print(
        f"system: bad debt {fmt(s.bad_debt_usd, 0)} USD; largest drop {s.max_drop_with_feedback:.1%} with "
        f"feedback, {s.max_drop_without_feedback:.1%} without (amplification {s.amplification:.3f}); "
        f"cascade rounds {s.cascade_rounds}; DebtRank {s.debtrank:.4f}; unhedged market-maker legs "
        f"{fmt(s.unhedged_market_maker_usd, 0)} USD"
    )
    for name, b in report.bridges.items():
        console.print(
            f"bridge {name}: {b.latency_minutes:g} min, haircut {b.haircut:.1%}; {b.accounts} holders, "
            f"{b.accounts_bankrupt} bankrupt, bad debt {fmt(b.bad_debt_usd, 0)} USD"
        )
    if solved is not None:
        _print_haircut(solved)
