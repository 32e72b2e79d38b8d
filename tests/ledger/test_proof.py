"""Proof of liabilities (``ledger/_proof.py``): the root from hashes written out by hand, every account's
proof verifies and sums to the totals, venue books and negative balances are not liabilities, and forged or
mismatched proofs fail; the CLI commands and their exit codes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from xmargin.cli import app
from xmargin.ledger import Ledger, LiabilitiesTree, ProofStep, verify_proof

runner = CliRunner()
D = Decimal


def _h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_root_equals_the_hashes_written_out_by_hand() -> None:
    tree = LiabilitiesTree.build(
        {"a": ("n1", {"BTC": D("1.5")}), "b": ("n2", {"BTC": D("-2"), "USDC": D("10")}), "c": ("n3", {})}
    )
    leaf = {
        "a": _h(b'xmargin-pol-leaf["a","n1",[["BTC","1.5"],["USDC","0"]]]'),
        "b": _h(b'xmargin-pol-leaf["b","n2",[["BTC","0"],["USDC","10"]]]'),  # a debt is no liability
        "c": _h(b'xmargin-pol-leaf["c","n3",[["BTC","0"],["USDC","0"]]]'),
    }
    sums = {"a": (D("1.5"), D(0)), "b": (D(0), D(10)), "c": (D(0), D(0))}
    order = sorted(leaf, key=leaf.__getitem__)  # leaves are ordered by hash
    empty = _h(b"xmargin-pol-empty")

    def node(lh: str, rh: str, s: tuple[Decimal, Decimal]) -> str:
        body = json.dumps([["BTC", format(s[0].normalize(), "f")], ["USDC", format(s[1].normalize(), "f")]])
        return _h(b"xmargin-pol-node" + lh.encode() + rh.encode() + body.replace(" ", "").encode())

    s01 = tuple(x + y for x, y in zip(sums[order[0]], sums[order[1]], strict=True))
    n01 = node(leaf[order[0]], leaf[order[1]], s01)  # type: ignore[arg-type]
    n2e = node(leaf[order[2]], empty, sums[order[2]])
    root = node(n01, n2e, (D("1.5"), D(10)))
    assert tree.root.hash == root
    assert tree.totals() == {"BTC": "1.5", "USDC": "10"}


def _ledger(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with Ledger(url) as ledger:
        for i in range(7):
            ledger.deposit(f"acct{i}", "USDC", str(100 * (i + 1)))
            if i % 3 == 0:
                ledger.deposit(f"acct{i}", "BTC", "0.25")
        ledger.deposit("~insurance", "USDC", "1000000")
    return url


def test_every_proof_verifies_and_the_totals_are_the_customers_balances(tmp_path: Path) -> None:
    with Ledger(_ledger(tmp_path)) as ledger:
        tree = ledger.liabilities_tree()
    assert set(tree.leaves) == {f"acct{i}" for i in range(7)}  # the insurance fund is the venue's own
    assert tree.totals() == {"BTC": "0.75", "USDC": "2800"}
    for account in tree.leaves:
        proof = tree.proof(account)
        assert len(proof.path) == 3  # 7 leaves, padded to 8
        assert verify_proof(proof, root_hash=tree.root.hash).ok


def test_forged_proofs_fail(tmp_path: Path) -> None:
    with Ledger(_ledger(tmp_path)) as ledger:
        tree = ledger.liabilities_tree()
    proof = tree.proof("acct3")
    assert not verify_proof(replace(proof, liabilities={"BTC": "0.25", "USDC": "40"})).ok  # understated
    first = proof.path[0]
    negative = replace(first, sums={"BTC": "-1", "USDC": first.sums["USDC"]})
    check = verify_proof(replace(proof, path=(negative, *proof.path[1:])))
    assert not check.ok and "negative" in check.reason
    swapped = ProofStep("left" if first.side == "right" else "right", first.hash, first.sums)
    assert not verify_proof(replace(proof, path=(swapped, *proof.path[1:]))).ok
    assert not verify_proof(proof, root_hash="0" * 64).ok  # not under the published root
    assert verify_proof(proof).ok


def test_cli_liabilities_proof_and_verify_proof(tmp_path: Path) -> None:
    url = _ledger(tmp_path)
    db = url.removeprefix("sqlite:///")
    published = json.loads(runner.invoke(app, ["ledger", "liabilities", "--db", db, "--json"]).stdout)
    assert published["totals"] == {"BTC": "0.75", "USDC": "2800"} and published["accounts"] == 7
    out = runner.invoke(app, ["ledger", "proof", "acct2", "--db", db])
    assert out.exit_code == 0, out.output
    path = tmp_path / "proof.json"
    path.write_text(out.stdout)
    ok = runner.invoke(app, ["ledger", "verify-proof", str(path), "--root", published["root_hash"]])
    assert ok.exit_code == 0 and "valid" in ok.stdout
    wrong = runner.invoke(app, ["ledger", "verify-proof", str(path), "--root", "ab" * 32])
    assert wrong.exit_code == 1 and "invalid" in wrong.stdout
    path.write_text(out.stdout.replace('"nonce"', '"nonse"'))
    bad = runner.invoke(app, ["ledger", "verify-proof", str(path)])
    assert bad.exit_code == 2 and "nonce" in bad.output and "Traceback" not in bad.output
    unknown = runner.invoke(app, ["ledger", "proof", "nobody", "--db", db])
    assert unknown.exit_code == 2
    engine = sa.create_engine(url)  # a broken chain gets no tree
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE events SET created_at = '2020-01-01 00:00:00.000000' WHERE account = 'acct1'")
        )
    engine.dispose()
    broken = runner.invoke(app, ["ledger", "liabilities", "--db", db])
    assert broken.exit_code == 1 and "chain broken" in broken.stdout
