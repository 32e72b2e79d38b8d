"""``xmargin chain margin`` and ``xmargin chain bench`` (FORMATS.md "On-chain vault")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xmargin.core import InputError

from ._common import console, flags, fmt, handle_errors, print_json, warn
from ._margin import MODEL_FLAGS, JsonOpt, MarketOpt, PresetOpt, load_inputs, model_of

MAX_POSITIONS = 64
"""The vault's cap on positions per account (MarginVault.vy)."""
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
    model: Annotated[
        str,
        typer.Option(
            "--model", help="The vault's mode: cross (fixed-ratio presets) or pm-chain (the PM grid)"
        ),
    ] = "cross",
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


def _counts(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split(","):
        p = part.strip()
        if not p.isdigit() or not 1 <= int(p) <= MAX_POSITIONS:
            raise InputError(
                where="--positions",
                expected=f"comma-separated counts in [1, {MAX_POSITIONS}] like 1,2,4",
                found=text,
            )
        out.append(int(p))
    return tuple(out)


@chain_app.command("bench")
@handle_errors
def bench(
    positions: Annotated[
        str, typer.Option("--positions", help="Position counts to measure the health check at (1..64)")
    ] = "1,2,4,8,16,32,64",
    eth_usd: Annotated[float, typer.Option("--eth-usd", help="ETH price (USD) for the costs")] = 3_500.0,
    json_out: JsonOpt = False,
) -> None:
    """Gas of the vault: health check against positions, deposit, trade, withdraw, oracle update; costs."""
    counts = _counts(positions)
    _require_chain()
    from xmargin.chain import bench_chain

    doc = bench_chain(counts, eth_usd=eth_usd)
    if json_out:
        print_json(doc, schema="chain-bench")
        return
    t = Table(title=f"Health check gas (execution, cold storage) on {doc.evm}")
    t.add_column("positions", justify="right")
    t.add_column("gas", justify="right")
    for p in doc.points:
        t.add_row(str(p.positions), f"{p.gas_used:,}")
    console.print(t)
    console.print(f"fit: {doc.base_gas:,.0f} + {doc.per_position_gas:,.0f} gas per position")
    o = Table(title="Operations (transaction gas: intrinsic + calldata + execution - refund)")
    for col in ("operation", "gas", "execution", "note"):
        o.add_column(col, justify="right" if col in ("gas", "execution") else "left")
    for op in doc.operations:
        o.add_row(op.operation, f"{op.gas_used:,}", f"{op.execution_gas:,}", op.note)
    console.print(o)
    c = Table(title=f"Cost in USD (ETH at {doc.eth_usd:,.0f} USD)")
    c.add_column("operation")
    for g in doc.gas_prices:
        c.add_column(f"{g.network} @ {g.gwei:g} gwei", justify="right")
    names = list(dict.fromkeys(x.operation for x in doc.costs))
    for name in names:
        c.add_row(name, *(f"{x.cost_usd:,.4f}" for x in doc.costs if x.operation == name))
    console.print(c)
    b = Table(title="One block's gas limit")
    for col in ("gas limit", "positions in one check", "64-position checks", "source"):
        b.add_column(col, justify="left" if col == "source" else "right")
    for blk in doc.blocks:
        b.add_row(
            f"{blk.gas_limit:,}",
            f"{blk.max_positions_one_check:,}",
            f"{blk.checks_of_64_positions:,}",
            blk.source,
        )
    console.print(b)
    console.print(
        f"one transaction (EIP-7825 cap of 16,777,216 gas): a check of up to "
        f"{doc.max_positions_one_transaction:,} positions"
    )
