"""The published roots: ``GET /v1/roots``, the two commitments a venue publishes so that anyone can check it.

- ``chain_root``: the root over every account's event hash chain (``xmargin ledger verify`` prints the same),
  which fixes the whole history of the ledger;
- ``liabilities_root``: the proof-of-liabilities Merkle sum tree's root over the customer balances per asset
  (``xmargin ledger liabilities`` prints the same; docs/ledger.md), with the totals it commits to. A client
  checks its own inclusion with ``GET /v1/accounts/{account}/liabilities-proof`` and ``xmargin ledger
  verify-proof PROOF --root ROOT``.

Both are computed only over a hash chain that verifies (else 503 naming the break), as the CLI refuses to.
They cost a fold of every event, so they are kept (:class:`RootsCache`) while the account rows' versions and
chain heads stand: one query of the account rows per request, and a new fold after any write. (An edit made
behind the ledger's back that leaves the account rows alone is found by the next fold, at the next write, or
at once by ``xmargin ledger verify``.) Any valid key may read the roots: they are published.

(No ``from __future__ import annotations``: FastAPI reads the routes' annotations.)
"""

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI

from xmargin.core import SCHEMA_VERSION
from xmargin.ledger import Ledger, LiabilitiesTree
from xmargin.service._access import Access
from xmargin.service._dashboard_models import error_responses
from xmargin.service._errors import ServiceError
from xmargin.service._keys import ApiKey
from xmargin.service._models import ErrorBody


@dataclass(frozen=True, slots=True)
class PublishedRoots:
    """``GET /v1/roots``: the ledger's chain root and its proof-of-liabilities root, as of ``computed_at``."""

    chain_root: str
    events: int
    liabilities_root: str
    customer_accounts: int
    totals: dict[str, str]
    """Customer liabilities per asset (the sums at the liabilities root), decimal strings."""
    computed_at: str
    schema_version: int = SCHEMA_VERSION


class RootsCache:
    """The roots and the liabilities tree of the ledger as it stands, rebuilt when an account row changes."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._lock = threading.Lock()
        self._kept: tuple[str, PublishedRoots, LiabilitiesTree] | None = None

    def _digest(self) -> str:
        h = hashlib.blake2b(digest_size=32)
        for account, (version, head) in self._ledger.store.heads().items():
            h.update(f"{account}\0{version}\0{head or ''}\n".encode())
        return h.hexdigest()

    def current(self) -> tuple[PublishedRoots, LiabilitiesTree]:
        """The roots and the tree; 503 when the hash chain does not verify."""
        with self._lock:  # one fold at a time; concurrent askers of a changed ledger wait for it
            key = self._digest()
            if self._kept is not None and self._kept[0] == key:
                return self._kept[1], self._kept[2]
            chain = self._ledger.store.verify_chain()
            if chain.first_break is not None or chain.root is None:
                b = chain.first_break
                raise ServiceError(
                    503,
                    where="ledger",
                    expected="a hash chain that verifies",
                    found=b.problem if b is not None else "no chain root",
                )
            tree = self._ledger.liabilities_tree()
            roots = PublishedRoots(
                chain_root=chain.root,
                events=chain.events,
                liabilities_root=tree.root.hash,
                customer_accounts=len(tree.leaves),
                totals=tree.totals(),
                computed_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            )
            self._kept = (key, roots, tree)
            return roots, tree


def include_roots(app: FastAPI, ledger: Ledger, a: Access) -> RootsCache:
    """Register ``GET /v1/roots`` on ``app``; the cache it returns also serves the liabilities proofs."""
    cache = RootsCache(ledger)
    AnyKey = Annotated[ApiKey, Depends(a.key)]

    @app.get(
        "/v1/roots",
        response_model=PublishedRoots,
        responses={
            **error_responses(401, 429),
            503: {"model": ErrorBody, "description": "The ledger's hash chain does not verify"},
        },
        tags=["audit"],
    )
    def roots(_: AnyKey) -> PublishedRoots:
        """The published roots (module docstring): the hash chain's and the proof of liabilities'."""
        return cache.current()[0]

    return cache
