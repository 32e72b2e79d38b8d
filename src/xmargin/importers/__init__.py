"""Importers: a venue's own position and account exports → a FORMATS.md portfolio document.

``xmargin import deribit|binance|okx|ccxt FILE...`` reads the JSON each venue's API returns (docs/import.md),
so that real books can be margined::

    docs = [read_document("positions.json"), read_document("summary.json")]
    result = import_documents("deribit", docs)   # result.portfolio: the document; result.warnings: assumptions

Each importer takes parsed documents with their labels, in any order (it tells positions from balances by
their shape), and returns an :class:`ImportResult`: the portfolio as plain JSON types and one sentence per
assumption. Bad or foreign input raises ``InputError`` (``InputErrors`` for several problems), each located as
``FILE: json.path``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from xmargin.core import InputError
from xmargin.importers._binance import import_binance
from xmargin.importers._ccxt import import_ccxt
from xmargin.importers._common import ImportResult, PortfolioDoc, PositionDoc, Shown, SourceDocument
from xmargin.importers._deribit import import_deribit
from xmargin.importers._okx import import_okx
from xmargin.importers._read import MAX_BYTES, parse_document, read_document


class Importer(Protocol):
    """A venue importer: its documents (in any order) → one portfolio document."""

    def __call__(
        self, documents: Sequence[SourceDocument], *, account: str | None = None
    ) -> ImportResult: ...


IMPORTERS: Mapping[str, Importer] = {
    "deribit": import_deribit,
    "binance": import_binance,
    "okx": import_okx,
    "ccxt": import_ccxt,
}
"""Venue name → importer, each ``(documents, *, account=None) -> ImportResult``."""


def import_documents(
    venue: str, documents: Sequence[SourceDocument], *, account: str | None = None
) -> ImportResult:
    """Import ``documents`` of one ``venue`` (case-insensitive); ``account`` labels the portfolio (default: the
    venue name)."""
    importer = IMPORTERS.get(venue.lower())
    if importer is None:
        raise InputError(where="VENUE", expected=f"one of {', '.join(IMPORTERS)}", found=venue)
    return importer(documents, account=account)


__all__ = [
    "IMPORTERS",
    "MAX_BYTES",
    "ImportResult",
    "Importer",
    "PortfolioDoc",
    "PositionDoc",
    "Shown",
    "SourceDocument",
    "import_binance",
    "import_ccxt",
    "import_deribit",
    "import_documents",
    "import_okx",
    "parse_document",
    "read_document",
]
