"""Proof of liabilities: a Merkle sum tree over the customer accounts' balances, and inclusion proofs.

The scheme is Maxwell's Merkle sum tree (G. Maxwell, "Proving your bitcoin reserves", 2014, as specified
with its known fixes in Z. Ji and K. Chalkias, "Generalized proof of liabilities", ACM CCS 2021, §3):

- a **leaf** per customer account (internal books such as ``~insurance`` are the venue's own, not
  liabilities): ``hash = SHA-256("xmargin-pol-leaf" ‖ JSON [account, nonce, liabilities])`` with its
  liabilities per asset = ``max(balance, 0)`` (a negative balance is a claim of the venue, never a negative
  liability that could hide another account's balance). ``nonce`` = SHA-256 of the account's hash-chain head
  (``ledger/_chain.py``): unguessable from outside, so a leaf does not reveal a balance, and it changes with
  every event of the account;
- an **inner node** sums its children per asset and hashes ``"xmargin-pol-node" ‖ left ‖ right ‖ sums``;
  a level of odd length is padded with an empty node (hash of ``"xmargin-pol-empty"``, sums zero), never by
  duplicating a node (which would count its sum twice);
- leaves are ordered by their hash, so the tree's shape says nothing about account names;
- the **root** (hash and sums per asset) is what the venue publishes: the sums are its total liabilities.

An inclusion proof is the account's leaf data and the sibling of each node on the path to the root (hash and
sums). ``verify_proof`` recomputes the path: every sibling's sums must be non-negative (Ji & Chalkias's fix:
a negative sibling would let a venue subtract one customer's balance from another's) and the recomputed root
must equal the published one. Amounts are exact decimal strings throughout.

What a sibling reveals: the total liabilities of a subtree next to the account's path, as in every Merkle sum
tree; xmargin does not split balances or add range proofs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from xmargin.core import SCHEMA_VERSION, InputError

LEAF, NODE, EMPTY = b"xmargin-pol-leaf", b"xmargin-pol-node", b"xmargin-pol-empty"
ZERO = Decimal(0)


def _amount(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise InputError(where=where, expected="a decimal amount as a string", found=text) from None
    if not value.is_finite():
        raise InputError(where=where, expected="a finite decimal amount", found=text)
    return value


def _sums_bytes(assets: Sequence[str], sums: Sequence[Decimal]) -> bytes:
    doc = [[a, format(s.normalize(), "f")] for a, s in zip(assets, sums, strict=True)]
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Node:
    hash: str
    sums: tuple[Decimal, ...]


def leaf_node(account: str, nonce: str, assets: Sequence[str], liabilities: Sequence[Decimal]) -> Node:
    body = json.dumps(
        [account, nonce, [[a, format(v.normalize(), "f")] for a, v in zip(assets, liabilities, strict=True)]],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return Node(hashlib.sha256(LEAF + body).hexdigest(), tuple(liabilities))


def inner_node(left: Node, right: Node, assets: Sequence[str]) -> Node:
    sums = tuple(a + b for a, b in zip(left.sums, right.sums, strict=True))
    data = NODE + left.hash.encode() + right.hash.encode() + _sums_bytes(assets, sums)
    return Node(hashlib.sha256(data).hexdigest(), sums)


def empty_node(n_assets: int) -> Node:
    return Node(hashlib.sha256(EMPTY).hexdigest(), (ZERO,) * n_assets)


@dataclass(frozen=True, slots=True)
class ProofStep:
    """A sibling on the path to the root: on which side it sits, its hash and its sums per asset."""

    side: Literal["left", "right"]
    hash: str
    sums: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class LiabilitiesProof:
    """One account's inclusion proof (``xmargin ledger proof``; checked by ``xmargin ledger verify-proof``)."""

    account: str
    nonce: str
    assets: tuple[str, ...]
    liabilities: Mapping[str, str]
    path: tuple[ProofStep, ...]
    root_hash: str
    root_sums: Mapping[str, str]
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class LiabilitiesTree:
    """The tree over every customer account: its levels (leaves first) and where each account's leaf is."""

    assets: tuple[str, ...]
    levels: tuple[tuple[Node, ...], ...]
    leaves: Mapping[str, tuple[int, str, tuple[Decimal, ...]]]
    """account → (leaf index, nonce, liabilities)"""

    @property
    def root(self) -> Node:
        return self.levels[-1][0]

    @staticmethod
    def build(accounts: Mapping[str, tuple[str, Mapping[str, Decimal]]]) -> LiabilitiesTree:
        """``accounts``: account → (nonce, balances per asset)."""
        assets = tuple(sorted({a for _, bal in accounts.values() for a in bal}))
        rows = []
        for account, (nonce, balances) in accounts.items():
            owed = tuple(max(balances.get(a, ZERO), ZERO) for a in assets)
            rows.append((leaf_node(account, nonce, assets, owed), account, nonce, owed))
        rows.sort(key=lambda r: r[0].hash)
        level: tuple[Node, ...] = tuple(r[0] for r in rows) or (empty_node(len(assets)),)
        leaves = {account: (i, nonce, owed) for i, (_, account, nonce, owed) in enumerate(rows)}
        levels = [level]
        while len(level) > 1:
            padded = level + ((empty_node(len(assets)),) if len(level) % 2 else ())
            level = tuple(inner_node(padded[i], padded[i + 1], assets) for i in range(0, len(padded), 2))
            levels.append(level)
        return LiabilitiesTree(assets, tuple(levels), leaves)

    def totals(self) -> dict[str, str]:
        return {a: format(s.normalize(), "f") for a, s in zip(self.assets, self.root.sums, strict=True)}

    def proof(self, account: str) -> LiabilitiesProof:
        if account not in self.leaves:
            raise InputError(where="account", expected="a customer account of the ledger", found=account)
        index, nonce, owed = self.leaves[account]
        steps = []
        for level in self.levels[:-1]:
            padded = level + ((empty_node(len(self.assets)),) if len(level) % 2 else ())
            sibling = padded[index ^ 1]
            steps.append(
                ProofStep(
                    "left" if index % 2 else "right",
                    sibling.hash,
                    {a: format(s.normalize(), "f") for a, s in zip(self.assets, sibling.sums, strict=True)},
                )
            )
            index //= 2
        return LiabilitiesProof(
            account=account,
            nonce=nonce,
            assets=self.assets,
            liabilities={a: format(v.normalize(), "f") for a, v in zip(self.assets, owed, strict=True)},
            path=tuple(steps),
            root_hash=self.root.hash,
            root_sums=self.totals(),
        )


