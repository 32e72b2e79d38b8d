"""``xmargin demo``: the README's main job, on the real Deribit chains shipped with the package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xmargin.core import InputError, atomic_write, check_output
from xmargin.instruments import load_portfolio
from xmargin.margin import account_report, check_portfolio, compare_report, resolve_model
from xmargin.market import (
    DEMO_SNAPSHOT,
    MarketSnapshot,
    load_deribit_chain_full,
    shipped_chain_path,
    shipped_demo_books,
    snapshot_ids,
)
from xmargin.pricing import fit_chain

from ._common import console, err_console, fmt, handle_errors, warn
from ._margin import COMPARE_MODELS
from ._replay import summary_table


@handle_errors
def demo(
    snapshot: Annotated[str, typer.Option(help="Snapshot id or label of the shipped chains")] = DEMO_SNAPSHOT,
    replay_accounts: Annotated[
        int, typer.Option("--replay-accounts", help="Accounts in the closing crash replay (0: skip it)")
    ] = 200,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where the replay chart is written")] = Path(
        "xmargin-data"
    ),
) -> None:
    """Margin six example books four ways on a real Deribit chain, after checking the chain's marks; then
    replay Black Thursday (2020-03-12) on a generated book under a CEX and a DEX."""
    if replay_accounts < 0:
        raise InputError(where="--replay-accounts", expected="an integer >= 0", found=replay_accounts)
    path = shipped_chain_path()
    chain = load_deribit_chain_full(path, snapshot)
    fit = fit_chain(chain)
    m = chain.market
    console.print(
        f"[bold]xmargin demo[/bold]: Deribit chain {chain.snapshot_id} ({chain.label}), "
        f"valued {m.valuation_time:%Y-%m-%d %H:%M} UTC; index "
        + ", ".join(f"{a} {m.index_usd[a]:,.2f}" for a in ("BTC", "ETH") if a in m.index_usd)
    )
    table = Table(title="Model coin price vs Deribit mark, per expiry (inverse options, coin per coin)")
    for col in ("expiry", "T (days)", "options", "forward USD", "median |err| coin", "max |err| coin"):
        table.add_column(col, justify="left" if col == "expiry" else "right")
    for row in fit.by_expiry.to_dict("records"):
        key = str(row["expiry_key"])
        table.add_row(
            key,
            f"{float(row['t_years']) * 365.0:.1f}",
            str(row["count"]),
            f"{m.forwards_usd[key]:,.2f}",
            f"{float(row['median_abs_err_coin']):.2e}",
            f"{float(row['max_abs_err_coin']):.2e}",
        )
    console.print(table)
    summary = Table(title="Every shipped snapshot (all options with a mark IV)")
    for col in ("snapshot", "label", "options", "median |err| coin", "p99 |err| coin", "max |err| coin"):
        summary.add_column(col, justify="left" if col in ("snapshot", "label") else "right")
    for sid, label in snapshot_ids(path):
        o = fit_chain(load_deribit_chain_full(path, sid)).options["abs_err_coin"]
        summary.add_row(
            sid, label, str(len(o)), f"{o.median():.2e}", f"{o.quantile(0.99):.2e}", f"{o.max():.2e}"
        )
    console.print(summary)
    console.print(
        "Errors come from the collector's non-atomic snapshot (each row's forward drifts around the "
        "expiry's median forward used here) and from mark IVs rounded to 0.01 vol points."
    )

    _demo_books(chain.market, chain.snapshot_id)
    if replay_accounts:
        _demo_replay(replay_accounts, out_dir)


def _demo_replay(accounts: int, out_dir: Path) -> None:
    from xmargin.sim import plot_replay, replay

    out_dir.mkdir(parents=True, exist_ok=True)
    chart_path = check_output(
        out_dir / "replay-2020-03-12.png", force=True, where="--out-dir"
    )  # the demo's own file
    reports = []
    for venue in ("cex", "dex"):
        with err_console.status(f"replaying 2020-03-12 on {accounts} accounts, {venue.upper()} ..."):
            reports.append(replay("2020-03-12", venue, accounts=accounts, seed=0))
    console.print(summary_table(reports))
    with atomic_write(chart_path) as tmp:
        plot_replay(reports, tmp)
    chart = chart_path
    console.print(
        f"The same book, the same crash: the CEX liquidates partially as marks move, the DEX only when its "
        f"oracle updates and by auction. Chart: {chart}. More: xmargin replay --help, docs/replay.md."
    )


def _demo_books(market: MarketSnapshot, snapshot_id: str) -> None:
    cross_collateral = resolve_model("pm-cross-collateral")
    models = [resolve_model(n) for n in COMPARE_MODELS]
    warnings: list[str] = []
    table = Table(title=f"Initial margin (USD) of six books on Deribit snapshot {snapshot_id}")
    table.add_column("book")
    for name in COMPARE_MODELS:
        table.add_column(name, justify="right")
    table.add_column("pm saves vs isolated", justify="right")
    table.add_column("pm, USD view", justify="right")
    for path in shipped_demo_books():
        pf = load_portfolio(path)
        check_portfolio(pf, market)
        report = compare_report(models, pf, market, with_liquidation=False)
        cmp = report.models
        iso = cmp["isolated"].initial_margin
        saved = 1.0 - cmp["pm"].initial_margin / iso if iso > 0 else 0.0
        usd_report = account_report(cross_collateral, pf, market, with_liquidation=False)
        usd = usd_report.initial_margin
        warnings.extend(w for w in (*report.warnings, *usd_report.warnings) if w not in warnings)
        table.add_row(
            pf.account,
            *(fmt(cmp[n].initial_margin, 0) for n in COMPARE_MODELS),
            f"{saved:.1%}",
            fmt(usd, 0),
        )
    console.print(table)
    console.print(
        "isolated: each position on its own at fixed ratios; cross: pooled collateral, tiered ratios on gross "
        "notional; standard: Deribit's per-instrument formulas; pm: Deribit-style scenario portfolio margin, "
        "each settlement coin on its own (a coin balance is no hedge in its own coin). The last column is the "
        "same scenarios measured in USD across all collateral with vol-driven haircuts "
        "(--preset pm-cross-collateral): held coins then hedge short exposure and are at risk themselves, so "
        "the covered call is charged for its net long delta. pm is above standard only where the risk is "
        "not hedged: in btc-eth-multi the short ETH put and the long ETH perpetual both lose when ETH falls, pm "
        "charges that fall at its -18% scan, standard charges the perpetual 2% (docs/margin.md). "
        "Next: xmargin margin BOOK --market CHAIN#ID shows the scenario grid, Greeks and liquidation price."
    )
    warn(warnings)
