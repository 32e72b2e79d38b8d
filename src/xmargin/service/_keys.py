"""API keys: created and revoked by ``xmargin keys``, checked by the service on every request.

A key is ``xm<ID>_<SECRET>``: ``ID`` is its row in the ledger database's ``api_keys`` table (so a request
costs one lookup, never a scan), ``SECRET`` 32 random bytes (``secrets.token_urlsafe``). Only a salted scrypt
digest of the secret is stored; a presented secret is hashed with the row's salt and compared with
:func:`hmac.compare_digest`. Neither the key nor its secret is ever logged or kept after :meth:`create`
returns it.

scrypt parameters N = 2^14, r = 8, p = 1: the interactive-login setting of the scrypt paper (C. Percival,
"Stronger key derivation via sequential memory-hard functions", 2009, section 7, about 16 MiB of memory).
A stored row names its parameters (``kdf``), so they can be raised later without invalidating keys. The
secret has 256 bits of entropy, so the hash protects a leaked database rather than a guessable password.
To keep requests fast, a verified key is remembered in memory (keyed by a digest under a per-process random
key, never the secret); the row's scope and revocation are still read from the database on every request,
so ``xmargin keys revoke`` takes effect on the next request of every process.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from xmargin.core import InputError, XmarginError
from xmargin.ledger import EventStore
from xmargin.ledger._requests import RESERVED_ACCOUNTS, check_account
from xmargin.ledger._schema import api_keys

VENUE = "venue"
"""The account an ``admin`` key is bound to: the whole venue."""
KDF = "scrypt:16384:8:1"
"""scrypt with N = 2^14, r = 8, p = 1 (module docstring)."""
SALT_BYTES = 16
DIGEST_BYTES = 32
KEY_RE = re.compile(r"xm([1-9][0-9]{0,17})_([A-Za-z0-9_-]{43})")


class Scope(enum.Enum):
    """What a key may do: ``read`` its account; ``trade`` also write to it (withdrawals and trades);
    ``admin`` everything on every account, the venue's internal accounts and deposits included."""

    READ = "read"
    TRADE = "trade"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as the service sees it once checked: its id, scope and the account it is bound to."""

    key_id: int
    account: str
    scope: Scope

    def may_read(self, account: str) -> bool:
        """May read ``account``: its own (any scope), every account for ``admin``."""
        return self.scope is Scope.ADMIN or (account == self.account and account not in RESERVED_ACCOUNTS)

    def may_write(self, account: str) -> bool:
        """May move ``account``'s funds: its own with ``trade``, every account with ``admin``."""
        return self.scope is Scope.ADMIN or (self.scope is Scope.TRADE and self.may_read(account))


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created: ``key`` is shown once and never stored."""

    key_id: int
    key: str
    account: str
    scope: Scope


def check_scope(scope: object) -> Scope:
    try:
        return Scope(scope)
    except ValueError:
        raise InputError(where="--scope", expected="read, trade or admin", found=scope) from None


def _params(kdf: str) -> tuple[int, int, int]:
    """``scrypt:N:R:P`` as (N, r, p): positive integers, N a power of 2 above 1."""
    name, _, params = kdf.partition(":")
    parts = params.split(":")
    if name == "scrypt" and len(parts) == 3 and all(x.isdigit() and int(x) > 0 for x in parts):
        n, r, p = (int(x) for x in parts)
        if n > 1 and n & (n - 1) == 0:
            return n, r, p
    raise InputError(where="kdf", expected="scrypt:N:R:P (positive integers, N a power of 2)", found=kdf)


def _kdf(secret: str, salt: bytes, kdf: str) -> bytes:
    n, r, p = _params(kdf)
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=DIGEST_BYTES
    )


class KeyStore:
    """The ``api_keys`` table of a ledger database (:class:`xmargin.ledger.EventStore`'s engine; the
    schema is migrated with the ledger's). ``kdf``: the setting new keys are hashed with (``scrypt:N:R:P``,
    :data:`KDF` by default; tests may lower it); a key is always checked with its own row's setting."""

    def __init__(self, store: EventStore, *, kdf: str = KDF) -> None:
        _params(kdf)  # a malformed setting fails here, not at the first key
        self._engine = store.engine
        self._kdf = kdf
        self._pepper = secrets.token_bytes(32)
        self._verified: dict[int, bytes] = {}

    def create(self, account: str, scope: Scope, *, now: datetime | None = None) -> NewKey:
        """A new key bound to ``account`` (``venue`` for ``admin``). Client accounts only for ``read`` and
        ``trade``: the venue's internal accounts (``~insurance``) are reachable with an admin key alone."""
        if scope is Scope.ADMIN:
            if account != VENUE:
                raise InputError(where="ACCOUNT", expected=f"{VENUE!r} for an admin key", found=account)
        else:
            check_account(account)
        secret = secrets.token_urlsafe(DIGEST_BYTES)
        salt = secrets.token_bytes(SALT_BYTES)
        row: dict[str, Any] = {
            "account": account,
            "scope": scope.value,
            "kdf": self._kdf,
            "salt": salt.hex(),
            "digest": _kdf(secret, salt, self._kdf).hex(),
            "created_at": now or datetime.now(UTC),
            "revoked_at": None,
        }
        with self._engine.begin() as conn:
            inserted = conn.execute(sa.insert(api_keys).values(**row)).inserted_primary_key
        if inserted is None:  # pragma: no cover - both backends return the new id
            raise XmarginError("the key store did not return the new key's id")
        key_id = int(inserted[0])
        return NewKey(key_id, f"xm{key_id}_{secret}", account, scope)

    def revoke(self, key_id: int, *, now: datetime | None = None) -> bool:
        """Revoke key ``key_id``; False if there is no such key or it was already revoked."""
        if isinstance(key_id, bool) or not isinstance(key_id, int) or key_id < 1:
            raise InputError(where="KEY_ID", expected="a key id (a positive integer)", found=key_id)
        stmt = (
            sa.update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now or datetime.now(UTC))
        )
        with self._engine.begin() as conn:
            done = conn.execute(stmt).rowcount == 1
        self._verified.pop(key_id, None)
        return done

    def revoked(self, presented: str) -> bool:
        """True iff ``presented`` is a well-formed key with the right secret whose row was revoked (the
        stream closes with a distinct code for it)."""
        m = KEY_RE.fullmatch(presented)
        if m is None:
            return False
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == int(m.group(1)))).first()
        if row is None or row.revoked_at is None:
            return False
        try:
            digest = _kdf(m.group(2), bytes.fromhex(row.salt), row.kdf)
        except InputError:
            return False
        return hmac.compare_digest(digest, bytes.fromhex(row.digest))

    def check(self, presented: str) -> ApiKey | None:
        """The key ``presented`` stands for, or None (malformed, unknown, revoked or a wrong secret)."""
        m = KEY_RE.fullmatch(presented)
        if m is None:
            return None
        key_id, secret = int(m.group(1)), m.group(2)
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None or row.revoked_at is not None:
            return None
        tag = hmac.digest(self._pepper, presented.encode(), "sha256")
        known = self._verified.get(key_id)
        if known is None or not hmac.compare_digest(known, tag):
            try:
                digest = _kdf(secret, bytes.fromhex(row.salt), row.kdf)
            except InputError:  # a stored row the service did not write: a fault, not the caller's input
                raise XmarginError(f"api_keys row {key_id}: malformed kdf setting") from None
            if not hmac.compare_digest(digest, bytes.fromhex(row.digest)):
                return None
            self._verified[key_id] = tag
        return ApiKey(key_id, str(row.account), Scope(row.scope))
