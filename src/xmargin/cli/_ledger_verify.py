"""``xmargin ledger verify``: recompute every account's hash chain and name the first tampered event.

Exit 0: the chain holds (prints the root to publish); 1: it does not (the first break named); 2: bad input
(no such database, or one from before the hash chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from xmargin.core import SCHEMA_VERSION, InputError, XmarginError
from xmargin.ledger import HEAD_REVISION, ChainBreak, EventStore, current_revision

from ._common import console, handle_errors, print_json
from ._ledger import DbOpt, JsonOpt, database_url, ledger_app


@dataclass(frozen=True, slots=True)
class LedgerVerifyDoc:
    """``xmargin ledger verify --json``: ``root`` commits to every account's history (publish it);
    ``first_break`` is null when the chain holds."""

    ok: bool
    accounts: int
    events: int
    root: str | None
    first_break: ChainBreak | None
    schema_version: int = SCHEMA_VERSION


def _open_existing(db: str | None) -> EventStore:
    url = database_url(db)
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database and not Path(parsed.database).is_file():
        raise InputError(where="--db", expected="an existing ledger database", found=parsed.database)
    shown = parsed.render_as_string(hide_password=True)
    try:
        store = EventStore(url, migrate=False)
        revision = current_revision(store.engine)
    except SQLAlchemyError as exc:
        raise XmarginError(f"cannot open the ledger database {shown}: {type(exc).__name__}") from None
    if revision != HEAD_REVISION:
        store.close()
        raise InputError(
            where="--db",
            expected=f"a ledger at schema revision {HEAD_REVISION} (with the hash chain); any other ledger "
            "command upgrades it, hashing its events as they are then",
            found=f"revision {revision}" if revision else "no ledger schema",
        )
    return store


@ledger_app.command("verify")
@handle_errors
def verify(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Recompute the hash chain of every account; exit 1 naming the first edited, missing or cut event."""
    store = _open_existing(db)
    try:
        report = store.verify_chain()
    finally:
        store.close()
    if json_out:
        doc = LedgerVerifyDoc(report.ok, report.accounts, report.events, report.root, report.first_break)
        print_json(doc, schema="ledger-verify")
    elif report.first_break is None:
        console.print(
            f"ledger intact: {report.events} events over {report.accounts} accounts; root {report.root}"
        )
    else:
        b = report.first_break
        where = f"event id {b.event_id}, " if b.event_id is not None else ""
        console.print(
            f"ledger chain broken: {b.problem} at {where}account {b.account}, seq {b.seq}: {b.detail}"
        )
    if not report.ok:
        raise typer.Exit(1)
