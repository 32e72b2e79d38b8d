"""Fixtures of the importer tests: the documented venue examples in ``fixtures/`` (see fixtures/README.md)."""

from __future__ import annotations

from pathlib import Path

from xmargin.importers import SourceDocument, read_document

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load(name: str) -> SourceDocument:
    """A fixture file, read as the command reads it; its label is the bare file name."""
    doc = read_document(str(FIXTURES / name))
    return SourceDocument(label=name, data=doc.data)
