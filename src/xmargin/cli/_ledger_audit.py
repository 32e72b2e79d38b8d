"""The ledger's audit commands (docs/ledger.md, "Audit"):

- ``xmargin ledger verify``: recompute every account's hash chain and name the first tampered event;
- ``xmargin ledger liabilities``: the root of the proof-of-liabilities Merkle sum tree (to publish) and the
  total liabilities per asset;
- ``xmargin ledger proof ACCOUNT``: the account's inclusion proof (JSON);
- ``xmargin ledger verify-proof PROOF.json [--root HASH]``: check one offline, without the database.

Exit 0: holds; 1: the chain or the proof does not (the first break named); 2: bad input (no such database,
one from before the hash chain, an unreadable proof).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from xmargin.core import SCHEMA_VERSION, InputError, XmarginError, input_errors, load_document
from xmargin.ledger import (
    HEAD_REVISION,
    ChainBreak,
    EventStore,
    Ledger,
    LiabilitiesProof,
    current_revision,
    verify_proof,
)
from xmargin.ledger._proof import LiabilitiesTree

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


@dataclass(frozen=True, slots=True)
class LiabilitiesDoc:
    """``xmargin ledger liabilities --json``: the root to publish and the totals it commits to."""

    root_hash: str
    accounts: int
    totals: dict[str, str]
    schema_version: int = SCHEMA_VERSION


def _tree(db: str | None) -> LiabilitiesTree:
    """The liabilities tree, built only over a chain that verifies (else exit 1 naming the break)."""
    store = _open_existing(db)
    try:
        chain = store.verify_chain()
    finally:
        store.close()
    url = store.url
    if chain.first_break is not None:
        b = chain.first_break
        console.print(
            f"ledger chain broken: {b.problem} at account {b.account}, seq {b.seq}: {b.detail}; "
            "no liabilities tree over it"
        )
        raise typer.Exit(1)
    with Ledger(url, migrate=False) as ledger:
        return ledger.liabilities_tree()


@ledger_app.command("liabilities")
@handle_errors
def liabilities(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """The proof-of-liabilities root (publish it) and the customer balances it sums, per asset."""
    tree = _tree(db)
    doc = LiabilitiesDoc(tree.root.hash, len(tree.leaves), tree.totals())
    if json_out:
        print_json(doc, schema="ledger-liabilities")
        return
    console.print(f"root {doc.root_hash} over {doc.accounts} customer accounts")
    for asset, total in doc.totals.items():
        console.print(f"  {asset}: {total}")


@ledger_app.command("proof")
@handle_errors
def proof(
    account: Annotated[str, typer.Argument(help="Customer account")],
    db: DbOpt = None,
) -> None:
    """The account's inclusion proof in the liabilities tree, as JSON (check it with verify-proof)."""
    print_json(_tree(db).proof(account), schema="ledger-proof")


@ledger_app.command("verify-proof")
@handle_errors
def verify_proof_cmd(
    path: Annotated[Path, typer.Argument(help="A proof from `xmargin ledger proof` (JSON; - for stdin)")],
    root: Annotated[
        str | None, typer.Option("--root", help="The published root hash to check against (else the proof's)")
    ] = None,
) -> None:
    """Check an inclusion proof offline: exit 0 if it leads to the root, 1 (naming the step) if not."""
    raw = load_document(path)
    try:
        doc = TypeAdapter(LiabilitiesProof).validate_python(raw)
    except ValidationError as exc:
        raise input_errors(exc, source=str(path)) from None
    if root is not None and (len(root) != 64 or any(c not in "0123456789abcdef" for c in root)):
        raise InputError(where="--root", expected="a 64-digit lowercase hex SHA-256", found=root)
    check = verify_proof(doc, root_hash=root)
    console.print(("valid: " if check.ok else "invalid: ") + check.reason)
    if not check.ok:
        raise typer.Exit(1)
