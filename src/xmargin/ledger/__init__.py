"""Event-sourced account ledger: deposits, withdrawals, trades, funding, settlement, fees, liquidation
transfers and fills, bad debt and its cover (insurance fund, ADL, socialized loss), collateral conversion at the index; balances and positions derived by folding events; SQLite or PostgreSQL; idempotent commands;
optimistic per-account concurrency; pre-trade and pre-withdrawal margin checks; price bands on every fill;
a guard against a market whose index jumped from the last accepted one (see ``docs/ledger.md``)."""

from xmargin.ledger._bands import DEFAULT_BAND, PriceBand
from xmargin.ledger._chain import ChainBreak, ChainReport
from xmargin.ledger._errors import ConcurrencyError, LedgerCorruptError, RefusedError
from xmargin.ledger._events import Event, EventKind
from xmargin.ledger._fold import (
    CONVERSION_ACCOUNT,
    INSURANCE_ACCOUNT,
    AccountState,
    PositionState,
    VenueTotals,
    apply,
    conservation_gap,
    replay,
    venue_totals,
)
from xmargin.ledger._ledger import Ledger, Receipt
from xmargin.ledger._money import PRECISION, account_delta, credit_amount, debit_amount, quantum
from xmargin.ledger._proof import LiabilitiesProof, LiabilitiesTree, ProofCheck, ProofStep, verify_proof
from xmargin.ledger._store import (
    HEAD_REVISION,
    AppendResult,
    EventStore,
    current_revision,
    is_ephemeral,
    make_engine,
    upgrade_to_head,
)

__all__ = [
    "CONVERSION_ACCOUNT",
    "DEFAULT_BAND",
    "HEAD_REVISION",
    "INSURANCE_ACCOUNT",
    "PRECISION",
    "AccountState",
    "AppendResult",
    "ChainBreak",
    "ChainReport",
    "ConcurrencyError",
    "Event",
    "EventKind",
    "EventStore",
    "Ledger",
    "LedgerCorruptError",
    "LiabilitiesProof",
    "LiabilitiesTree",
    "PositionState",
    "PriceBand",
    "ProofCheck",
    "ProofStep",
    "Receipt",
    "RefusedError",
    "VenueTotals",
    "account_delta",
    "apply",
    "conservation_gap",
    "credit_amount",
    "current_revision",
    "debit_amount",
    "is_ephemeral",
    "make_engine",
    "quantum",
    "replay",
    "upgrade_to_head",
    "venue_totals",
    "verify_proof",
]
