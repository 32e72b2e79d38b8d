"""Alembic migrations of the ledger schema (run by :func:`xmargin.ledger.upgrade_to_head`)."""
