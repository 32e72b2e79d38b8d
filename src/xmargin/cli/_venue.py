"""``xmargin venue``: venue methods run on the venue's own case files (FORMATS.md "Venue presets")."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from xmargin.core import load_document
from xmargin.margin.venues._derive_case import evaluate_case

from ._common import console, fmt, handle_errors, print_json

venue_app = typer.Typer(
    help="Venue methods on the venue's own case files (docs/venues.md).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@venue_app.command("derive-pmrm")
@handle_errors
def derive_pmrm(
    case: Annotated[
        str, typer.Argument(help="Derive PMRM_2 portfolio-case JSON (Scenario + Parameters); - for stdin")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Machine output (FORMATS.md)")] = False,
) -> None:
    """Derive v2's PMRM_2 margin of one portfolio case: IM, MM (Derive's sign), MtM and every scenario's P&L."""
    result = evaluate_case(load_document(case), source=case)
    if json_out:
        print_json(result, schema="venue-derive-pmrm")
        return
    t = Table(title="Derive PMRM_2 (USD; margins negative = short of margin)")
    t.add_column("")
    t.add_column("value", justify="right")
    for label, value in (
        ("initial margin", result.initial_margin),
        ("maintenance margin", result.maintenance_margin),
        ("mark-to-market (with cash)", result.mark_to_market),
        ("option MtM", result.option_mtm),
        ("collateral MtM", result.collateral_mtm),
    ):
        t.add_row(label, fmt(value))
    n = len(result.scenario_pnl)
    worst = "basis contingency" if result.worst_scenario == n else f"scenario {result.worst_scenario}"
    t.add_row("worst", worst)
    console.print(t)
    console.print("scenario P&L: " + ", ".join(fmt(x) for x in result.scenario_pnl))
