"""``xmargin replay --scenario NAME --venue cex|dex [--accounts N] [--seed S] [--onchain] [--json]`` (FORMATS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from xmargin.core import InputError, atomic_write, check, check_output

from ._common import console, err_console, flags, fmt, handle_errors, print_json

REPLAY_FLAGS = {
    "ReplayConfig.vol_beta": "--vol-beta",
    "ReplayConfig.waterfall": "--waterfall",
    "ImpactConfig.adv_to_oi": "--adv-to-oi",
    "venue": "--venue",
    "accounts": "--accounts",
    "scenario": "--scenario",
    "seeds": "--seeds",
    "model": "--model",
    "preset": "--model",
    "chart": "--chart",
    "paths": "--paths",
    "report": "--report",
    "onchain": "--onchain",
}

PUMP = "oracle-pump"


def summary_table(reports: list[Any]) -> Table:
    t = Table(title=f"{reports[0].scenario}: {reports[0].title}")
    t.add_column("")
    for r in reports:
        t.add_column(r.venue.upper(), justify="right")
    rows = [
        ("accounts", "accounts", 0),
        ("liquidations (events)", "liquidations", 0),
        ("accounts liquidated", "accounts_liquidated", 0),
        ("volume liquidated, USD", "volume_liquidated_usd", 0),
        ("bad debt, USD", "bad_debt_usd", 2),
        ("  insurance fund used", "insurance_fund_used_usd", 2),
        ("  ADL", "adl_usd", 2),
        ("  socialized loss", "socialized_loss_usd", 2),
        ("accounts bankrupt", "accounts_bankrupt", 0),
        ("penalties to insurance, USD", "penalties_usd", 0),
        ("insurance fund start, USD", "insurance_fund_start_usd", 0),
        ("insurance fund end, USD", "insurance_fund_end_usd", 0),
        ("backstop / buy-back, USD", "backstop_usd", 0),
    ]
    for label, key, digits in rows:
        t.add_row(label, *(fmt(float(getattr(r, key)), digits) for r in reports))
    t.add_row(
        "max price impact", *(", ".join(f"{u} {x:+.1%}" for u, x in r.max_impact.items()) for r in reports)
    )
    t.add_row("wall time, s", *(f"{r.timing.get('wall_s', 0.0):.1f}" for r in reports))
    return t


def _pump(json_out: bool, chart: Path | None, force: bool) -> None:
    from xmargin.sim import oracle_pump, plot_pump

    if chart is not None:
        check_output(chart, force=force, where="--chart", suffixes=(".png",))
    report = oracle_pump()
    if chart is not None:
        with atomic_write(chart) as tmp:
            plot_pump(report, tmp)
        err_console.print(f"wrote {chart}")
    if json_out:
        print_json({"scenario": PUMP, **report.as_dict()}, schema="replay")
        return
    d = report.as_dict()
    t = Table(title="Oracle manipulation: a thin collateral token pumped 13x in 30 minutes")
    t.add_column("")
    t.add_column("naive oracle", justify="right")
    t.add_column("stable price", justify="right")
    for label, naive, stable in (
        (
            "borrowable at the pump's top, USD",
            "naive_borrowable_at_pump_end_usd",
            "stable_borrowable_at_pump_end_usd",
        ),
        ("peak borrowable, USD", "naive_peak_borrowable_usd", "stable_peak_borrowable_usd"),
        ("bad debt after the price reverts, USD", "naive_bad_debt_usd", "stable_bad_debt_usd"),
    ):
        t.add_row(label, fmt(d[naive], 0), fmt(d[stable], 0))
    console.print(t)
    console.print(
        f"stable / naive at the top: {report.ratio_at_pump_end:.1%}; over the whole path: {report.ratio:.1%}"
    )


def _sweep(
    scenario: str,
    venue: str,
    accounts: int,
    seeds: list[int],
    config: Any,
    scheduler: str | None,
    json_out: bool,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from xmargin.engine import connect
    from xmargin.sim import summarize, sweep

    client = connect(scheduler) if scheduler not in (None, "none") else None
    try:
        with Progress(
            TextColumn(f"{scenario} {venue.upper()} x {len(seeds)} books"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
        ) as bar:
            task = bar.add_task("runs", total=len(seeds))
            reports = sweep(
                scenario,
                venue,
                seeds,
                accounts=accounts,
                config=config,
                client=client,
                on_done=lambda _r: bar.advance(task),
            )
    finally:
        if client is not None:
            client.close()
    summary = summarize(reports)
    if json_out:
        print_json(
            {
                "schema_version": 1,
                "scenario": reports[0].scenario,
                "venue": venue,
                "accounts": accounts,
                "seeds": seeds,
                "summary": summary,
                "runs": [r.as_dict() for r in reports],
            },
            schema="replay",
        )
        return
    t = Table(title=f"{reports[0].scenario} {venue.upper()}: {len(seeds)} books of {accounts:,} accounts")
    t.add_column("")
    for col in ("mean", "p50", "p95", "max"):
        t.add_column(col, justify="right")
    for key, row in summary.items():
        t.add_row(key, *(fmt(row[c], 0) for c in ("mean", "p50", "p95", "max")))
    console.print(t)


def _monte_carlo(
    scenario: str,
    venue: str,
    accounts: int,
    seed: int,
    paths: int,
    config: Any,
    path_config: Any,
    scheduler: str | None,
    json_out: bool,
    chart: Path | None = None,
    report_file: Path | None = None,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from xmargin.engine import connect
    from xmargin.sim import monte_carlo

    client = connect(scheduler) if scheduler not in (None, "none") else None
    try:
        with Progress(
            TextColumn(f"{scenario} {venue.upper()} x {paths} paths"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
        ) as bar:
            task = bar.add_task("paths", total=paths)
            report = monte_carlo(
                scenario,
                venue,
                paths=paths,
                accounts=accounts,
                seed=seed,
                config=config,
                path_config=path_config,
                client=client,
                on_done=lambda _r: bar.advance(task),
            )
    finally:
        if client is not None:
            client.close()
    if chart is not None:
        from xmargin.sim._risk_charts import plot_monte_carlo

        with atomic_write(chart) as tmp:
            plot_monte_carlo(report, tmp)
        err_console.print(f"wrote {chart}")
    if report_file is not None:
        from xmargin.sim._systemic_report import write_monte_carlo_report

        write_monte_carlo_report(report_file, report)
        err_console.print(f"wrote {report_file}")
    if json_out:
        print_json(report.as_dict(), schema="replay")
        return
    t = Table(title=f"{report.scenario} {venue.upper()}: {paths} paths, {accounts:,} accounts (seed {seed})")
    t.add_column("")
    t.add_column("USD", justify="right")
    q = report.bad_debt_usd_quantiles
    for label, x in (
        ("bad debt p50", q["p50"]),
        ("bad debt p95 (VaR)", q["p95"]),
        ("bad debt p99", q["p99"]),
        ("bad debt max", q["max"]),
        ("expected bad debt beyond p99", report.es99_usd),
        ("liquidations at risk (p95 volume)", report.liquidations_at_risk_usd),
        ("Cover-2 (two largest accounts' bad debt)", report.cover2_usd),
        ("insurance fund at start", report.insurance_fund_start_usd),
        ("insurance fund needed (p99, Cover-2)", report.insurance_fund_needed_usd),
    ):
        t.add_row(label, fmt(x, 0))
    t.add_row("paths with bad debt", f"{report.paths_with_bad_debt} / {paths}")
    console.print(t)


@handle_errors
def replay(
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="Crash window: 2020-03-12, 2021-05-19, 2022-05-luna, 2022-11-ftx, 2024-08-05, 2025-10-10; "
            "or oracle-pump",
        ),
    ],
    venue: Annotated[
        str | None, typer.Option("--venue", help="cex, dex, or both (side by side; not with --json)")
    ] = None,
    accounts: Annotated[int, typer.Option("--accounts", help="Accounts in the generated book")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the book and of the keepers")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    chart: Annotated[
        Path | None,
        typer.Option("--chart", help="Write a chart of price, margin and liquidations (.png/.html)"),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Margin model of both venues (default pm; cross with --onchain)"),
    ] = None,
    waterfall: Annotated[str, typer.Option("--waterfall", help="CEX: adl or socialize")] = "adl",
    adv_to_oi: Annotated[
        float, typer.Option("--adv-to-oi", help="Market depth: daily volume as a multiple of open interest")
    ] = 1.0,
    vol_beta: Annotated[
        float,
        typer.Option(
            "--vol-beta", help="Implied vols x (S/S0)^-beta during the crash (0: held; BTC 2026-02: 2.25)"
        ),
    ] = 0.0,
    seeds: Annotated[
        int, typer.Option("--seeds", help="Sweep: replay N books (seeds S, S+1, ...) and summarise")
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="With --seeds or --paths: Dask scheduler address, 'local' for a LocalCluster "
            "(the default with --paths), or 'none' to run in this process",
        ),
    ] = None,
    paths: Annotated[
        int,
        typer.Option(
            "--paths",
            help="Monte Carlo: K paths around the window (path 0 the real one) on Dask; bad-debt quantiles",
        ),
    ] = 1,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config", help="YAML/JSON: monte_carlo path parameters and replay clock/fund (docs/replay.md)"
        ),
    ] = None,
    timeline: Annotated[
        bool, typer.Option("--timeline", help="With --json: include the time series")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace existing --chart/--report files")] = False,
    report_file: Annotated[
        Path | None,
        typer.Option("--report", help="With --paths: write an HTML report (bad-debt histogram, quantiles)"),
    ] = None,
    onchain: Annotated[
        bool,
        typer.Option(
            "--onchain",
            help="DEX only: run the vault and auction contracts on an in-process EVM (chain extra); "
            "JSON adds 'onchain' (gas by operation, cost at stated gas prices)",
        ),
    ] = False,
) -> None:
    """Replay a real crash on a generated book under a CEX and/or a DEX; report liquidations and bad debt."""
    with flags(REPLAY_FLAGS):
        if onchain:
            _onchain(
                scenario,
                venue,
                accounts,
                seed,
                json_out,
                chart,
                model or "cross",
                seeds,
                paths,
                scheduler,
                config_file,
                report_file,
                timeline,
            )
            return
        _replay(
            scenario,
            venue,
            accounts,
            seed,
            json_out,
            chart,
            model or "pm",
            waterfall,
            adv_to_oi,
            vol_beta,
            seeds,
            scheduler,
            timeline,
            force,
            paths,
            config_file,
            report_file,
        )


def _replay(
    scenario: str,
    venue: str | None,
    accounts: int,
    seed: int,
    json_out: bool,
    chart: Path | None,
    model: str,
    waterfall: str,
    adv_to_oi: float,
    vol_beta: float,
    seeds: int,
    scheduler: str | None,
    timeline: bool,
    force: bool,
    paths: int = 1,
    config_file: Path | None = None,
    report_file: Path | None = None,
) -> None:
    from xmargin.sim import ImpactConfig, PathConfig, ReplayConfig, plot_replay
    from xmargin.sim import replay as run_replay
    from xmargin.sim import scenario as find_scenario

    if accounts < 1:
        raise InputError(where="--accounts", expected="an integer >= 1", found=accounts)
    if paths < 1:
        raise InputError(where="--paths", expected="an integer >= 1", found=paths)
    if scenario == PUMP:
        if (
            seeds != 1
            or scheduler is not None
            or venue not in (None, "dex")
            or paths != 1
            or config_file is not None
        ):
            raise InputError(
                where="--scenario oracle-pump",
                expected="no --seeds, --paths, --config, --scheduler or CEX venue",
                found=scenario,
            )
        _pump(json_out, chart, force)
        return
    find_scenario(scenario)
    if venue is None:
        raise InputError(where="--venue", expected="cex, dex or both", found="nothing")
    venues = ("cex", "dex") if venue == "both" else (venue,)
    if venue not in ("cex", "dex", "both"):
        raise InputError(where="--venue", expected="cex, dex or both", found=venue)
    if json_out and len(venues) > 1:
        raise InputError(where="--venue", expected="cex or dex with --json (one report)", found=venue)
    if chart is not None:
        check_output(chart, force=force, where="--chart", suffixes=(".png", ".html"))
    if report_file is not None:
        if paths < 2:
            raise InputError(where="--report", expected="--paths K (> 1) beside it", found=str(report_file))
        check_output(report_file, force=force, where="--report", suffixes=(".html", ".htm"))
    if seed < 0:
        raise InputError(where="--seed", expected="an integer >= 0", found=seed)
    check.positive(adv_to_oi, where="--adv-to-oi")
    config = ReplayConfig(
        model=model, waterfall=waterfall, impact=ImpactConfig(adv_to_oi=adv_to_oi), vol_beta=vol_beta
    )
    path_config = PathConfig()
    if config_file is not None:
        from xmargin.sim._mc_file import load_mc_config

        path_config, config = load_mc_config(config_file, config)
    if seeds < 1:
        raise InputError(where="--seeds", expected="an integer >= 1", found=seeds)
    if scheduler is not None and seeds == 1 and paths == 1:
        raise InputError(
            where="--scheduler", expected="--seeds N or --paths K (> 1) to run on a cluster", found=scheduler
        )
    if paths > 1:
        if len(venues) > 1 or timeline or seeds > 1:
            raise InputError(
                where="--paths", expected="one --venue, without --seeds or --timeline", found=paths
            )
        if chart is not None and chart.suffix.lower() != ".png":
            raise InputError(where="--chart", expected="a .png path with --paths", found=str(chart))
        _monte_carlo(
            scenario,
            venues[0],
            accounts,
            seed,
            paths,
            config,
            path_config,
            scheduler or "local",
            json_out,
            chart,
            report_file,
        )
        return
    if seeds > 1:
        if len(venues) > 1 or chart is not None or timeline:
            raise InputError(
                where="--seeds", expected="one --venue, without --chart or --timeline", found=seeds
            )
        _sweep(scenario, venues[0], accounts, list(range(seed, seed + seeds)), config, scheduler, json_out)
        return
    reports = []
    for v in venues:
        with err_console.status(f"replaying {scenario} on {accounts:,} accounts, {v.upper()} ..."):
            reports.append(run_replay(scenario, v, accounts=accounts, seed=seed, config=config))
    if chart is not None:
        with atomic_write(chart) as tmp:
            plot_replay(reports, tmp)
        err_console.print(f"wrote {chart}")
    if json_out:
        print_json(reports[0].as_dict(timeline=timeline), schema="replay")
        return
    console.print(summary_table(reports))


def _onchain(
    scenario: str,
    venue: str | None,
    accounts: int,
    seed: int,
    json_out: bool,
    chart: Path | None,
    model: str,
    seeds: int,
    paths: int,
    scheduler: str | None,
    config_file: Path | None,
    report_file: Path | None,
    timeline: bool,
) -> None:
    """``--onchain``: the DEX replay through the contracts (``xmargin.onchain``)."""
    from xmargin.sim import ReplayConfig
    from xmargin.sim import scenario as find_scenario

    if venue != "dex":
        raise InputError(where="--onchain", expected="--venue dex (the vault is the DEX)", found=venue)
    if scenario == PUMP:
        raise InputError(where="--onchain", expected="a crash window, not oracle-pump", found=scenario)
    find_scenario(scenario)
    if (
        seeds != 1
        or paths != 1
        or scheduler is not None
        or config_file is not None
        or report_file is not None
    ):
        raise InputError(
            where="--onchain",
            expected="one replay: no --seeds, --paths, --scheduler, --config or --report",
            found="one of them",
        )
    if chart is not None:
        raise InputError(where="--onchain", expected="no --chart", found=str(chart))
    if accounts < 1:
        raise InputError(where="--accounts", expected="an integer >= 1", found=accounts)
    if seed < 0:
        raise InputError(where="--seed", expected="an integer >= 0", found=seed)
    from xmargin.margin import CrossMargin, resolve_model

    if not isinstance(resolve_model(model), CrossMargin):
        raise InputError(
            where="--model",
            expected="a cross model with fixed ratios (the vault's kicks read its cross health), e.g. cross",
            found=model,
        )
    try:
        import boa  # noqa: F401
        import vyper  # noqa: F401
    except ImportError:
        raise InputError(
            where="--onchain",
            expected="the chain extra installed (pip install 'xmargin[chain]': vyper, titanoboa)",
            found="vyper or titanoboa missing",
        ) from None
    from xmargin.onchain import replay_onchain_scenario

    with err_console.status(f"replaying {scenario} on {accounts:,} accounts, DEX on chain ..."):
        report = replay_onchain_scenario(
            scenario, accounts=accounts, seed=seed, config=ReplayConfig(model=model)
        )
    if json_out:
        print_json(report.as_dict(timeline=timeline), schema="replay")
        return
    console.print(summary_table([report]))
    console.print(onchain_table(report.onchain))


def onchain_table(onchain: dict[str, Any]) -> Table:
    """The gas of an on-chain replay by operation, and its cost at the stated gas prices."""
    networks = [p["network"] for p in onchain["gas_prices"]]
    t = Table(title=f"gas on chain (keepers priced at {onchain['keeper_gas_price_gwei']:g} gwei)")
    t.add_column("operation")
    t.add_column("transactions", justify="right")
    t.add_column("gas", justify="right")
    for n in networks:
        t.add_column(f"USD, {n}", justify="right")
    for op in onchain["operations"]:
        t.add_row(
            op["operation"],
            fmt(op["count"], 0),
            fmt(op["gas"], 0),
            *(fmt(op["cost_usd"][n], 2) for n in networks),
        )
    t.add_row(
        "total", "", fmt(onchain["gas_total"], 0), *(fmt(onchain["cost_total_usd"][n], 2) for n in networks)
    )
    return t
