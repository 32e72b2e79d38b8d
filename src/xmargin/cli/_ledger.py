"""``xmargin ledger deposit|withdraw|trade|funding|settle|show|replay`` (FORMATS.md): the durable ledger.

``--db`` takes a database URL (``sqlite:///FILE``, ``postgresql+psycopg://USER@HOST:PORT/DB``) or a plain
file path (SQLite). Without it: ``$XMARGIN_LEDGER_DB``, else ``./xmargin-data/ledger.db`` (directory
created on first use). The schema is migrated to the newest revision on first use. A database that does
not outlive the command (``sqlite://``, in memory) and a SQLite file in a directory that does not exist
are bad input.
``--price-band`` sets how far from the market a price may be (``xmargin.ledger.PriceBand``),
``--max-index-move`` the factor by which a market's index may differ from the last accepted one.
Exit status: 0 ok; 2 bad input (one ``error:`` line per problem, nothing written); 3 refused by a risk
check or a price band (reason on standard error, nothing written); 1 a fault (e.g. database
unreachable).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.table import Table
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from xmargin.core import InputError, XmarginError
from xmargin.ledger import DEFAULT_BAND, AccountState, Ledger, PriceBand, Receipt, RefusedError, is_ephemeral
from xmargin.ledger._bands import BAND_TEXT_HELP
from xmargin.ledger._checks import to_portfolio
from xmargin.ledger._fold import instrument as parse_stored
from xmargin.ledger._index import DEFAULT_MAX_INDEX_MOVE, check_max_index_move
from xmargin.ledger._money import to_text
from xmargin.ledger._requests import (
    check_account,
    check_key,
    check_seq,
    deposit_request,
    funding_request,
    settlement_request,
    trade_request,
    withdrawal_request,
)
from xmargin.margin import account_report
from xmargin.market import MarketSnapshot, load_market

from ._common import EXIT_REFUSED, console, err_console, flags, handle_errors, print_json
from ._margin import MODEL_FLAGS, model_of, print_margin

T = TypeVar("T")
P = ParamSpec("P")

DB_ENV = "XMARGIN_LEDGER_DB"
DEFAULT_DB = Path("xmargin-data") / "ledger.db"

LEDGER_FLAGS = {
    **{f"price_band.{part}": f"--price-band {part}" for part in ("futures", "options", "floor")},
    "db": "--db",
    "key": "--key",
    "upto": "--upto",
    "fee": "--fee",
    "market": "--market",
    "price_band": "--price-band",
    "max_index_move": "--max-index-move",
    "model": "--model",
    "preset": "--model",
}
"""The library's parameter names in errors, as this command line's flags."""


def with_flags(fn: Callable[P, T]) -> Callable[P, T]:
    """A command whose library errors name the flags (:data:`LEDGER_FLAGS`)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with flags(LEDGER_FLAGS):
            return fn(*args, **kwargs)

    return wrapper


ledger_app = typer.Typer(
    help="Durable account ledger: deposits, withdrawals and trades with margin checks (exit 3: refused).",
    no_args_is_help=True,
)
# SIZE, RATE may be negative: "-1" is then an argument, not an unknown option.
SIGNED = {"ignore_unknown_options": True}

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help=f"Database URL or SQLite file (default ${DB_ENV} or ./{DEFAULT_DB})"),
]
MarketOpt = Annotated[
    Path | None, typer.Option("--market", help="Market file for the margin check (or a chain CSV#SNAPSHOT)")
]
KeyOpt = Annotated[str | None, typer.Option("--key", help="Idempotency key: a retry with it is applied once")]
ModelOpt = Annotated[
    str, typer.Option("--model", help="Margin model of the checks (pm, standard, cross, ...)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine output on standard output")]
BandOpt = Annotated[
    str | None,
    typer.Option("--price-band", help=f"How far from the market a price may be: {BAND_TEXT_HELP}"),
]
MoveOpt = Annotated[
    str | None,
    typer.Option(
        "--max-index-move",
        help=f"Largest factor between a market's index and the last accepted one (default {DEFAULT_MAX_INDEX_MOVE:g})",
    ),
]
MarketCheckOpt = Annotated[
    Path | None,
    typer.Option("--market", help="Market file: the price must lie in the band around it (else unchecked)"),
]


