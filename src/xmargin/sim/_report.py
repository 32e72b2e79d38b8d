"""The outcome of a crash replay: ``ReplayReport`` and the outcome figures summaries, charts and sweeps
share (``OUTCOME_FIELDS``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from xmargin.core import SCHEMA_VERSION

OUTCOME_FIELDS = (
    "liquidations",
    "accounts_liquidated",
    "volume_liquidated_usd",
    "bad_debt_usd",
    "insurance_fund_used_usd",
    "adl_usd",
    "socialized_loss_usd",
    "penalties_usd",
)
"""The report's outcome figures (summaries, charts, sweeps)."""


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """The outcome of one replay. ``timeline`` has one row per path point (dict of equal-length lists)."""

    scenario: str
    title: str
    venue: str
    accounts: int
    seed: int
    model: str
    liquidations: int
    accounts_liquidated: int
    volume_liquidated_usd: float
    bad_debt_usd: float
    insurance_fund_used_usd: float
    adl_usd: float
    socialized_loss_usd: float
    insurance_fund_start_usd: float
    insurance_fund_end_usd: float
    penalties_usd: float
    backstop_usd: float
    accounts_bankrupt: int
    negative_balance_end_usd: float
    """Σ of negative margin balances left at the end (0 unless an account went under after the last tick)."""
    topped_up_accounts: int
    max_drawdown: dict[str, float]
    max_impact: dict[str, float]
    venue_detail: dict[str, Any]
    largest_bad_debts_usd: list[float] = field(default_factory=list)
    """The two largest single-account bad debts (USD, descending; fewer if fewer accounts went bankrupt)."""
    timeline: dict[str, list[float]] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    onchain: dict[str, Any] = field(default_factory=dict)
    """``--onchain`` only (``xmargin.onchain``): gas by operation and its cost at stated gas prices."""

    def as_dict(self, *, timeline: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not timeline:
            d.pop("timeline")
        if not self.onchain:
            d.pop("onchain")
        return d
