"""Who may do what: the ``X-API-Key`` header checked against the key store, the per-key rate limit, and the
account checks, as FastAPI dependencies (one place to audit; routes only declare what they need).

======================  ===========================  =================================
route                   needs                        otherwise
======================  ===========================  =================================
``GET /v1/health``      nothing                      -
``POST /v1/margin``     any valid key                401
account reads, what-if  ``read`` of that account     401 / 403
withdrawals, trades     ``trade`` of that account    401 / 403
deposits                ``admin``                    401 / 403
======================  ===========================  =================================

An ``admin`` key reaches every account, the venue's internal ones (``~insurance``) included; no other key
reaches them. Deposits credit collateral that came from outside the ledger, so only the venue (an admin
key) may record one: a trader's key crediting itself would create money.

The rate limit (``limits``, a moving window in memory, per key id) is counted for every authenticated
request; past it the answer is 429 with ``Retry-After``.

(No ``from __future__ import annotations``: FastAPI evaluates the dependencies' annotations, which name
closures of :func:`access`.)
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path
from fastapi.security import APIKeyHeader
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from xmargin.core import InputError
from xmargin.service._errors import ServiceError
from xmargin.service._keys import ApiKey, KeyStore, Scope

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A key from `xmargin keys create` (shown once)"
)
AccountPath = Annotated[str, Path(description="Account id (the venue's internal accounts start with ~)")]


def parse_rate_limit(text: str | None) -> RateLimitItem | None:
    """``"100/second"``, ``"6000 per minute"`` (``limits`` notation) or None / ``"none"`` for no limit."""
    if text is None or text.strip().lower() in ("", "none", "off"):
        return None
    try:
        return parse(text)
    except ValueError:
        raise InputError(
            where="--rate-limit", expected="N/second, N/minute, N/hour ... or none", found=text
        ) from None


def _unauthorized(found: str) -> ServiceError:
    return ServiceError(
        401,
        where="X-API-Key",
        expected="a valid API key (xmargin keys create)",
        found=found,
        headers={"WWW-Authenticate": "X-API-Key"},
    )


def _forbidden(key: ApiKey, account: str, needs: str) -> ServiceError:
    return ServiceError(
        403,
        where="account",
        expected=f"{needs} (this key: {key.scope.value} on {key.account})",
        found=account,
    )


@dataclass(frozen=True, slots=True)
class Access:
    """The dependencies of the routes, bound to one key store and one rate limit (:func:`access`)."""

    key: Callable[..., ApiKey]
    reader: Callable[..., ApiKey]
    trader: Callable[..., ApiKey]
    admin: Callable[..., ApiKey]


def access(keys: KeyStore, rate_limit: RateLimitItem | None) -> Access:
    limiter = MovingWindowRateLimiter(MemoryStorage()) if rate_limit is not None else None

    def key(presented: Annotated[str | None, Depends(API_KEY_HEADER)]) -> ApiKey:
        """The request's key (401 without a valid one; 429 past its rate limit)."""
        if not presented:
            raise _unauthorized("no key")
        found = keys.check(presented)
        if found is None:
            raise _unauthorized("an unknown, revoked or malformed key")
        if limiter is not None and rate_limit is not None:
            ident = str(found.key_id)
            if not limiter.hit(rate_limit, "key", ident):
                reset = limiter.get_window_stats(rate_limit, "key", ident).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                raise ServiceError(
                    429,
                    where="X-API-Key",
                    expected=f"at most {rate_limit} requests per key",
                    found=f"more (retry in {wait} s)",
                    headers={"Retry-After": str(wait)},
                )
        return found

    def reader(account: AccountPath, k: Annotated[ApiKey, Depends(key)]) -> ApiKey:
        if not k.may_read(account):
            raise _forbidden(k, account, "an account this key may read")
        return k

    def trader(account: AccountPath, k: Annotated[ApiKey, Depends(key)]) -> ApiKey:
        if not k.may_write(account):
            raise _forbidden(k, account, "an account this key may trade (a trade key of it, or admin)")
        return k

    def admin(account: AccountPath, k: Annotated[ApiKey, Depends(key)]) -> ApiKey:
        if k.scope is not Scope.ADMIN:
            raise _forbidden(k, account, "an admin key (deposits are recorded by the venue)")
        return k

    return Access(key, reader, trader, admin)
