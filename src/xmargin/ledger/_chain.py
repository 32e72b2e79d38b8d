"""The ledger's hash chain: every event carries ``hash = SHA-256(previous hash ‖ the event's canonical bytes)``
over its own account's sequence, and ``accounts.head`` holds the hash of the account's last event.

- The **canonical bytes** of an event are the UTF-8 of the JSON array ``[account, seq, kind, key,
  created_at, payload]`` with ``created_at`` in ISO 8601 UTC with microseconds and the payload's keys
  sorted, no whitespace: every field the fold reads, nothing the database adds (``id``).
- Each account's chain starts from ``GENESIS`` (64 zeros). Chains are per account because every write is
  already serialised per account (its ``version``): appending never waits on other accounts.
- ``root`` = SHA-256 over the sorted ``account:version:head`` lines: one value that commits to every
  account's whole history. Publishing it (a log, a timestamping service, a chain) is what makes a rewrite of
  the database detectable by an outsider; recomputing the chains alone detects any edit that did not also
  recompute every later hash.

``verify`` walks every account's events in sequence and names the first problem it meets: an edited event
(its stored hash differs from the recomputed one), a missing one (a gap in ``seq``), a chain whose last
hash or length differs from the account row (a deleted last event), or events without an account row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Literal

from xmargin.ledger._events import Event

GENESIS = "0" * 64


def canonical_bytes(event: Event) -> bytes:
    created = event.created_at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    doc = [event.account, event.seq, event.kind.value, event.key, created, dict(sorted(event.data.items()))]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def event_hash(previous: str, event: Event) -> str:
    """The chained hash of ``event`` after an event hashed ``previous`` (``GENESIS`` for seq 1)."""
    return hashlib.sha256(previous.encode("ascii") + canonical_bytes(event)).hexdigest()


def chain_root(heads: dict[str, tuple[int, str]]) -> str:
    """SHA-256 over the sorted ``account:version:head`` lines (module docstring)."""
    lines = "".join(f"{a}:{v}:{h}\n" for a, (v, h) in sorted(heads.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


Problem = Literal["edited", "missing", "truncated", "orphan", "unhashed"]


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place the chain does not hold."""

    problem: Problem
    account: str
    seq: int
    """the event's seq (``missing``: the first absent seq; ``truncated``: the account row's version)"""
    event_id: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """``xmargin ledger verify``: how much was checked, the root, and the first break (None: intact)."""

    accounts: int
    events: int
    root: str | None
    """None when the chain is broken: a root is only worth publishing over a chain that holds"""
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def verify_events(
    events: list[tuple[Event, str | None]], heads: dict[str, tuple[int, str | None]]
) -> ChainReport:
    """Check ``events`` (each with its stored hash, ordered by account then seq) against the account rows
    ``heads`` (account → (version, head hash))."""
    breaks: list[ChainBreak] = []
    computed: dict[str, tuple[int, str]] = {}
    prev_account: str | None = None
    prev_hash = GENESIS
    expected_seq = 1
    for ev, stored in events:
        if ev.account != prev_account:
            prev_account, prev_hash, expected_seq = ev.account, GENESIS, 1
        if ev.seq != expected_seq:
            breaks.append(
                ChainBreak(
                    "missing", ev.account, expected_seq, ev.id, f"seq {ev.seq} follows {expected_seq - 1}"
                )
            )
            break
        h = event_hash(prev_hash, ev)
        if stored is None:
            breaks.append(ChainBreak("unhashed", ev.account, ev.seq, ev.id, "the event has no stored hash"))
            break
        if stored != h:
            breaks.append(
                ChainBreak(
                    "edited",
                    ev.account,
                    ev.seq,
                    ev.id,
                    f"stored hash {stored[:16]}…, its content hashes to {h[:16]}…",
                )
            )
            break
        computed[ev.account] = (ev.seq, h)
        prev_hash, expected_seq = h, expected_seq + 1
    if not breaks:
        for account, (version, head) in sorted(heads.items()):
            seen = computed.get(account, (0, GENESIS))
            if seen[0] != version or (version > 0 and head != seen[1]):
                breaks.append(
                    ChainBreak(
                        "truncated",
                        account,
                        version,
                        None,
                        f"the account row is at seq {version}, its events end at seq {seen[0]}",
                    )
                )
                break
        else:
            orphans = sorted(set(computed) - set(heads))
            if orphans:
                last = computed[orphans[0]][0]
                breaks.append(
                    ChainBreak("orphan", orphans[0], last, None, "events of an account with no account row")
                )
    return ChainReport(
        accounts=len(heads),
        events=len(events),
        root=None if breaks else chain_root(computed),
        first_break=breaks[0] if breaks else None,
    )


__all__ = [
    "GENESIS",
    "ChainBreak",
    "ChainReport",
    "canonical_bytes",
    "chain_root",
    "event_hash",
    "verify_events",
]
