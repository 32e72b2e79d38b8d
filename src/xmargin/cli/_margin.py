"""``xmargin margin`` and ``xmargin compare`` (FORMATS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from xmargin.core import InputError, InputErrors, check
from xmargin.instruments import Instrument, Kind, Portfolio, load_portfolio, parse_name
from xmargin.margin import account_report, check_portfolio, get_model
from xmargin.market import MarketSnapshot, load_market

from ._common import console, fmt, handle_errors, print_json

COMPARE_MODELS = ("isolated", "cross", "standard", "pm")


def parse_adds(adds: list[str]) -> dict[Instrument, float]:
    """``INSTRUMENT=SIZE`` flags into signed sizes (all problems reported)."""
    trades: dict[Instrument, float] = {}
    errors: list[InputError] = []
    for text in adds:
        name, sep, size = text.partition("=")
        try:
            if not sep:
                raise InputError(where=f"--add {text!r}", expected="INSTRUMENT=SIZE", found=text)
            inst = parse_name(name.strip())
            if inst.kind is Kind.SPOT:
                raise InputError(where=f"--add {text!r}", expected="a derivative", found=name)
            try:
                value = float(size)
            except ValueError:
                raise InputError(
                    where=f"--add {text!r}", expected="a signed size in coin", found=size
                ) from None
            trades[inst] = trades.get(inst, 0.0) + check.finite(value, where=f"--add {text!r}")
        except InputError as exc:
            errors.append(exc)
    if errors:
        raise InputErrors(errors)
    return trades


def _model(name: str, preset: str | None) -> Any:
    if preset is not None and name != "pm":
        raise InputError(where="--preset", expected="only with --model pm", found=f"--model {name}")
    return get_model(name, preset=preset) if preset is not None else get_model(name)


def _load(portfolio: Path, market: Path) -> tuple[Portfolio, MarketSnapshot]:
    pf = load_portfolio(portfolio)
    mkt = load_market(market)
    try:
        check_portfolio(pf, mkt)
    except InputError as exc:
        errors = exc.errors if isinstance(exc, InputErrors) else (exc,)
        raise InputErrors(
            [InputError(where=f"{portfolio}: {e.where}", expected=e.expected, found=e.found) for e in errors]
        ) from None
    return pf, mkt


@handle_errors
def margin(
    portfolio: Annotated[Path, typer.Argument(help="Portfolio file (YAML/JSON)")],
    market: Annotated[Path, typer.Option("--market", help="Market file, or a Deribit chain CSV#SNAPSHOT")],
    model: Annotated[str, typer.Option("--model", help="isolated, cross, standard or pm")] = "pm",
    preset: Annotated[
        str | None,
        typer.Option("--preset", help="pm preset: pm-deribit, pm-span, pm-cross-collateral or a YAML file"),
    ] = None,
    currency: Annotated[str, typer.Option("--currency", help="USD or an asset with an index (BTC)")] = "USD",
    add: Annotated[
        list[str] | None, typer.Option("--add", help="What-if trade INSTRUMENT=SIZE (repeatable)")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine output (FORMATS.md)")] = False,
) -> None:
    """Margin of one account under one model; with --add, before and after a proposed trade."""
    pf, mkt = _load(portfolio, market)
    m = _model(model, preset)
    trades = parse_adds(add or [])
    doc = account_report(m, pf, mkt, currency=currency)
    if trades:
        after_pf = pf.with_trades(trades)
        check_portfolio(after_pf, mkt)
        after = account_report(m, after_pf, mkt, currency=currency)
        after["before"] = doc
        doc = after
    if json_out:
        print_json(doc)
        return
    _print_margin(doc, model)


def _print_margin(doc: dict[str, Any], model: str) -> None:
    ccy = doc["currency"]
    digits = 2 if ccy in ("USD", "USDC", "USDT") else 6
    before = doc.get("before")
    table = Table(title=f"Account {doc['account']}: model {model}, amounts in {ccy}")
    table.add_column("")
    if before:
        table.add_column("before", justify="right")
    table.add_column("after trade" if before else "value", justify="right")
    rows = [
        ("equity", "equity"),
        ("margin balance", "margin_balance"),
        ("initial margin", "initial_margin"),
        ("maintenance margin", "maintenance_margin"),
        ("available", "available"),
    ]
    for label, key in rows:
        cells = [fmt(before[key], digits)] if before else []
        table.add_row(label, *cells, fmt(doc[key], digits))
    for u, price in doc["breakdown"].get("liquidation_price", {}).items():
        old = before["breakdown"]["liquidation_price"].get(u) if before else None
        cells = [fmt(old) if old is not None else "none"] if before else []
        table.add_row(f"liquidation price {u} (USD)", *cells, fmt(price) if price is not None else "none")
    console.print(table)
    greeks = doc["breakdown"].get("greeks", {})
    if greeks:
        gt = Table(title="Portfolio Greeks per underlying (USD value; delta includes coin balances)")
        for col in ("underlying", "delta coin", "delta USD", "gamma", "vega /vol pt", "theta /day"):
            gt.add_column(col, justify="left" if col == "underlying" else "right")
        for u, g in greeks.items():
            gt.add_row(
                u,
                f"{g['delta_coin']:,.4f}",
                fmt(g["delta_usd"]),
                f"{g['gamma']:.4g}",
                fmt(g["vega"]),
                fmt(g["theta"]),
            )
        console.print(gt)
    for grp in doc["breakdown"].get("groups", []):
        ws = grp["worst_scenario"]
        console.print(
            f"[bold]{grp['underlying']}[/bold] (P&L in {grp['settlement']}): requirement "
            f"{fmt(grp['requirement_usd'])} USD = worst loss {fmt(grp['worst_loss_usd'])} "
            f"(move {ws['price_move']:+.1%}, vol {['down', 'flat', 'up'][ws['vol_shock'] + 1]}, "
            f"{ws['kind']}) + roll {fmt(grp['roll_shock_usd'])} + delta shock "
            f"{fmt(grp['delta_shock_usd'])} + short-option min {fmt(grp['short_option_minimum_usd'])}"
        )
        grid = grp["pnl_grid"]
        pt = Table(title=f"{grp['underlying']} scenario P&L (USD): price move × vol shock")
        pt.add_column("vol \\ move")
        for mv in grid["price_moves"]:
            pt.add_column(f"{mv:+.0%}", justify="right")
        for v, row in zip(grid["vol_shocks"], grid["pnl_usd"], strict=True):
            pt.add_row(["down", "flat", "up"][v + 1], *(_compact(x) for x in row))
        console.print(pt)


def _compact(x: float) -> str:
    """A P&L cell that fits a 9-column grid in 80 characters: -57k, -9.3k, 245."""
    if abs(x) >= 10_000:
        return f"{x / 1000:,.0f}k"
    if abs(x) >= 1_000:
        return f"{x / 1000:.1f}k"
    return f"{x:.0f}"


def compare_models(pf: Portfolio, mkt: MarketSnapshot, currency: str) -> dict[str, dict[str, float]]:
    """IM, MM, margin balance and available of one account under every model."""
    out: dict[str, dict[str, float]] = {}
    for name in COMPARE_MODELS:
        d = account_report(get_model(name), pf, mkt, currency=currency, with_liquidation=False)
        out[name] = {k: d[k] for k in ("initial_margin", "maintenance_margin", "margin_balance", "available")}
    return out


@handle_errors
def compare(
    portfolio: Annotated[Path, typer.Argument(help="Portfolio file (YAML/JSON)")],
    market: Annotated[Path, typer.Option("--market", help="Market file, or a Deribit chain CSV#SNAPSHOT")],
    currency: Annotated[str, typer.Option("--currency", help="USD or an asset with an index (BTC)")] = "USD",
    json_out: Annotated[bool, typer.Option("--json", help="Machine output (FORMATS.md)")] = False,
) -> None:
    """The same account margined by every model, side by side."""
    pf, mkt = _load(portfolio, market)
    models = compare_models(pf, mkt, currency)
    if json_out:
        print_json({"account": pf.account, "currency": currency, "models": models})
        return
    console.print(compare_table(pf.account, models, currency))


def compare_table(account: str, models: dict[str, dict[str, float]], currency: str) -> Table:
    digits = 2 if currency in ("USD", "USDC", "USDT") else 6
    table = Table(title=f"{account}: margin by model ({currency})")
    table.add_column("")
    for name in models:
        table.add_column(name, justify="right")
    for label, key in (
        ("initial margin", "initial_margin"),
        ("maintenance margin", "maintenance_margin"),
        ("available", "available"),
    ):
        table.add_row(label, *(fmt(models[n][key], digits) for n in models))
    iso = models.get("isolated", {}).get("initial_margin", 0.0)
    if iso > 0 and "pm" in models:
        saved = 1.0 - models["pm"]["initial_margin"] / iso
        table.add_row("pm saves vs isolated", *([""] * (len(models) - 1)), f"{saved:.1%}")
    return table
