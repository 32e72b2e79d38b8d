"""``xmargin book generate|margin|export`` (FORMATS.md): whole books of accounts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xmargin.core import InputError
from xmargin.engine import account_portfolio, connect, generate_book, margin_book, margin_book_dask, read_book
from xmargin.engine import write_book as write_book_file
from xmargin.margin import get_model
from xmargin.market import load_market

from ._common import console, err_console, fmt, handle_errors, print_json

if TYPE_CHECKING:
    import pandas as pd

book_app = typer.Typer(help="Whole books of accounts: generate, margin, export.", no_args_is_help=True)

RESULT_COLUMNS = ("account", "initial_margin", "maintenance_margin", "margin_balance", "equity")


def _out_path(out: Path) -> Path:
    if not out.parent.exists():
        raise InputError(where="--out", expected="a path in an existing directory", found=str(out))
    return out


@book_app.command("generate")
@handle_errors
def generate(
    accounts: Annotated[int, typer.Option("--accounts", help="Number of accounts")],
    market: Annotated[Path, typer.Option("--market", help="Market file, or a Deribit chain CSV#SNAPSHOT")],
    out: Annotated[Path, typer.Option("--out", help="Book file to write (Parquet)")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same book)")] = 0,
) -> None:
    """A seeded synthetic book on the market's instruments (perp traders, option sellers, market makers,
    basis traders, multi-asset collateral; heavy-tailed sizes)."""
    if accounts < 1:
        raise InputError(where="--accounts", expected="an integer >= 1", found=accounts)
    path = _out_path(out)
    mkt = load_market(market)
    t0 = time.perf_counter()
    book = generate_book(mkt, accounts, seed)
    write_book_file(book, path)
    err_console.print(
        f"wrote {path}: {book.n_accounts:,} accounts, {book.q.nnz:,} rows, "
        f"{len(book.instruments):,} instruments in {time.perf_counter() - t0:.1f}s"
    )


@book_app.command("margin")
@handle_errors
def margin(
    book_path: Annotated[Path, typer.Argument(metavar="BOOK", help="Book file (Parquet)")],
    market: Annotated[Path, typer.Option("--market", help="Market file, or a Deribit chain CSV#SNAPSHOT")],
    out: Annotated[Path, typer.Option("--out", help="Result file to write (Parquet, one row per account)")],
    model: Annotated[str, typer.Option("--model", help="isolated, cross, standard or pm")] = "pm",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="Dask scheduler address, or 'local' for a LocalCluster; default: this process"
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Margin every account of a book; write RESULT.parquet and print a summary."""
    import pandas as pd

    path = _out_path(out)
    book = read_book(book_path)
    mkt = load_market(market)
    m = get_model(model)
    t0 = time.perf_counter()
    with Progress(
        TextColumn("margining"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=json_out,
    ) as bar:
        task = bar.add_task("accounts", total=book.n_accounts)

        def advance(n: int) -> None:
            bar.advance(task, n)

        if scheduler is None:
            result = margin_book(m, book, mkt, progress=advance)
        else:
            try:
                client = connect(scheduler)
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(
                    where="--scheduler",
                    expected="a reachable Dask scheduler address or 'local'",
                    found=f"{scheduler} ({type(exc).__name__})",
                ) from None
            try:
                result = margin_book_dask(m, book, mkt, client, progress=advance)
            finally:
                client.close()
    seconds = time.perf_counter() - t0
    frame = pd.DataFrame(
        {
            "account": list(book.accounts),
            "initial_margin": result.initial_margin,
            "maintenance_margin": result.maintenance_margin,
            "margin_balance": result.margin_balance,
            "equity": result.equity,
            "available": result.available,
        }
    )
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    summary = _summary(frame, model, seconds)
    if json_out:
        print_json(summary)
        return
    _print_summary(summary)


def _summary(frame: pd.DataFrame, model: str, seconds: float) -> dict[str, Any]:
    below = frame["margin_balance"] < frame["maintenance_margin"]
    top = frame.nlargest(5, "initial_margin")
    return {
        "model": model,
        "accounts": len(frame),
        "seconds": seconds,
        "total_initial_margin": float(frame["initial_margin"].sum()),
        "total_maintenance_margin": float(frame["maintenance_margin"].sum()),
        "total_equity": float(frame["equity"].sum()),
        "accounts_below_maintenance": int(below.sum()),
        "shortfall_usd": float((frame["maintenance_margin"] - frame["margin_balance"])[below].sum()),
        "largest": [
            {"account": str(a), "initial_margin": float(im), "margin_balance": float(mb)}
            for a, im, mb in zip(
                top["account"],
                top["initial_margin"].to_numpy(),
                top["margin_balance"].to_numpy(),
                strict=True,
            )
        ],
    }


def _print_summary(s: dict[str, Any]) -> None:
    t = Table(title=f"Book margin ({s['model']}): {s['accounts']:,} accounts in {s['seconds']:.2f}s, USD")
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("total initial margin", fmt(s["total_initial_margin"], 0))
    t.add_row("total maintenance margin", fmt(s["total_maintenance_margin"], 0))
    t.add_row("total equity", fmt(s["total_equity"], 0))
    t.add_row("accounts below maintenance", f"{s['accounts_below_maintenance']:,}")
    t.add_row("their shortfall", fmt(s["shortfall_usd"], 0))
    console.print(t)
    top = Table(title="Largest requirements")
    for col in ("account", "initial margin", "margin balance"):
        top.add_column(col, justify="left" if col == "account" else "right")
    for r in s["largest"]:
        top.add_row(r["account"], fmt(r["initial_margin"], 0), fmt(r["margin_balance"], 0))
    console.print(top)


@book_app.command("export")
@handle_errors
def export(
    book_path: Annotated[Path, typer.Argument(metavar="BOOK", help="Book file (Parquet)")],
    account: Annotated[str, typer.Option("--account", help="Account id")],
) -> None:
    """Print one account of a book as a portfolio file (JSON, FORMATS.md)."""
    pf = account_portfolio(read_book(book_path), account)
    positions: dict[str, Any] = {}
    for p in pf.positions:
        positions[p.instrument.name] = (
            p.size_coin if p.avg_price_usd is None else {"size": p.size_coin, "avg_price": p.avg_price_usd}
        )
    print_json({"account": pf.account, "collateral": dict(pf.collateral), "positions": positions})


__all__ = ["RESULT_COLUMNS", "book_app"]
