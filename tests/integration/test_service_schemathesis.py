"""schemathesis against the service's OpenAPI document (``/openapi.json``): for every operation, generated
requests (valid and invalid) never get a 5xx, and every answer has a status the document lists for the
operation, its declared content type, and a body that matches the declared schema.

Run in-process (schemathesis's ASGI transport over ``create_app``) on a temporary SQLite ledger with
``examples/market.yaml``, twice: with the venue's admin key (every account is reachable: generated paths
reach the handlers), and with alice's trade key on her own account (the path's ``account`` is pinned to
``alice``, so the read and write handlers run for a client key). Examples are bounded (``MAX_EXAMPLES``
per operation, derandomized) so the file runs in about 30 s; ``XMARGIN_SCHEMATHESIS_EXAMPLES=N`` runs N per
operation with random seeds (a longer hunt).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from xmargin.ledger import INSURANCE_ACCOUNT, Ledger
from xmargin.market import load_market
from xmargin.service import KeyStore, Scope, ServiceConfig, create_app

ROOT = Path(__file__).resolve().parents[2]
FAST_KDF = "scrypt:1024:8:1"
MAX_EXAMPLES = int(os.environ.get("XMARGIN_SCHEMATHESIS_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
VALID: dict[str, list[dict[str, Any]]] = {
    "POST /v1/accounts/{account}/deposits": [{"asset": "USDC", "amount": "250.5"}],
    "POST /v1/accounts/{account}/withdrawals": [{"asset": "USDC", "amount": "10"}],
    "POST /v1/accounts/{account}/trades": [
        {"instrument": "BTC_USDC-PERPETUAL", "size": "0.01", "price": "95000"},
        {"instrument": "BTC-PERPETUAL", "size": "-0.02", "price": "95000", "fee": "0.00001"},
    ],
    "POST /v1/accounts/{account}/whatif": [{"trades": [{"instrument": "BTC-PERPETUAL", "size": "0.1"}]}],
    "POST /v1/ticks": [{"prices": {"BTC": 94000.0}}],
    "POST /v1/margin": [
        {"portfolio": {"account": "p", "collateral": {"USDC": 50000.0}, "positions": {"BTC-PERPETUAL": -0.5}}}
    ],
}
"""Requests the service accepts, one example each beside the generated ones."""
SLOW = ("/backtest", "/replays", "/liabilities-proof", "/whatif", "/margin")
"""Operations that fold the whole ledger, run a replay or solve liquidation prices per call (about a second
each on this machine, docs/service.md): 3 examples each."""


class Served:
    def __init__(self, tmp: Path) -> None:
        self.ledger = Ledger(f"sqlite:///{tmp / 'ledger.db'}")
        keys = KeyStore(self.ledger.store, kdf=FAST_KDF)
        self.admin = keys.create("venue", Scope.ADMIN).key
        self.trade = keys.create("alice", Scope.TRADE).key
        market = load_market(ROOT / "examples" / "market.yaml")
        for account in ("alice", "bob", INSURANCE_ACCOUNT):
            self.ledger.deposit(account, "USDC", "100000")
        self.ledger.trade("alice", "BTC_USDC-PERPETUAL", "0.5", "95000", market=market)
        self.app = create_app(self.ledger, keys, market, ServiceConfig(liquidate=True))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(tmp_path_factory.mktemp("schemathesis"))
    yield s
    s.ledger.close()


def _fuzz(
    served: Served, key: str, *, pin_account: bool, only_accounts: bool = False
) -> Counter[tuple[str, int]]:
    """Every operation, positive and negative generation, ``MAX_EXAMPLES`` each; the answers' statuses
    per operation."""
    api = schemathesis.openapi.from_asgi("/openapi.json", served.app)
    ran: Counter[tuple[str, int]] = Counter()
    for result in api.get_all_operations():
        op = result.ok()
        if only_accounts and not op.path.startswith("/v1/accounts/{account}"):
            continue
        pinned = {"account": "alice"} if pin_account and "{account}" in op.path else None
        n = 3 if any(x in op.path for x in SLOW) else MAX_EXAMPLES
        header = {"X-API-Key": key}
        strategies = [
            (GenerationMode.POSITIVE, op.as_strategy(path_parameters=pinned, headers=header)),
            (GenerationMode.NEGATIVE, op.as_strategy(GenerationMode.NEGATIVE, path_parameters=pinned)),
        ]
        # bodies the service accepts, on an account it holds, so its 2xx answers are checked against their
        # schemas (a generated account name may be one the service refuses: then no 2xx would be seen)
        alice = {"account": "alice"} if "{account}" in op.path else None
        strategies += [
            (GenerationMode.POSITIVE, op.as_strategy(path_parameters=alice, headers=header, body=b))
            for b in VALID.get(op.label, [])
        ]
        for mode, strategy in strategies:

            @given(case=strategy)
            @settings(
                max_examples=n,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize="XMARGIN_SCHEMATHESIS_EXAMPLES" not in os.environ,
                database=None,
            )
            def run(case: Any) -> None:
                r = case.call_and_validate(headers={"X-API-Key": key}, checks=CHECKS, timeout=120)
                ran[case.operation.label, r.status_code] += 1

            try:
                run()
            except Unsatisfiable:  # nothing in the operation to make invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, op.label
    return ran


def test_admin_key(served: Served) -> None:
    ran = _fuzz(served, served.admin, pin_account=False)
    ok = {label for label, status in ran if status < 300}
    assert set(VALID) <= ok, sorted(ran.items())  # each 2xx schema was checked on an answer
    assert {label for label, status in ran if status == 422} >= set(VALID)


def test_trade_key_on_its_account(served: Served) -> None:
    ran = _fuzz(served, served.trade, pin_account=True, only_accounts=True)
    ok = {label for label, status in ran if status < 300}
    assert {"POST /v1/accounts/{account}/withdrawals", "POST /v1/accounts/{account}/trades"} <= ok
    assert ("POST /v1/accounts/{account}/deposits", 403) in ran  # deposits are the venue's
