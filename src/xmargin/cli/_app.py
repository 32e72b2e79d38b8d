"""The ``xmargin`` command line (typer + rich); FORMATS.md fixes its contract."""

from __future__ import annotations

import typer

from ._demo import demo
from ._margin import compare, margin
from ._price import price

app = typer.Typer(
    name="xmargin",
    help="Cross-margin and portfolio-margin risk engine for crypto derivatives.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(margin)
app.command()(compare)
app.command()(price)
app.command()(demo)

from ._replay import replay  # noqa: E402

app.command()(replay)

from ._import import import_cmd  # noqa: E402

app.command("import")(import_cmd)

from ._book import book_app  # noqa: E402

app.add_typer(book_app, name="book")

from ._ledger import ledger_app  # noqa: E402

app.add_typer(ledger_app, name="ledger")

bench_app = typer.Typer(
    help="Benchmarks that print ratios against a reference measured in the same run.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")


def _register_bench() -> None:
    from ._bench import book, pricing, whatif

    bench_app.command("pricing")(pricing)
    bench_app.command("whatif")(whatif)
    bench_app.command("book")(book)


_register_bench()
