"""Shards: several ``xmargin serve`` processes over one ledger database, each serving a fixed share of the
accounts (``xmargin serve --shard I/N``; ``0/1``, every account, by default).

**Which shard owns an account.** ``int(BLAKE2b-64(account as UTF-8), big-endian) mod N``: BLAKE2b (RFC
7693, Python's ``hashlib.blake2b`` with an 8-byte digest) is the same in every process and on every machine,
unlike Python's ``hash()``, which is salted per process (``PYTHONHASHSEED``). Every process of a venue must
be started with the same ``N``; changing ``N`` moves accounts between shards (each shard rebuilds its book
from the ledger at start, so a restart of all of them with a new ``N`` is enough: no data moves).

**What a shard serves.** A request under ``/v1/accounts/{account}`` for an account another shard owns is
answered **421 Misdirected Request** (RFC 9110 §15.5.20: "the request was directed at a server that is
unable or unwilling to produce an authoritative response for the target URI") before its key is checked
(the owner is public: anyone can compute it), with the error document and ``shard``: ``{"account",
"owner": J, "count": N, "this": I}``, so a client or a router can retry on shard ``J``. Every answer carries
the header ``X-Xmargin-Shard: I/N``; ``GET /v1/health`` says ``shard`` too, and the venue-wide routes
(``GET /v1/venue/accounts``, ``POST /v1/ticks``, ``WS /v1/stream``) cover this shard's accounts only.

**What a shard shares.** The ledger is the one source of truth and arbitrates every write (optimistic
per-account versions, the hash chain appended under the same rule: docs/service.md, "Shards"). A
liquidation on shard I may write to accounts of other shards (the insurance fund, ADL and socialized-loss
payers, the conversion desk): those writes go through the ledger like any other, and the owning shard sees
them at its next tick (its risk book re-reads the accounts whose version moved).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from xmargin.core import InputError

SHARD_HEADER = "X-Xmargin-Shard"
MAX_SHARDS = 1024
_SHARD_RE = re.compile(r"([0-9]{1,4})/([0-9]{1,4})")
_ACCOUNT_PATH = re.compile(r"^/v1/accounts/([^/]+)(?:/|$)")


def account_in_path(path: str) -> str | None:
    """The ``{account}`` of a (percent-decoded) path under ``/v1/accounts/{account}``, else None: the one
    rule by which a shard answers 421 and a router (``service/_router.py``) picks the owner."""
    m = _ACCOUNT_PATH.match(path)
    return None if m is None else m.group(1)


def shard_of(account: str, count: int) -> int:
    """The shard (0..count-1) that owns ``account`` (module docstring)."""
    digest = hashlib.blake2b(account.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (``0/1``: every account)."""

    index: int = 0
    count: int = 1

    def owner(self, account: str) -> int:
        return shard_of(account, self.count) if self.count > 1 else 0

    def owns(self, account: str) -> bool:
        return self.count == 1 or shard_of(account, self.count) == self.index

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


EVERY_ACCOUNT = Shard()
"""``0/1``: one process serves every account (the default)."""


def parse_shard(text: str, *, where: str = "--shard") -> Shard:
    """``I/N`` with ``0 <= I < N <= 1024``; else bad input."""
    m = _SHARD_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None or not 0 <= int(m.group(1)) < int(m.group(2)) <= MAX_SHARDS:
        raise InputError(
            where=where, expected=f"I/N with 0 <= I < N <= {MAX_SHARDS}, e.g. 0/2", found=str(text)[:40]
        )
    return Shard(int(m.group(1)), int(m.group(2)))


def install_shard(app: FastAPI, shard: Shard) -> None:
    """Answer 421 for another shard's accounts and label every answer with this shard (module docstring)."""
    label = shard.label

    @app.middleware("http")
    async def route_by_shard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        account = account_in_path(request.url.path) if shard.count > 1 else None
        if account is not None:
            owner = shard.owner(account)
            if owner != shard.index:
                return JSONResponse(
                    {
                        "error": {
                            "where": "path.account",
                            "expected": f"an account of shard {label} (this server)",
                            "found": f"{account[:64]}, owned by shard {owner}/{shard.count}",
                        },
                        "shard": {
                            "account": account[:64],
                            "owner": owner,
                            "count": shard.count,
                            "this": shard.index,
                        },
                    },
                    status_code=421,
                    headers={SHARD_HEADER: label},
                )
        response = await call_next(request)
        response.headers[SHARD_HEADER] = label
        return response
