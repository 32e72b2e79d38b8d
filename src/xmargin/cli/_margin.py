"""``xmargin margin`` and ``xmargin compare`` (FORMATS.md)."""

from __future__ import annotations

import re
from dataclasses import astuple
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xmargin.core import InputError, parse_each
from xmargin.instruments import MAX_PRICE_USD, MAX_SIZE_COIN, Kind, Portfolio, load_portfolio, parse_name
from xmargin.margin import (
    CompareReport,
    FhsBreakdown,
    MarginModel,
    MarginReport,
    PmBreakdown,
    SpanBreakdown,
    SpanMargin,
    VenueBreakdown,
    account_report,
    check_portfolio,
    compare_report,
    resolve_model,
    whatif_report,
)
from xmargin.market import MarketSnapshot, load_market
from xmargin.risk import Trade

from ._common import console, flags, fmt, handle_errors, money_digits, print_json, warn

COMPARE_MODELS = ("isolated", "cross", "standard", "pm")
NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
"""An ASCII decimal number (no other digits, no inf or nan)."""
MODEL_FLAGS = {"model": "--model", "preset": "--preset", "currency": "--currency"}

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="A model (isolated, cross, standard, pm), a preset name (xmargin models) or a preset file",
    ),
]
PresetOpt = Annotated[
    str | None,
    typer.Option("--preset", help="A preset for the model: a shipped name (xmargin models) or a YAML file"),
]
SpanFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--span-file",
        help="A SPAN risk-parameter file (XML .spn) for --model span; without --market, its prices are the market",
    ),
]
MarketOpt = Annotated[
    Path, typer.Option("--market", help="Market file (- for standard input), or a Deribit chain CSV#SNAPSHOT")
]
CurrencyOpt = Annotated[str, typer.Option("--currency", help="USD or an asset with an index (BTC)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine output (FORMATS.md)")]


def _number(text: str, *, where: str, lo: float, hi: float) -> float:
    if not NUMBER.fullmatch(text.strip()):
        raise InputError(where=where, expected="a number written with ASCII digits", found=text)
    x = float(text)
    if not lo <= x <= hi:
        raise InputError(where=where, expected=f"a number in [{lo:g}, {hi:g}]", found=text)
    return x


def parse_adds(adds: list[str]) -> list[Trade]:
    """``INSTRUMENT=SIZE[@PRICE]`` flags into trades (every problem reported)."""
    return parse_each(_parse_add, adds)


def _parse_add(text: str) -> Trade:
    where = f"--add {text!r}"
    try:
        name, sep, rest = text.partition("=")
        if not sep:
            raise InputError(where=where, expected="INSTRUMENT=SIZE or INSTRUMENT=SIZE@PRICE", found=text)
        inst = parse_name(name.strip())
        if inst.kind is Kind.SPOT:
            raise InputError(where=where, expected="a derivative", found=name)
        size_text, at, price_text = rest.partition("@")
        size = _number(size_text, where=where, lo=-MAX_SIZE_COIN, hi=MAX_SIZE_COIN)
        if size == 0:
            raise InputError(where=where, expected="a non-zero size in coin", found=size_text)
        price = _number(price_text, where=where, lo=0.0, hi=MAX_PRICE_USD) if at else None
        if price is not None and price <= 0 and inst.kind is not Kind.OPTION:
            raise InputError(where=where, expected="a price > 0", found=price_text)
        return Trade(inst, size, price)
    except InputError as exc:
        if exc.where.startswith("--add"):
            raise
        raise InputError(where=where, expected=exc.expected, found=exc.found) from None


def load_inputs(portfolio: Path, market: Path) -> tuple[Portfolio, MarketSnapshot]:
    """The portfolio and the market (at most one of them from standard input), checked against each other."""
    if str(portfolio) == "-" and str(market) == "-":
        raise InputError(where="--market", expected="a file when the portfolio is read from -", found="-")
    pf = load_portfolio(portfolio)
    mkt = load_market(market)
    check_portfolio(pf, mkt, where="standard input" if str(portfolio) == "-" else str(portfolio))
    return pf, mkt