def database_url(db: str | None) -> str:
    """The URL ``--db`` stands for (see the module docstring)."""
    if db is None:
        db = os.environ.get(DB_ENV)
        if db is None:
            DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{DEFAULT_DB.resolve()}"
    db = db.strip()
    if not db:
        raise InputError(where="--db", expected="a database URL or a file path", found=db)
    if "://" in db:
        if is_ephemeral(db):
            raise InputError(
                where="--db",
                expected="a durable database (a SQLite file or PostgreSQL): an in-memory one loses "
                "every write when the command exits",
                found=db,
            )
        return db
    path = Path(db)
    if path.is_dir() or not path.parent.is_dir():
        raise InputError(where="--db", expected="a file path in an existing directory, or a URL", found=db)
    return f"sqlite:///{path.resolve()}"


def _model_name(model: str) -> str:
    """The model's name, checked (a model kind, a preset name or a preset file; case-insensitive)."""
    model_of(model, None)
    return model


def _market(market: Path | None) -> MarketSnapshot | None:
    return load_market(market) if market is not None else None


def _limits(price_band: str | None, max_index_move: str | None) -> tuple[PriceBand, float]:
    """The ``--price-band`` and ``--max-index-move`` settings (bad input if malformed)."""
    band = PriceBand.parse(price_band) if price_band is not None else DEFAULT_BAND
    move = check_max_index_move(max_index_move) if max_index_move is not None else DEFAULT_MAX_INDEX_MOVE
    return band, move


def _open(
    db: str | None,
    model: str = "pm",
    limits: tuple[PriceBand, float] = (DEFAULT_BAND, DEFAULT_MAX_INDEX_MOVE),
) -> Ledger:
    url = database_url(db)
    try:
        return Ledger(url, model=model_of(model, None), price_band=limits[0], max_index_move=limits[1])
    except SQLAlchemyError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise XmarginError(f"cannot open the ledger database {shown}: {type(exc).__name__}") from None


