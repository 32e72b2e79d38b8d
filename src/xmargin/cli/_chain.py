"""``xmargin chain margin`` and ``xmargin chain bench`` (FORMATS.md "On-chain vault")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xmargin.core import InputError

from ._common import console, flags, fmt, handle_errors, print_json, warn
from ._margin import MODEL_FLAGS, JsonOpt, MarketOpt, PresetOpt, load_inputs, model_of

CONTEXT = {"help_option_names": ["-h", "--help"]}

chain_app = typer.Typer(
    help="The cross-margin vault contract (Vyper) on an in-process EVM: its margin and its gas.",
    no_args_is_help=True,
    context_settings=CONTEXT,
    rich_markup_mode=None,
)


def _require_chain() -> None:
    try:
        import boa  # noqa: F401
        import vyper  # noqa: F401
    except ImportError:
        raise InputError(
            where="xmargin chain",
            expected="the chain extra installed (pip install 'xmargin[chain]': vyper, titanoboa)",
            found="vyper or titanoboa missing",
        ) from None


@chain_app.command("margin")
@handle_errors
def margin(
    portfolio: Annotated[Path, typer.Argument(help="Portfolio file (YAML/JSON; - for standard input)")],
    market: MarketOpt,
    model: Annotated[str, typer.Option("--model", help="The vault's mode: cross")] = "cross",
    preset: PresetOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One account's margin as the vault contract computes it, with the health check's gas."""
    _require_chain()
    from xmargin.chain import chain_margin

    pf, mkt = load_inputs(portfolio, market)
    with flags(MODEL_FLAGS):
        doc = chain_margin(model_of(model, preset), pf, mkt)
    if json_out:
        print_json(doc, schema="chain-margin")
        return
    t = Table(title=f"Account {doc.account}: vault ({doc.model}, {doc.preset}) vs engine, USD")
    for col in ("", "vault", "engine"):
        t.add_column(col, justify="left" if not col else "right")
    e = doc.engine
    for label, ours, theirs in (
        ("equity", doc.equity, e.equity),
        ("margin balance", doc.margin_balance, e.margin_balance),
        ("initial margin", doc.initial_margin, e.initial_margin),
        ("maintenance margin", doc.maintenance_margin, e.maintenance_margin),
    ):
        t.add_row(label, fmt(ours), fmt(theirs))
    t.add_row("status", doc.status, "")
    console.print(t)
    console.print(
        f"health check: {doc.gas_used:,} gas for {doc.positions} positions; prices fresh: {doc.prices_fresh}; "
        f"largest relative difference from the engine: {e.max_relative_difference:.2e}"
    )
    warn(doc.warnings)
