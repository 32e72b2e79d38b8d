"""``xmargin contagion --config FILE [--impact-scale X] [--bridge-latency MINUTES] [--json]`` (FORMATS.md)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xmargin.core import InputError, atomic_write, check_output

from ._common import console, err_console, fmt, handle_errors, print_json


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
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --chart file")] = False,
) -> None:
    """Several venues on shared markets through a crash: liquidation feedback, market makers across venues,
    bridged collateral; bad debt, insurance funds, ADL, cascade rounds, amplification and DebtRank."""
    from xmargin.sim.contagion import Overrides, load_contagion
    from xmargin.sim.contagion import contagion as run

    if not (math.isfinite(impact_scale) and 0.0 <= impact_scale <= 100.0):
        raise InputError(where="--impact-scale", expected="a number in [0, 100]", found=impact_scale)
    if bridge_latency is not None and not (math.isfinite(bridge_latency) and bridge_latency >= 0.0):
        raise InputError(where="--bridge-latency", expected="minutes >= 0", found=bridge_latency)
    if chart is not None:
        check_output(chart, force=force, where="--chart", suffixes=(".png",))
    cfg = load_contagion(config)
    report = run(cfg, Overrides(impact_scale, bridge_latency))
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
                    f"{v.top_ups_sent} / {v.top_ups_arrived} / {v.top_ups_lost}"
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