def _run(ledger: Ledger, command: Callable[[], T]) -> T:
    """Run one ledger command: a refusal prints its reason and exits 3; database faults exit 1."""
    try:
        return command()
    except RefusedError as exc:
        err_console.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_REFUSED) from None
    except SQLAlchemyError as exc:
        raise XmarginError(f"ledger database error: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    finally:
        ledger.close()


def portfolio_doc(state: AccountState) -> dict[str, Any]:
    """The account as a FORMATS.md portfolio file: collateral, positions (futures with ``avg_price``)."""
    positions: dict[str, Any] = {}
    for name, pos in state.positions.items():
        if parse_stored(name).kind.value in ("future", "perpetual"):
            positions[name] = {"size": float(pos.size), "avg_price": float(pos.avg_price)}
        else:
            positions[name] = float(pos.size)
    collateral = {a: float(v) for a, v in state.balances.items() if v != 0}
    return {"account": state.account, "collateral": collateral, "positions": positions}


def _receipt_doc(r: Receipt) -> dict[str, Any]:
    data = {k: v for k, v in r.event.data.items() if k != "request"}
    margin = None
    if r.margin is not None:
        m = r.margin
        margin = {
            "model": m.model,
            "initial_margin": m.initial_margin,
            "maintenance_margin": m.maintenance_margin,
            "margin_balance": m.margin_balance,
            "available": m.available,
        }
    return {
        "account": r.event.account,
        "seq": r.event.seq,
        "kind": r.event.kind.value,
        "key": r.event.key,
        "replayed": r.replayed,
        "event": data,
        "margin_after": margin,
        "portfolio": portfolio_doc(r.state),
    }


def _report(r: Receipt, json_out: bool) -> None:
    if json_out:
        print_json(_receipt_doc(r), schema="ledger-receipt")
        return
    data = {k: v for k, v in r.event.data.items() if k != "request"}
    what = ", ".join(f"{k} {v}" for k, v in data.items())
    again = " (already applied: this key's original result, nothing new written)" if r.replayed else ""
    console.print(
        f"{r.event.account}: {r.event.kind.value} {what}; seq {r.event.seq}, key {r.event.key}{again}",
        markup=False,
        highlight=False,
    )
    if r.margin is not None:
        console.print(
            f"after: initial margin {r.margin.initial_margin:,.2f} USD, margin balance "
            f"{r.margin.margin_balance:,.2f} USD, available {r.margin.available:,.2f} USD ({r.margin.model})",
            markup=False,
            highlight=False,
        )


def _pre(account: str, key: str | None, *, reserved_ok: bool = False) -> None:
    check_account(account, reserved_ok=reserved_ok)
    if key is not None:
        check_key(key)


@ledger_app.command("deposit")
@handle_errors
@with_flags
def deposit(
    account: Annotated[str, typer.Argument(help="Account id")],
    asset: Annotated[str, typer.Argument(help="Coin code, e.g. BTC or USDC")],
    amount: Annotated[str, typer.Argument(help="Amount (> 0), credited rounded down to the asset's unit")],
    db: DbOpt = None,
    market: MarketOpt = None,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Credit collateral to an account (never refused); ``~insurance`` seeds the insurance fund."""
    _pre(account, key, reserved_ok=True)
    deposit_request(asset, amount)
    _market(market)  # accepted for symmetry; a deposit needs no check
    ledger = _open(db)
    _report(_run(ledger, lambda: ledger.deposit(account, asset, amount, key=key)), json_out)


@ledger_app.command("withdraw")
@handle_errors
@with_flags
def withdraw(
    account: Annotated[str, typer.Argument(help="Account id")],
    asset: Annotated[str, typer.Argument(help="Coin code, e.g. BTC or USDC")],
    amount: Annotated[str, typer.Argument(help="Amount (> 0), debited rounded up to the asset's unit")],
    db: DbOpt = None,
    market: MarketOpt = None,
    key: KeyOpt = None,
    model: ModelOpt = "pm",
    max_index_move: MoveOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Debit collateral, at most the balance held of that asset; refused (exit 3) if it would leave
    available < 0. Without --market: allowed only from an account without positions."""
    _pre(account, key)
    withdrawal_request(asset, amount)
    _model_name(model)
    limits = _limits(None, max_index_move)
    mkt = _market(market)
    ledger = _open(db, model, limits)
    _report(_run(ledger, lambda: ledger.withdraw(account, asset, amount, market=mkt, key=key)), json_out)


@ledger_app.command("trade", context_settings=SIGNED)
@handle_errors
@with_flags
def trade(
    account: Annotated[str, typer.Argument(help="Account id")],
    instrument: Annotated[str, typer.Argument(help="Instrument, e.g. BTC-PERPETUAL")],
    size: Annotated[str, typer.Argument(help="Signed size in coin (+ buy, - sell)")],
    price: Annotated[str, typer.Argument(help="Fill price: USD per coin; options: premium per coin")],
    db: DbOpt = None,
    market: MarketOpt = None,
    key: KeyOpt = None,
    fee: Annotated[str, typer.Option("--fee", help="Fee in the settlement asset (rounded up)")] = "0",
    model: ModelOpt = "pm",
    price_band: BandOpt = None,
    max_index_move: MoveOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record a fill; refused (exit 3) if its price is outside the band around the market's mark, or if it
    would leave available < 0 (a fill that only reduces the position skips the margin check)."""
    _pre(account, key)
    trade_request(instrument, size, price, fee)
    _model_name(model)
    limits = _limits(price_band, max_index_move)
    if market is None:
        raise InputError(where="--market", expected="a market file for the pre-trade check", found="none")
    mkt = _market(market)
    ledger = _open(db, model, limits)
    _report(
        _run(ledger, lambda: ledger.trade(account, instrument, size, price, market=mkt, fee=fee, key=key)),
        json_out,
    )


@ledger_app.command("funding", context_settings=SIGNED)
@handle_errors
@with_flags
def funding(
    account: Annotated[str, typer.Argument(help="Account id")],
    instrument: Annotated[str, typer.Argument(help="A perpetual, e.g. BTC-PERPETUAL")],
    rate: Annotated[str, typer.Argument(help="Funding rate of the period (positive: longs pay shorts)")],
    mark: Annotated[str, typer.Argument(help="Mark price, USD per coin")],
    db: DbOpt = None,
    market: MarketCheckOpt = None,
    key: KeyOpt = None,
    price_band: BandOpt = None,
    max_index_move: MoveOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Apply a funding payment: rate × size × mark (inverse: rate × size, in coin). With --market the mark
    must lie in the band around the market's mark (exit 3 otherwise)."""
    _pre(account, key)
    funding_request(instrument, rate, mark)
    limits = _limits(price_band, max_index_move)
    mkt = _market(market)
    ledger = _open(db, "pm", limits)
    _report(
        _run(ledger, lambda: ledger.funding(account, instrument, rate, mark, market=mkt, key=key)), json_out
    )


@ledger_app.command("settle")
@handle_errors
@with_flags
def settle(
    account: Annotated[str, typer.Argument(help="Account id")],
    instrument: Annotated[str, typer.Argument(help="An expiring future or option")],
    price: Annotated[str, typer.Argument(help="Settlement price, USD per coin")],
    db: DbOpt = None,
    market: MarketCheckOpt = None,
    key: KeyOpt = None,
    price_band: BandOpt = None,
    max_index_move: MoveOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Settle the account's position at expiry (futures: P&L; options: intrinsic value). With --market the
    price must lie in the band around the underlying's index (exit 3 otherwise)."""
    _pre(account, key)
    settlement_request(instrument, price)
    limits = _limits(price_band, max_index_move)
    mkt = _market(market)
    ledger = _open(db, "pm", limits)
    _report(_run(ledger, lambda: ledger.settle(account, instrument, price, market=mkt, key=key)), json_out)


def _show(
    account: str,
    db: str | None,
    market: Path | None,
    model: str,
    json_out: bool,
    upto: int | None,
    *,
    replaying: bool,
) -> None:
    check_account(account, reserved_ok=True)
    _model_name(model)
    if upto is not None:
        check_seq(upto, where="--upto")
    mkt = _market(market)
    ledger = _open(db, model)

    def load() -> AccountState:
        st = ledger.replay(account, upto=upto) if replaying else ledger.state(account)
        if st.version == 0:
            raise InputError(where="ACCOUNT", expected="an account with events in this ledger", found=account)
        return st

    state = _run(ledger, load)
    doc = portfolio_doc(state)
    report = None
    if mkt is not None:
        with flags(MODEL_FLAGS):
            report = account_report(model_of(model, None), to_portfolio(state), mkt)
        doc.update(
            schema_version=report.schema_version,
            valuation_time=report.valuation_time.isoformat().replace("+00:00", "Z"),
            model=report.model,
            preset=report.preset,
            currency=report.currency,
            equity=report.equity,
            margin_balance=report.margin_balance,
            initial_margin=report.initial_margin,
            maintenance_margin=report.maintenance_margin,
            available=report.available,
            status=report.status,
            warnings=list(report.warnings),
            liquidation_prices={
                u: {"below": lp.below, "above": lp.above}
                for u, lp in report.breakdown.liquidation_prices.items()
            },
        )
    if json_out:
        print_json(doc, schema="ledger-show")
        return
    table = Table(title=f"Account {account} after {state.version} events")
    table.add_column("")
    table.add_column("amount / size", justify="right")
    table.add_column("entry price", justify="right")
    for asset, v in state.balances.items():
        table.add_row(asset, to_text(v), "")
    for name, pos in state.positions.items():
        table.add_row(name, to_text(pos.size), f"{pos.avg_price:,.2f}")
    console.print(table)
    if report is not None:
        print_margin(report)


@ledger_app.command("show")
@handle_errors
@with_flags
def show(
    account: Annotated[str, typer.Argument(help="Account id")],
    db: DbOpt = None,
    market: MarketOpt = None,
    model: ModelOpt = "pm",
    json_out: JsonOpt = False,
) -> None:
    """The account now: balances and positions folded from its events (+ margin with --market)."""
    _show(account, db, market, model, json_out, None, replaying=False)


@ledger_app.command("replay")
@handle_errors
@with_flags
def replay_cmd(
    account: Annotated[str, typer.Argument(help="Account id")],
    db: DbOpt = None,
    market: MarketOpt = None,
    model: ModelOpt = "pm",
    upto: Annotated[int | None, typer.Option("--upto", help="Fold only events with seq <= UPTO")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Rebuild the account from its stored events alone (optionally as of event --upto)."""
    _show(account, db, market, model, json_out, upto, replaying=True)