@dataclass(frozen=True, slots=True)
class ProofCheck:
    ok: bool
    reason: str


def verify_proof(proof: LiabilitiesProof, *, root_hash: str | None = None) -> ProofCheck:
    """Recompute ``proof``'s path (module docstring); ``root_hash``: the published root to compare with
    (default: the one the proof carries, which only shows the proof is consistent)."""
    assets = proof.assets
    owed = tuple(_amount(proof.liabilities.get(a, "0"), f"liabilities.{a}") for a in assets)
    if any(v < 0 for v in owed):
        return ProofCheck(False, "the leaf has a negative liability")
    node = leaf_node(proof.account, proof.nonce, assets, owed)
    for k, step in enumerate(proof.path):
        sums = tuple(_amount(step.sums.get(a, "0"), f"path[{k}].sums.{a}") for a in assets)
        if any(s < 0 for s in sums):
            return ProofCheck(False, f"step {k}: a sibling with a negative sum")
        sibling = Node(step.hash, sums)
        node = inner_node(sibling, node, assets) if step.side == "left" else inner_node(node, sibling, assets)
    expected = root_hash if root_hash is not None else proof.root_hash
    if node.hash != expected:
        return ProofCheck(False, f"the path leads to root {node.hash[:16]}…, not {expected[:16]}…")
    claimed = tuple(_amount(proof.root_sums.get(a, "0"), f"root_sums.{a}") for a in assets)
    if node.sums != claimed:
        return ProofCheck(False, "the path's sums differ from the root's totals")
    return ProofCheck(True, f"included under root {node.hash}")


__all__ = ["LiabilitiesProof", "LiabilitiesTree", "ProofCheck", "ProofStep", "verify_proof"]
