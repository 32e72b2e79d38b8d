"""Errors of the ledger (all under ``XmarginError``; bad input stays ``InputError``)::

XmarginError
├── RefusedError          a risk check refused the command; nothing was written (CLI exit 3)
├── LedgerCorruptError    stored events break an invariant (fail fast, never "repair")
└── ConcurrencyError      an append kept losing the optimistic race (CLI exit 1)
"""

from __future__ import annotations

from xmargin.core import XmarginError


class RefusedError(XmarginError):
    """A command refused by a risk check; nothing was written. The CLI prints it and exits 3.

    With a margin check, ``model``, ``initial_margin_after``, ``margin_balance_after`` and
    ``available_after`` (USD) say why.
    """

    def __init__(
        self,
        reason: str,
        *,
        model: str | None = None,
        initial_margin_after: float | None = None,
        margin_balance_after: float | None = None,
        available_after: float | None = None,
    ) -> None:
        self.reason = reason
        self.model = model
        self.initial_margin_after = initial_margin_after
        self.margin_balance_after = margin_balance_after
        self.available_after = available_after
        detail = ""
        if model is not None:
            detail = (
                f" (model {model}: initial margin after {initial_margin_after:,.2f} USD, "
                f"margin balance after {margin_balance_after:,.2f} USD, "
                f"available after {available_after:,.2f} USD)"
            )
        super().__init__(f"refused: {reason}{detail}")


class LedgerCorruptError(XmarginError):
    """Stored events break an invariant (a gap in sequence numbers, a foreign account, a bad payload)."""


class ConcurrencyError(XmarginError):
    """An append lost the optimistic-concurrency race more times than allowed."""
