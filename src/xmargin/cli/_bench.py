"""``xmargin bench``: throughput against references measured in the same run."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ._common import console, handle_errors, print_json


def _show(result: dict[str, object], title: str, json_out: bool) -> None:
    """The benchmark's dict as JSON, or as a two-column table."""
    if json_out:
        print_json(result, schema="bench")
        return
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in result.items():
        table.add_row(k, f"{v:,.4g}" if isinstance(v, float) else str(v))
    console.print(table)


@handle_errors
def pricing(
    options: Annotated[
        int, typer.Option("--options", min=1000, help="Options priced per timed run")
    ] = 1_000_000,
    json_out: Annotated[bool, typer.Option("--json", help="Machine output")] = False,
) -> None:
    """Options priced with all Greeks per second, vs QuantLib and py_vollib on the same inputs."""
    from xmargin.bench import bench_pricing

    result = bench_pricing(options)
    _show(result, "Black-76 with delta, gamma, vega, theta", json_out)


@handle_errors
def whatif(
    calls: Annotated[int, typer.Option("--calls", min=100, help="Timed calls")] = 2000,
    json_out: Annotated[bool, typer.Option("--json", help="Machine output")] = False,
) -> None:
    """Latency of a 20-position pm what-if (warm cache vs cold repricing), p50/p99 in ms."""
    from xmargin.bench import bench_whatif

    result = bench_whatif(calls=calls)
    _show(result, "pm what-if latency, one 20-position account (real Deribit snapshot)", json_out)


@handle_errors
def book(
    accounts: Annotated[int, typer.Option("--accounts", min=100, help="Accounts in the book")] = 100_000,
    positions: Annotated[int, typer.Option("--positions", min=1, help="Positions per account")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Machine output")] = False,
) -> None:
    """Whole-book pm recompute vs the bare Q @ PnL product, one-underlying tick, memory per account."""
    from xmargin.bench import bench_book

    result = bench_book(accounts, positions=positions)
    _show(result, "Whole-book pm margin (ratio = full recompute / bare Q @ PnL, same run)", json_out)


@handle_errors
def fhs(
    accounts: Annotated[
        int, typer.Option("--accounts", min=0, help="Accounts in the book timed against pm (0: skip)")
    ] = 100_000,
    calls: Annotated[int, typer.Option("--calls", min=100, help="Timed what-if calls")] = 1000,
    json_out: Annotated[bool, typer.Option("--json", help="Machine output")] = False,
) -> None:
    """fhs vs pm on a whole book, fhs what-if p50/p99 (ms), and a 13-year daily backtest (s)."""
    from xmargin.bench import bench_fhs

    result = bench_fhs(accounts, calls=calls)
    _show(result, "fhs: whole book vs pm (same run), what-if latency, 13-year backtest", json_out)
