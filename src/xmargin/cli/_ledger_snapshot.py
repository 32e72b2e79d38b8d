"""``xmargin ledger snapshot [--check] [--db URL] [--json]``: write a snapshot of every account's folded
state (:mod:`xmargin.ledger._snapshot`; docs/ledger.md, "Snapshots"), or check the latest one.

- without ``--check``: fold every account to a cut read now (from the latest snapshot that verifies and the
  events after it, else from every event), store it, keep the newest two, print its header;
- ``--check``: refold every event up to the latest snapshot's versions and compare, account by account;
  exit 1 naming the first account that differs, or what does not verify (digest, chain root); exit 2
  without a snapshot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import typer

from xmargin.core import SCHEMA_VERSION, InputError
from xmargin.ledger._snapshot import SnapshotMismatch, check_latest, prune, write_snapshot

from ._common import console, handle_errors, print_json
from ._ledger import DbOpt, JsonOpt, ledger_app
from ._ledger_audit import _open_existing

KEEP = 2


@dataclass(frozen=True, slots=True)
class LedgerSnapshotDoc:
    """``xmargin ledger snapshot --json``: the snapshot written (or checked): its id, when, how many
    accounts and events it includes, the largest event id, the chain root of its heads (the root ``xmargin
    ledger verify`` printed at that cut), its size; ``matches``: with ``--check``, whether a fold of every
    event gives the same states (null when not checked); ``differs``: the accounts that do not."""

    snapshot: int
    taken_at: str
    accounts: int
    events: int
    last_event_id: int
    chain_root: str
    bytes: int
    seconds: float
    matches: bool | None = None
    differs: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION


@ledger_app.command("snapshot")
@handle_errors
def snapshot(
    db: DbOpt = None,
    check: Annotated[
        bool, typer.Option("--check", help="Refold every event and compare with the latest snapshot")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a snapshot of every account's folded state (service starts fold only the events after it)."""
    store = _open_existing(db)
    started = time.perf_counter()
    try:
        if check:
            try:
                checked = check_latest(store)
            except SnapshotMismatch as exc:
                console.print(f"snapshot refused: {exc}", markup=False)
                raise typer.Exit(1) from None
            if checked is None:
                raise InputError(where="--check", expected="a ledger with a snapshot", found="none")
            info, differs = checked
        else:
            info, differs = write_snapshot(store), []
            prune(store, KEEP)
    finally:
        store.close()
    seconds = time.perf_counter() - started
    doc = LedgerSnapshotDoc(
        info.id,
        info.taken_at.isoformat().replace("+00:00", "Z"),
        info.accounts,
        info.events,
        info.last_event_id,
        info.chain_root,
        info.bytes,
        round(seconds, 3),
        (not differs) if check else None,
        tuple(differs),
    )
    if json_out:
        print_json(doc, schema="ledger-snapshot")
    elif check and differs:
        console.print(
            f"snapshot {info.id} differs from the events: {len(differs)} account(s), first {differs[0]}",
            markup=False,
        )
    else:
        verb = "matches the events" if check else "written"
        console.print(
            f"snapshot {info.id} {verb}: {info.accounts} accounts, {info.events} events "
            f"(last event id {info.last_event_id}), chain root {info.chain_root}, {info.bytes} bytes, "
            f"{seconds:.2f} s",
            markup=False,
        )
    if differs:
        raise typer.Exit(1)
