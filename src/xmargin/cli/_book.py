"""``xmargin book generate|margin|export`` (FORMATS.md): whole books of accounts."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xmargin.core import InputError, atomic_write, check_output
from xmargin.engine import (
    account_portfolio,
    book_liquidation_prices,
    connect,
    generate_book,
    margin_book,
    margin_book_dask,
    read_book,
)
from xmargin.engine import write_book as write_book_file
from xmargin.instruments import portfolio_document
from xmargin.margin import SpanMargin
from xmargin.market import load_market

from ._common import console, err_console, flags, fmt, handle_errors, print_json, warn
from ._margin import MODEL_FLAGS, SpanFileOpt, model_of
from ._schemas import BookMarginSummary

if TYPE_CHECKING:
    import pandas as pd

book_app = typer.Typer(
    help="Whole books of accounts: generate, margin, export.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)

RESULT_COLUMNS = (
    "account",
    "initial_margin",
    "maintenance_margin",
    "margin_balance",
    "equity",
    "available",
    "status",
)
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing output file")]


@book_app.command("generate")
@handle_errors
def generate(
    accounts: Annotated[int, typer.Option("--accounts", help="Number of accounts (>= 1)")],
    market: Annotated[Path, typer.Option("--market", help="Market file, or a Deribit chain CSV#SNAPSHOT")],
    out: Annotated[Path, typer.Option("--out", help="Book file to write (Parquet)")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed >= 0 (same seed, same book)")] = 0,
    force: ForceOpt = False,
) -> None:
    """A seeded synthetic book on the market's instruments (perp traders, option sellers, market makers,
    basis traders, multi-asset collateral; heavy-tailed sizes)."""
    if accounts < 1:
        raise InputError(where="--accounts", expected="an integer >= 1", found=accounts)
    if seed < 0:
        raise InputError(where="--seed", expected="an integer >= 0", found=seed)
    path = check_output(out, force=force, where="--out")
    mkt = load_market(market)
    t0 = time.perf_counter()
    with flags({"accounts": "--accounts", "seed": "--seed", "market": "--market"}):
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
    out: Annotated[Path, typer.Option("--out", help="Result file to write (Parquet, one row per account)")],
    market: Annotated[
        Path | None,
        typer.Option(
            "--market", help="Market file, or a Deribit chain CSV#SNAPSHOT; optional with --span-file"
        ),
    ] = None,
    model: Annotated[str, typer.Option("--model", help="A model, a preset name or a preset file")] = "pm",
    preset: Annotated[str | None, typer.Option("--preset", help="A preset for the model")] = None,
    span_file: SpanFileOpt = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="Dask scheduler address, or 'local' for a LocalCluster; default: this process"
        ),
    ] = None,
    liquidation: Annotated[
        bool,
        typer.Option(
            "--liquidation-prices/--no-liquidation-prices",
            help="Each account's liquidation prices below and above, per underlying (columns liquidation_below_U, liquidation_above_U)",
        ),
    ] = True,
    force: ForceOpt = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Margin every account of a book; write RESULT.parquet (status, liquidation prices) and a summary."""
    path = check_output(out, force=force, where="--out")
    m = model_of(model, preset, span_file)
    book = read_book(book_path)
    if market is not None:
        mkt = load_market(market)
    elif isinstance(m, SpanMargin):
        mkt = m.market()
    else:
        raise InputError(
            where="--market", expected="a market file (optional only with --span-file)", found="none"
        )
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

        with flags(MODEL_FLAGS):
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
    frame = result.to_frame()
    if liquidation:
        with err_console.status("liquidation prices ...") if not json_out else contextlib.nullcontext():
            for u, (below, above) in book_liquidation_prices(m, book, mkt).items():
                frame[f"liquidation_below_{u}"] = below
                frame[f"liquidation_above_{u}"] = above
    seconds = time.perf_counter() - t0
    with atomic_write(path) as tmp:
        frame.to_parquet(tmp, index=False)
    summary = _summary(frame, m.name, m.preset_name, seconds, result.warnings)
    if json_out:
        print_json(summary, schema="book-margin")
        return
    _print_summary(summary)
    warn(summary.warnings)


def _summary(
    frame: pd.DataFrame, model: str, preset: str, seconds: float, warnings: tuple[str, ...]
) -> BookMarginSummary:
    below = frame["status"] == "liquidatable"
    top = frame.nlargest(5, "initial_margin")
    return BookMarginSummary(
        model=model,
        preset=preset,
        accounts=len(frame),
        seconds=seconds,
        total_initial_margin=float(frame["initial_margin"].sum()),
        total_maintenance_margin=float(frame["maintenance_margin"].sum()),
        total_equity=float(frame["equity"].sum()),
        accounts_below_maintenance=int(below.sum()),
        accounts_margin_call=int((frame["status"] == "margin_call").sum()),
        shortfall_usd=float(
            (frame["maintenance_margin"] - frame["margin_balance"])[below].clip(lower=0).sum()
        ),
        largest=tuple(
            {"account": str(a), "initial_margin": float(im), "margin_balance": float(mb)}
            for a, im, mb in zip(
                top["account"],
                top["initial_margin"].to_numpy(),
                top["margin_balance"].to_numpy(),
                strict=True,
            )
        ),
        warnings=warnings,
    )


def _print_summary(s: BookMarginSummary) -> None:
    t = Table(title=f"Book margin ({s.model}, {s.preset}): {s.accounts:,} accounts in {s.seconds:.2f}s, USD")
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("total initial margin", fmt(s.total_initial_margin, 0))
    t.add_row("total maintenance margin", fmt(s.total_maintenance_margin, 0))
    t.add_row("total equity", fmt(s.total_equity, 0))
    t.add_row("accounts liquidatable", f"{s.accounts_below_maintenance:,}")
    t.add_row("accounts on margin call", f"{s.accounts_margin_call:,}")
    t.add_row("shortfall below maintenance", fmt(s.shortfall_usd, 0))
    console.print(t)
    top = Table(title="Largest requirements")
    for col in ("account", "initial margin", "margin balance"):
        top.add_column(col, justify="left" if col == "account" else "right")
    for r in s.largest:
        top.add_row(str(r["account"]), fmt(float(r["initial_margin"]), 0), fmt(float(r["margin_balance"]), 0))
    console.print(top)


@book_app.command("export")
@handle_errors
def export(
    book_path: Annotated[Path, typer.Argument(metavar="BOOK", help="Book file (Parquet)")],
    account: Annotated[str, typer.Option("--account", help="Account id")],
) -> None:
    """Print one account of a book as a portfolio file (JSON, FORMATS.md)."""
    with flags({"account": "--account"}):
        pf = account_portfolio(read_book(book_path), account)
    print_json(portfolio_document(pf), schema="portfolio")


__all__ = ["RESULT_COLUMNS", "book_app"]
