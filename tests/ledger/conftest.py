"""Fixtures of the ledger tests: a market, and database URLs for SQLite (a temp file) and PostgreSQL.

PostgreSQL: ``$XMARGIN_TEST_PG`` or ``postgresql+psycopg://postgres@127.0.0.1:5432/test``; every test gets
its own schema (``search_path`` set in the URL), dropped afterwards, so pytest-xdist workers never collide.
Tests that need it are skipped, with the reason, when the server is unreachable.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from xmargin.market import MarketSnapshot, load_market

ROOT = Path(__file__).resolve().parents[2]
MARKET_FILE = ROOT / "examples" / "market.yaml"
PG_URL = os.environ.get("XMARGIN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_conninfo() -> str:
    return make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)


@functools.cache
def pg_unreachable() -> str | None:
    """None if PostgreSQL answers, else why not (the skip reason)."""
    try:
        with psycopg.connect(_pg_conninfo(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL at {PG_URL} unreachable ({type(exc).__name__}: {exc}); set XMARGIN_TEST_PG"
    return None


def new_pg_schema() -> tuple[str, str]:
    """A fresh schema: (its name, a URL whose search_path is that schema)."""
    reason = pg_unreachable()
    if reason is not None:
        pytest.skip(reason)
    schema = f"xm_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    return schema, f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def drop_pg_schema(schema: str) -> None:
    with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_url() -> Iterator[str]:
    schema, url = new_pg_schema()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every storage test runs on both backends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    schema, url = new_pg_schema()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


@pytest.fixture(scope="session")
def market() -> MarketSnapshot:
    return load_market(MARKET_FILE)
