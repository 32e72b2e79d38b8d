"""API keys: what each scope may touch, hashing at rest, and what the key store refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from xmargin.core import InputError
from xmargin.ledger import INSURANCE_ACCOUNT, EventStore
from xmargin.ledger._schema import api_keys
from xmargin.service import VENUE, ApiKey, KeyStore, Scope, check_scope, parse_rate_limit


@pytest.mark.parametrize(
    ("scope", "account", "read", "write"),
    [
        (Scope.READ, "alice", True, False),
        (Scope.READ, "bob", False, False),
        (Scope.TRADE, "alice", True, True),
        (Scope.TRADE, "bob", False, False),
        (Scope.TRADE, INSURANCE_ACCOUNT, False, False),
        (Scope.ADMIN, "bob", True, True),
        (Scope.ADMIN, INSURANCE_ACCOUNT, True, True),
    ],
)
def test_scopes(scope: Scope, account: str, read: bool, write: bool) -> None:
    key = ApiKey(1, VENUE if scope is Scope.ADMIN else "alice", scope)
    assert (key.may_read(account), key.may_write(account)) == (read, write)


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(EventStore(f"sqlite:///{tmp_path / 'ledger.db'}"))


def test_keys_are_stored_hashed_and_checked(store: KeyStore) -> None:
    new = store.create("alice", Scope.TRADE)
    secret = new.key.split("_", 1)[1]
    with store._engine.connect() as conn:
        row = conn.execute(sa.select(api_keys)).one()
    assert secret not in repr(tuple(row))
    assert (row.kdf, len(bytes.fromhex(row.salt)), len(bytes.fromhex(row.digest))) == (
        "scrypt:16384:8:1",
        16,
        32,
    )
    assert store.check(new.key) == ApiKey(new.key_id, "alice", Scope.TRADE)
    assert store.check(new.key) == ApiKey(new.key_id, "alice", Scope.TRADE)  # the remembered path
    wrong = new.key[:-1] + ("A" if new.key[-1] != "A" else "B")
    assert store.check(wrong) is None
    assert store.check(f"xm{new.key_id + 1}_{secret}") is None  # another id
    assert store.check("not a key") is None
    assert store.check("") is None


def test_two_keys_never_share_a_salt(store: KeyStore) -> None:
    store.create("alice", Scope.READ)
    store.create("alice", Scope.READ)
    with store._engine.connect() as conn:
        salts = conn.execute(sa.select(api_keys.c.salt)).scalars().all()
    assert len(set(salts)) == 2


def test_revoked_keys_are_refused(store: KeyStore) -> None:
    new = store.create("alice", Scope.READ)
    assert store.check(new.key) is not None
    assert store.revoke(new.key_id) is True
    assert store.check(new.key) is None
    assert store.revoke(new.key_id) is False
    with pytest.raises(InputError, match="KEY_ID"):
        store.revoke(0)


@pytest.mark.parametrize(
    ("account", "scope", "where"),
    [
        ("alice", Scope.ADMIN, "ACCOUNT"),
        (INSURANCE_ACCOUNT, Scope.READ, "ACCOUNT"),
        ("", Scope.TRADE, "ACCOUNT"),
    ],
)
def test_bad_bindings_are_refused(store: KeyStore, account: str, scope: Scope, where: str) -> None:
    with pytest.raises(InputError) as exc:
        store.create(account, scope)
    assert exc.value.where == where


def test_scope_and_rate_limit_parsing() -> None:
    assert check_scope("trade") is Scope.TRADE
    with pytest.raises(InputError, match="--scope"):
        check_scope("root")
    item = parse_rate_limit("100/second")
    assert item is not None and item.amount == 100
    assert parse_rate_limit("none") is None
    with pytest.raises(InputError, match="--rate-limit"):
        parse_rate_limit("lots")


@pytest.mark.parametrize("kdf", ["scrypt:1000:8:1", "argon2:1:1:1", "scrypt:16384:8", "scrypt:0:8:1"])
def test_a_malformed_kdf_setting_is_refused(tmp_path: Path, kdf: str) -> None:
    with pytest.raises(InputError, match="kdf"):
        KeyStore(EventStore(f"sqlite:///{tmp_path / 'ledger.db'}"), kdf=kdf)


def test_a_key_is_checked_with_its_own_rows_setting(tmp_path: Path) -> None:
    events = EventStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    new = KeyStore(events, kdf="scrypt:1024:8:1").create("alice", Scope.READ)
    assert KeyStore(events).check(new.key) == ApiKey(new.key_id, "alice", Scope.READ)
