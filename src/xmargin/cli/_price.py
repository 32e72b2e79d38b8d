"""``xmargin price``: value and Greeks of named instruments (FORMATS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xmargin.core import parse_each
from xmargin.instruments import parse_name
from xmargin.market import load_market
from xmargin.pricing import value_instruments

from ._common import console, fmt_sig, handle_errors, print_json, warn


@handle_errors
def price(
    instruments: Annotated[list[str], typer.Argument(help="Instrument names, e.g. BTC-27DEC26-100000-C")],
    market: Annotated[
        Path, typer.Option("--market", help="Market file (- for standard input) or Deribit chain CSV#ID")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Machine output (FORMATS.md)")] = False,
) -> None:
    """Price instruments with their Greeks (per coin of size; Greeks of the USD price)."""
    parsed = parse_each(parse_name, instruments)
    mkt = load_market(market)
    report = value_instruments(parsed, mkt)
    if json_out:
        print_json(report, schema="price")
        return
    vals = report.instruments
    table = Table(
        title=f"Per coin of size, at {mkt.valuation_time:%Y-%m-%d %H:%M} UTC; Greeks of the USD price"
    )
    table.add_column("")
    for name in vals:
        table.add_column(name, justify="right", overflow="fold")
    rows: list[tuple[str, list[str]]] = [
        ("price", [f"{fmt_sig(v.price)} {v.price_currency}" for v in vals.values()]),
        ("price USD", [f"{v.price_usd:,.2f}" for v in vals.values()]),
        ("implied vol", ["-" if v.iv is None else f"{v.iv:.2%}" for v in vals.values()]),
        ("forward USD", [f"{v.forward:,.2f}" for v in vals.values()]),
        ("delta", [fmt_sig(v.delta, 4) for v in vals.values()]),
        ("gamma", [fmt_sig(v.gamma, 4) for v in vals.values()]),
        ("vega (per vol pt)", [fmt_sig(v.vega, 4) for v in vals.values()]),
        ("theta (per day)", [fmt_sig(v.theta, 4) for v in vals.values()]),
    ]
    for label, cells in rows:
        table.add_row(label, *cells)
    console.print(table)
    warn(report.warnings)