def _inputs(
    portfolio: Path, market: Path | None, models: list[MarginModel]
) -> tuple[Portfolio, MarketSnapshot]:
    """The portfolio and the market file, or without one the market a ``--span-file`` implies."""
    if market is not None:
        return load_inputs(portfolio, market)
    span = next((m for m in models if isinstance(m, SpanMargin)), None)
    if span is None:
        raise InputError(
            where="--market", expected="a market file (optional only with --span-file)", found="none"
        )
    pf = load_portfolio(portfolio)
    mkt = span.market()
    check_portfolio(pf, mkt, where="standard input" if str(portfolio) == "-" else str(portfolio))
    return pf, mkt


def model_of(model: str, preset: str | None, span_file: Path | None = None) -> MarginModel:
    if span_file is not None:
        if model.strip().lower() != "span":
            raise InputError(
                where="--span-file", expected="--model span with a SPAN file", found=f"--model {model}"
            )
        if preset is not None:
            raise InputError(where="--preset", expected="no preset with --span-file", found=preset)
        return SpanMargin(span_file)
    with flags(MODEL_FLAGS):
        return resolve_model(model, preset)


@handle_errors
def margin(
    portfolio: Annotated[Path, typer.Argument(help="Portfolio file (YAML/JSON; - for standard input)")],
    market: Annotated[
        Path | None,
        typer.Option(
            "--market",
            help="Market file (- for standard input), or a Deribit chain CSV#SNAPSHOT; optional with --span-file",
        ),
    ] = None,
    model: ModelOpt = "pm",
    preset: PresetOpt = None,
    currency: CurrencyOpt = "USD",
    add: Annotated[
        list[str] | None,
        typer.Option(
            "--add", help="What-if trade INSTRUMENT=SIZE[@PRICE], at mark without a price (repeatable)"
        ),
    ] = None,
    span_file: SpanFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Margin of one account under one model; with --add, before and after a proposed trade."""
    m = model_of(model, preset, span_file)
    pf, mkt = _inputs(portfolio, market, [m])
    trades = parse_adds(add or [])
    with flags(MODEL_FLAGS):
        if trades:
            doc = whatif_report(m, pf, trades, mkt, currency=currency)
        else:
            doc = account_report(m, pf, mkt, currency=currency)
    if json_out:
        print_json(doc, schema="margin")
        return
    print_margin(doc)


def _vol(label: str) -> str:
    return {"up": "vol up", "flat": "vol flat", "down": "vol down"}.get(label, label)


def print_margin(doc: MarginReport) -> None:
    """The margin document as tables (a person's view of ``--json``)."""
    ccy = doc.currency
    digits = money_digits(ccy)
    before = doc.before
    table = Table(title=f"Account {doc.account}: model {doc.model} ({doc.preset}), amounts in {ccy}")
    table.add_column("")
    if before is not None:
        table.add_column("before", justify="right")
    table.add_column("after trade" if before is not None else "value", justify="right")
    for label, key in (
        ("equity", "equity"),
        ("margin balance", "margin_balance"),
        ("initial margin", "initial_margin"),
        ("maintenance margin", "maintenance_margin"),
        ("available", "available"),
    ):
        cells = [fmt(getattr(before, key), digits)] if before is not None else []
        table.add_row(label, *cells, fmt(getattr(doc, key), digits))
    table.add_row("status", *([before.status] if before is not None else []), doc.status)
    console.print(table)
    _print_collateral(doc)
    _print_liquidation(doc)
    _print_positions(doc)
    greeks = doc.breakdown.greeks
    if greeks:
        gt = Table(title="Portfolio Greeks per underlying (USD value; delta includes coin balances)")
        for col in ("underlying", "delta coin", "delta USD", "gamma", "vega /vol pt", "theta /day"):
            gt.add_column(col, justify="left" if col == "underlying" else "right")
        for u, g in greeks.items():
            gt.add_row(
                u, f"{g.delta_coin:,.4f}", fmt(g.delta_usd), f"{g.gamma:.4g}", fmt(g.vega), fmt(g.theta)
            )
        console.print(gt)
    if isinstance(doc.breakdown, PmBreakdown):
        _print_groups(doc.breakdown, ccy)
    if isinstance(doc.breakdown, FhsBreakdown):
        _print_fhs(doc.breakdown)
    if isinstance(doc.breakdown, VenueBreakdown):
        _print_venue(doc.breakdown)
    if isinstance(doc.breakdown, SpanBreakdown):
        _print_span(doc.breakdown)
    warn(doc.warnings)


def _print_span(bd: SpanBreakdown) -> None:
    """SPAN's components per combined commodity (USD; docs/margin.md#span)."""
    t = Table(title=f"SPAN from {bd.preset} (business date {bd.business_date}), USD")
    cols = ("", *bd.commodities, "total") if len(bd.commodities) > 1 else ("", *bd.commodities)
    for col in cols:
        t.add_column(col, justify="left" if not col else "right")
    rows = (
        ("scan risk", "scan_risk"),
        ("intra-commodity spread charge", "intra_charge"),
        ("inter-commodity spread credit", "inter_credit"),
        ("short option minimum", "short_option_minimum"),
        ("risk = max(scan + intra - inter, SOM)", "risk"),
        ("net option value", "net_option_value"),
    )
    for label, key in rows:
        cells = [fmt(getattr(c, key)) for c in bd.commodities.values()]
        total = [fmt(getattr(bd, key))] if len(bd.commodities) > 1 else []
        t.add_row(label, *cells, *total)
    active = [f"{c.active_scenario}" for c in bd.commodities.values()]
    t.add_row("active scenario (1-16)", *active, *([""] if len(bd.commodities) > 1 else []))
    console.print(t)
    console.print(
        f"SPAN total max(0, risk - NOV) = {fmt(bd.span_requirement)} USD; IM = MM = it + the options' value "
        f"{fmt(bd.option_value_usd)} that equity counts, so available is SPAN's excess"
    )


def _print_venue(bd: VenueBreakdown) -> None:
    """A venue preset's own figures: weighted collateral and requirement (Drift), or health (Mango), USD."""
    if bd.model == "derive":
        _print_derive(bd)
        return
    mango = bd.model == "mango"
    t = Table(title=f"{bd.preset}: the venue's own figures (USD; docs/venues.md)")
    for col in ("", "initial", "maintenance"):
        t.add_column(col, justify="left" if not col else "right")
    t.add_row(
        "weighted assets" if mango else "weighted collateral",
        fmt(bd.weighted_collateral.initial_margin),
        fmt(bd.weighted_collateral.maintenance_margin),
    )
    t.add_row(
        "weighted liabilities" if mango else "margin requirement",
        fmt(bd.requirement.initial_margin),
        fmt(bd.requirement.maintenance_margin),
    )
    if mango:
        t.add_row("health", fmt(bd.health.get("init", 0.0)), fmt(bd.health.get("maint", 0.0)))
    console.print(t)
    if mango and "liquidation_end" in bd.health:
        console.print(f"liquidation-end health: {fmt(bd.health['liquidation_end'])}")


def _print_derive(bd: VenueBreakdown) -> None:
    """Derive's own figures: its margins in its sign (negative = short), mark-to-market and worst loss."""
    h = bd.health
    t = Table(title=f"{bd.preset}: the venue's own figures (USD; docs/margin.md#derive-pmrm)")
    for col in ("", "initial", "maintenance"):
        t.add_column(col, justify="left" if not col else "right")
    t.add_row("charges (loss x factor + contingencies)", *(fmt(x) for x in astuple(bd.requirement)))
    t.add_row("Derive margin (MtM + cash - charges)", fmt(h["initial_margin"]), fmt(h["maintenance_margin"]))
    console.print(t)
    console.print(
        f"option MtM {fmt(h['option_mtm'])}, collateral MtM {fmt(h['collateral_mtm'])}, "
        f"worst loss {fmt(h['worst_loss'])}, long options paid in full {fmt(h['long_options_value'])}"
    )


def _print_fhs(bd: FhsBreakdown) -> None:
    """The fhs charge: ES per scenario block, the anti-procyclicality result and the add-ons (USD)."""
    t = Table(
        title=f"{bd.preset}: ES {bd.confidence:.0%} over {bd.horizon_days}-day windows of {bd.history} "
        f"to {bd.asof or 'n/a'}, {bd.scenarios:,} scenarios"
    )
    t.add_column("")
    t.add_column("USD", justify="right")
    rows: list[tuple[str, float | None]] = [
        ("ES, filtered to today's volatility", bd.es_filtered_usd),
        ("ES at the volatility of the reference day (buffer)", bd.es_reference_usd),
        ("ES of the stressed year", bd.es_stressed_usd),
        ("ES of the floor's span (floor)", bd.es_lookback_usd),
        ("margin after anti-procyclicality", bd.apc_margin_usd),
        ("liquidity add-on", bd.liquidity_usd),
        ("short-option minimum", bd.short_option_minimum_usd),
        ("long options' value (paid in full)", bd.long_option_value_usd),
        (f"worst filtered scenario (window ending {bd.worst_scenario_day or 'n/a'})", bd.worst_loss_usd),
    ]
    for label, value in rows:
        if value is not None:
            t.add_row(label, fmt(value))
    console.print(t)
    if bd.sigma_daily:
        console.print(
            "EWMA daily volatility today: " + ", ".join(f"{u} {s:.2%}" for u, s in bd.sigma_daily.items())
        )


def _print_liquidation(doc: MarginReport) -> None:
    prices = doc.breakdown.liquidation_prices
    if not prices:
        return
    before = doc.before.breakdown.liquidation_prices if doc.before is not None else None
    t = Table(
        title="Liquidation index prices (USD): nearest below and above today's (none: never, within 0.1%-50x)"
    )
    t.add_column("underlying")
    for side in ("below", "above"):
        if before is not None:
            t.add_column(f"{side}, before", justify="right")
        t.add_column(side if before is None else f"{side}, after", justify="right")
    for u, lp in prices.items():
        cells: list[str] = []
        for side in ("below", "above"):
            if before is not None:
                old = getattr(before.get(u), side, None) if before.get(u) is not None else None
                cells.append(fmt(old) if old is not None else "none")
            new = getattr(lp, side)
            cells.append(fmt(new) if new is not None else "none")
        t.add_row(u, *cells)
    console.print(t)


def _print_collateral(doc: MarginReport) -> None:
    lines = doc.breakdown.collateral
    if not lines or not any(c.haircut for c in lines.values()):
        return
    t = Table(title="Collateral haircuts (USD; a borrowed balance: its upper tail)")
    for col in ("asset", "balance", "index", "value", "haircut", "haircut USD", "basis"):
        t.add_column(col, justify="left" if col in ("asset", "basis") else "right")
    for asset, c in lines.items():
        t.add_row(
            asset,
            f"{c.balance:,.8g}",
            fmt(c.index_usd),
            fmt(c.value_usd),
            f"{100 * c.haircut:.2f}%",
            fmt(c.haircut_usd),
            c.basis,
        )
    console.print(t)


def _print_positions(doc: MarginReport) -> None:
    positions = doc.breakdown.positions
    if not positions:
        return
    t = Table(title="Isolated positions: each on its own margin (USD)")
    for col in (
        "position",
        "margin",
        "allocation",
        "initial",
        "maintenance",
        "unrealised P&L",
        "liquidation",
        "status",
    ):
        t.add_column(col, justify="left" if col in ("position", "allocation", "status") else "right")
    for name, p in positions.items():
        how = p.allocation if p.leverage is None else f"{p.allocation} {p.leverage:g}x"
        t.add_row(
            name,
            fmt(p.margin),
            how,
            fmt(p.initial_margin),
            fmt(p.maintenance_margin),
            fmt(p.unrealised_pnl_usd),
            fmt(p.liquidation_price) if p.liquidation_price is not None else "none",
            p.status,
        )
    console.print(t)


def _compact(x: float) -> str:
    """A P&L cell that fits a 9-column grid in 80 characters: -57k, -9.3k, 245 (coin: 4 significant)."""
    if abs(x) >= 10_000:
        return f"{x / 1000:,.0f}k"
    if abs(x) >= 1_000:
        return f"{x / 1000:.1f}k"
    if abs(x) >= 1:
        return f"{x:.0f}"
    return f"{x:.4g}"


def _print_groups(bd: PmBreakdown, ccy: str) -> None:
    if bd.open_orders_margin_usd > 0 or bd.mmp_margin_usd > 0:
        console.print(
            f"initial margin also holds open orders {fmt(bd.open_orders_margin_usd)} USD "
            f"+ MMP {fmt(bd.mmp_margin_usd)} USD (not in maintenance)"
        )
    for grp in bd.groups:
        ws = grp.worst_scenario
        console.print(
            f"[bold]{grp.underlying}[/bold] (P&L in {grp.settlement}): requirement "
            f"{fmt(grp.requirement_usd)} USD = worst loss {fmt(grp.worst_loss_usd)} "
            f"(move {ws.price_move:+.1%}, {_vol(ws.vol_shock_label)}, {ws.kind}) + roll {fmt(grp.roll_shock_usd)} "
            f"+ delta shock {fmt(grp.delta_shock_usd)} + short-option min {fmt(grp.short_option_minimum_usd)}"
            + (
                f"; at least the long options' value {fmt(grp.long_option_value_usd)}"
                if grp.long_option_value_usd > grp.requirement_usd - 1e-9 and grp.long_option_value_usd > 0
                else ""
            )
        )
        grid = grp.pnl_grid
        values = grid.pnl if ccy != "USD" and grid.pnl else grid.pnl_usd
        pt = Table(title=f"{grp.underlying} scenario P&L ({ccy}): price move × implied-vol shock")
        pt.add_column("vol shock \\ move")
        for mv in grid.price_moves:
            pt.add_column(f"{mv:+.0%}", justify="right")
        for label, row in zip(grid.vol_shock_labels, values, strict=True):
            pt.add_row(_vol(label), *(_compact(x) for x in row))
        console.print(pt)
        if grid.extended:
            rate = 1.0 / grid.usd_per_unit
            et = Table(
                title=f"{grp.underlying} extended moves (vol up): P&L and the loss each adds after its weight ({ccy})"
            )
            et.add_column("")
            for cell in grid.extended:
                et.add_column(f"{cell.price_move:+.0%}", justify="right")
            et.add_row("P&L", *(_compact(c.pnl_usd * rate) for c in grid.extended))
            et.add_row("weight", *(f"{c.weight:.3g}" for c in grid.extended))
            et.add_row("weighted loss", *(_compact(c.weighted_loss_usd * rate) for c in grid.extended))
            console.print(et)


def models_of(names: list[str] | None, span_file: Path | None) -> list[MarginModel]:
    """``compare``'s models: the names given (default ``COMPARE_MODELS``), ``span`` with ``--span-file``."""
    chosen = list(names) if names else list(COMPARE_MODELS)
    spans = [n for n in chosen if n.strip().lower() == "span"]
    if span_file is not None and not spans:
        raise InputError(
            where="--span-file", expected="--model span among the models", found=", ".join(chosen)
        )
    return [model_of(n, None, span_file if n in spans else None) for n in chosen]


@handle_errors
def compare(
    portfolio: Annotated[Path, typer.Argument(help="Portfolio file (YAML/JSON; - for standard input)")],
    market: Annotated[
        Path | None,
        typer.Option(
            "--market",
            help="Market file (- for standard input), or a Deribit chain CSV#SNAPSHOT; optional with --span-file",
        ),
    ] = None,
    currency: CurrencyOpt = "USD",
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="A model or preset to compare (repeatable; default isolated, cross, standard, pm)",
        ),
    ] = None,
    span_file: SpanFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The same account margined by every model, side by side, with its status and liquidation prices."""
    models = models_of(model, span_file)
    pf, mkt = _inputs(portfolio, market, models)
    with flags(MODEL_FLAGS):
        doc = compare_report(models, pf, mkt, currency=currency)
    if json_out:
        print_json(doc, schema="compare")
        return
    console.print(compare_table(doc))
    warn(doc.warnings)


def compare_table(doc: CompareReport) -> Table:
    digits = money_digits(doc.currency)
    models = doc.models
    table = Table(title=f"{doc.account}: margin by model ({doc.currency})")
    table.add_column("")
    for name in models:
        table.add_column(name, justify="right")
    for label, key in (
        ("initial margin", "initial_margin"),
        ("maintenance margin", "maintenance_margin"),
        ("available", "available"),
    ):
        table.add_row(label, *(fmt(getattr(models[n], key), digits) for n in models))
    table.add_row("status", *(models[n].status for n in models))
    underlyings = sorted({u for m in models.values() for u in m.liquidation_prices})
    for u in underlyings:
        for side in ("below", "above"):
            cells = []
            for n in models:
                lp = models[n].liquidation_prices.get(u)
                price = getattr(lp, side) if lp is not None else None
                cells.append(fmt(price) if price is not None else "none")
            table.add_row(f"liquidation {u} {side} (USD)", *cells)
    iso = models["isolated"].initial_margin if "isolated" in models else 0.0
    if iso > 0 and "pm" in models:
        saved = 1.0 - models["pm"].initial_margin / iso
        table.add_row("pm saves vs isolated", *([""] * (len(models) - 1)), f"{saved:.1%}")
    return table
