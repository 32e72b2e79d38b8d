"""The ``xmargin`` command line (typer + rich); FORMATS.md fixes its contract."""

from __future__ import annotations

from typing import Annotated

import typer

from xmargin import __version__

from ._demo import demo
from ._margin import compare, margin
from ._models import models, schema
from ._price import price

CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="xmargin",
    help="Cross-margin and portfolio-margin risk engine for crypto derivatives.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings=CONTEXT,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xmargin {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """Cross-margin and portfolio-margin risk engine for crypto derivatives."""


app.command()(margin)
app.command()(compare)
app.command()(price)
app.command()(models)
app.command()(schema)
app.command()(demo)

from ._replay import replay  # noqa: E402

app.command()(replay)

from ._contagion import contagion  # noqa: E402

app.command()(contagion)

from ._backtest import backtest_cmd  # noqa: E402

app.command("backtest")(backtest_cmd)

from ._import import import_cmd  # noqa: E402

app.command("import")(import_cmd)

from ._book import book_app  # noqa: E402

app.add_typer(book_app, name="book")

from ._venue import venue_app  # noqa: E402

app.add_typer(venue_app, name="venue")

from ._ledger import ledger_app  # noqa: E402
from ._ledger_audit import verify as _verify  # noqa: E402, F401  (registers verify, liabilities, proof, verify-proof)
from ._ledger_snapshot import snapshot as _snapshot  # noqa: E402, F401  (registers ledger snapshot)

app.add_typer(ledger_app, name="ledger")

from ._serve import keys_app, serve  # noqa: E402

app.command("serve")(serve)
app.add_typer(keys_app, name="keys")

from ._route import route  # noqa: E402

app.command("route")(route)

from ._chain import chain_app  # noqa: E402

app.add_typer(chain_app, name="chain")

bench_app = typer.Typer(
    help="Benchmarks that print ratios against a reference measured in the same run.",
    no_args_is_help=True,
    context_settings=CONTEXT,
    rich_markup_mode=None,
)
app.add_typer(bench_app, name="bench")


def _register_bench() -> None:
    from ._bench import book, fhs, pricing, whatif

    bench_app.command("pricing")(pricing)
    bench_app.command("whatif")(whatif)
    bench_app.command("book")(book)
    bench_app.command("fhs")(fhs)


_register_bench()
