"""The service's HTTP API (FORMATS.md "Service") through FastAPI's TestClient on a temporary SQLite ledger:
the authorization matrix, idempotency, refusals, error shapes, the OpenAPI document, CORS, rate limits."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from xmargin.core import to_data
from xmargin.ledger import INSURANCE_ACCOUNT, Ledger
from xmargin.ledger._checks import to_portfolio
from xmargin.ledger._money import to_text
from xmargin.margin import account_report, get_model
from xmargin.market import MarketSnapshot, load_market
from xmargin.service import KeyStore, Scope, ServiceConfig, create_app, parse_rate_limit

ROOT = Path(__file__).resolve().parents[2]
MARGIN_SCHEMA = json.loads((ROOT / "src" / "xmargin" / "schemas" / "margin.json").read_text())
PORTFOLIO = {"account": "p", "collateral": {"USDC": 50000.0}, "positions": {"BTC-PERPETUAL": -0.5}}
_keys = itertools.count()
FAST_KDF = "scrypt:1024:8:1"
"""Cheaper hashing for the many keys these tests make (tests/unit/test_service_keys.py checks the default)."""


class Service:
    """The app, its ledger and one key per role: none, another account's trade key, alice's read and trade
    keys, and the venue's admin key."""

    def __init__(self, tmp: Path, market: MarketSnapshot | None, config: ServiceConfig | None = None) -> None:
        self.ledger = Ledger(f"sqlite:///{tmp / 'ledger.db'}")
        self.store = KeyStore(self.ledger.store, kdf=FAST_KDF)
        self.keys: dict[str, str | None] = {
            "none": None,
            "other": self.store.create("bob", Scope.TRADE).key,
            "read": self.store.create("alice", Scope.READ).key,
            "trade": self.store.create("alice", Scope.TRADE).key,
            "admin": self.store.create("venue", Scope.ADMIN).key,
        }
        for account in ("alice", "bob", INSURANCE_ACCOUNT):
            self.ledger.deposit(account, "USDC", "100000")
        self.client = TestClient(create_app(self.ledger, self.store, market, config))

    def call(self, method: str, path: str, who: str, body: Any = None, idem: str | None = None) -> Any:
        headers = {}
        if self.keys[who] is not None:
            headers["X-API-Key"] = str(self.keys[who])
        if idem is not None:
            headers["Idempotency-Key"] = idem
        return self.client.request(method, path, headers=headers, json=body)


@pytest.fixture(scope="module")
def market() -> MarketSnapshot:
    return load_market(ROOT / "examples" / "market.yaml")


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory, market: MarketSnapshot) -> Iterator[Service]:
    s = Service(tmp_path_factory.mktemp("svc"), market)
    yield s
    s.ledger.close()


# -- the authorization matrix ---------------------------------------------------------------------------
WHO = ("none", "other", "read", "trade", "admin")
OWN_READ = (401, 403, 200, 200, 200)
ROUTES: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("GET", "/v1/health", None, (200, 200, 200, 200, 200)),
    ("GET", "/v1/accounts/alice", None, OWN_READ),
    ("GET", "/v1/accounts/alice/margin", None, OWN_READ),
    ("GET", "/v1/accounts/alice/margin?model=cross", None, OWN_READ),
    (
        "POST",
        "/v1/accounts/alice/whatif",
        {"trades": [{"instrument": "BTC-PERPETUAL", "size": "0.1"}]},
        OWN_READ,
    ),
    ("POST", "/v1/accounts/alice/deposits", {"asset": "USDC", "amount": "1"}, (401, 403, 403, 403, 201)),
    ("POST", "/v1/accounts/alice/withdrawals", {"asset": "USDC", "amount": "1"}, (401, 403, 403, 201, 201)),
    (
        "POST",
        "/v1/accounts/alice/trades",
        {"instrument": "BTC-PERPETUAL", "size": "0.01", "price": "95010"},
        (401, 403, 403, 201, 201),
    ),
    ("POST", "/v1/margin", {"portfolio": PORTFOLIO}, (401, 200, 200, 200, 200)),
    ("GET", "/v1/accounts/alice/liabilities-proof", None, OWN_READ),
    ("GET", "/v1/roots", None, (401, 200, 200, 200, 200)),  # published: any valid key
    # ticks are the venue's (a tick at the market's own index: nothing moves)
    ("POST", "/v1/ticks", {"prices": {"BTC": 95000.0}}, (401, 403, 403, 403, 200)),
    # the venue's internal account: an admin key only
    ("GET", f"/v1/accounts/{INSURANCE_ACCOUNT}", None, (401, 403, 403, 403, 200)),
    ("GET", f"/v1/accounts/{INSURANCE_ACCOUNT}/margin", None, (401, 403, 403, 403, 200)),
    (
        "POST",
        f"/v1/accounts/{INSURANCE_ACCOUNT}/deposits",
        {"asset": "USDC", "amount": "1"},
        (401, 403, 403, 403, 201),
    ),
    # the dashboard's reads (service/_dashboard.py, _venue.py, _replays.py)
    ("GET", "/v1/me", None, (401, 200, 200, 200, 200)),
    ("GET", "/v1/accounts/alice/risk-matrix", None, OWN_READ),
    ("GET", "/v1/instruments?q=perpetual", None, (401, 200, 200, 200, 200)),
    ("GET", "/v1/venue/accounts", None, (401, 403, 403, 403, 200)),
    ("GET", "/v1/replays", None, (401, 200, 200, 200, 200)),
    ("GET", "/v1/replays/2025-10-10?accounts=3", None, (401, 200, 200, 200, 200)),
    # bob holds only USDC (nothing here trades for him): nothing to backtest (422) once the key may read him
    ("GET", "/v1/accounts/bob/backtest", None, (401, 422, 403, 403, 422)),
    # another client's account: its own keys and admin only
    ("GET", "/v1/accounts/bob", None, (401, 200, 403, 403, 200)),
    ("POST", "/v1/accounts/bob/withdrawals", {"asset": "USDC", "amount": "1"}, (401, 201, 403, 403, 201)),
]
CASES = [
    pytest.param(method, path, body, who, status, id=f"{method} {path} {who}")
    for method, path, body, statuses in ROUTES
    for who, status in zip(WHO, statuses, strict=True)
]


@pytest.mark.parametrize(("method", "path", "body", "who", "status"), CASES)
def test_authorization_matrix(svc: Service, method: str, path: str, body: Any, who: str, status: int) -> None:
    idem = f"matrix-{next(_keys)}" if method == "POST" else None
    r = svc.call(method, path, who, body, idem)
    assert r.status_code == status, r.text
    if status >= 400:
        err = r.json()["error"]
        assert set(err) == {"where", "expected", "found"}
        if status in (401, 403):
            assert err["where"] == ("X-API-Key" if status == 401 else "account")


def test_every_route_is_in_the_matrix(svc: Service) -> None:
    """A route added later must join the matrix (FORMATS.md: every endpoint × every key)."""
    paths = {
        re.sub(
            r"/v1/replays/[^/?]+",
            "/v1/replays/{scenario}",
            re.sub(r"/v1/accounts/[^/?]+", "/v1/accounts/{account}", p.split("?")[0]),
        )
        for _, p, _, _ in ROUTES
    }
    assert set(svc.client.get("/openapi.json").json()["paths"]) == paths


def test_a_revoked_key_is_refused(tmp_path: Path, market: MarketSnapshot) -> None:
    s = Service(tmp_path, market)
    assert s.call("GET", "/v1/accounts/alice", "read").status_code == 200
    key_id = int(str(s.keys["read"]).split("_")[0].removeprefix("xm"))
    assert s.store.revoke(key_id)
    assert s.call("GET", "/v1/accounts/alice", "read").status_code == 401
    s.keys["read"] = str(s.keys["read"])[:-1] + ("A" if str(s.keys["read"])[-1] != "A" else "B")
    assert s.call("GET", "/v1/accounts/alice", "trade").status_code == 200
    s.keys["trade"] = str(s.keys["trade"])[:-2] + "xx"  # a wrong secret for a live key id
    assert s.call("GET", "/v1/accounts/alice", "trade").status_code == 401
    s.ledger.close()


# -- results ---------------------------------------------------------------------------------------------
def test_margin_is_the_margin_document(svc: Service, market: MarketSnapshot) -> None:
    r = svc.call("GET", "/v1/accounts/alice/margin?model=standard", "read")
    assert r.status_code == 200
    doc = r.json()
    jsonschema.validate(doc, MARGIN_SCHEMA)
    expected = to_data(account_report(get_model("standard"), to_portfolio(svc.ledger.state("alice")), market))
    assert doc == json.loads(json.dumps(expected))
    assert doc["model"] == "standard"


def test_whatif_has_before_and_writes_nothing(svc: Service) -> None:
    version = svc.ledger.state("alice").version
    body = {"trades": [{"instrument": "BTC-PERPETUAL", "size": "0.5", "price": "95010"}]}
    doc = svc.call("POST", "/v1/accounts/alice/whatif", "read", body).json()
    jsonschema.validate(doc, MARGIN_SCHEMA)
    assert doc["before"]["initial_margin"] < doc["initial_margin"]
    assert svc.ledger.state("alice").version == version


def test_stateless_margin_of_a_posted_portfolio(svc: Service) -> None:
    doc = svc.call("POST", "/v1/margin", "read", {"portfolio": PORTFOLIO, "model": "cross"}).json()
    jsonschema.validate(doc, MARGIN_SCHEMA)
    assert (doc["account"], doc["model"]) == ("p", "cross")
    assert doc["initial_margin"] > 0


def test_portfolio_has_exact_amounts(svc: Service) -> None:
    doc = svc.call("GET", "/v1/accounts/bob", "other").json()
    assert doc["account"] == "bob"
    state = svc.ledger.state("bob")
    assert doc["exact"]["collateral"]["USDC"] == to_text(state.balances["USDC"])
    assert doc["exact"]["collateral"]["USDC"].startswith(("99", "100000"))  # less any withdrawals so far
    assert doc["collateral"]["USDC"] == float(doc["exact"]["collateral"]["USDC"])
    assert doc["version"] == state.version


# -- idempotency -----------------------------------------------------------------------------------------
def test_same_key_same_body_replays_the_same_answer(svc: Service) -> None:
    before = svc.ledger.store.count_events()
    body = {"instrument": "BTC-PERPETUAL", "size": "0.02", "price": "95000"}
    first = svc.call("POST", "/v1/accounts/alice/trades", "trade", body, "replay-1")
    again = svc.call("POST", "/v1/accounts/alice/trades", "trade", body, "replay-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert svc.ledger.store.count_events() == before + 1


def test_same_key_other_body_is_422(svc: Service) -> None:
    body = {"asset": "USDC", "amount": "2"}
    assert svc.call("POST", "/v1/accounts/alice/withdrawals", "trade", body, "conflict-1").status_code == 201
    before = svc.ledger.store.count_events()
    r = svc.call("POST", "/v1/accounts/alice/withdrawals", "trade", {**body, "amount": "3"}, "conflict-1")
    assert r.status_code == 422
    assert r.json()["error"]["where"] == "header.Idempotency-Key"
    assert svc.ledger.store.count_events() == before


def test_idempotency_keys_are_per_account(svc: Service) -> None:
    body = {"asset": "USDC", "amount": "1"}
    a = svc.call("POST", "/v1/accounts/alice/withdrawals", "trade", body, "shared-key")
    b = svc.call("POST", "/v1/accounts/bob/withdrawals", "other", body, "shared-key")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["account"] == "alice" and b.json()["account"] == "bob"
    assert "idempotent-replayed" not in b.headers


def test_a_write_without_a_key_gets_one_that_replays(svc: Service) -> None:
    body = {"asset": "USDC", "amount": "1"}
    first = svc.call("POST", "/v1/accounts/alice/withdrawals", "trade", body)
    given = first.json()["idempotency_key"]
    again = svc.call("POST", "/v1/accounts/alice/withdrawals", "trade", body, given)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


# -- refusals and bad input -------------------------------------------------------------------------------
def test_unaffordable_trade_is_409_and_writes_nothing(svc: Service) -> None:
    before = svc.ledger.state("alice").version
    body = {"instrument": "BTC-PERPETUAL", "size": "100", "price": "95010"}
    r = svc.call("POST", "/v1/accounts/alice/trades", "trade", body, "too-big")
    assert r.status_code == 409
    doc = r.json()
    assert doc["error"]["where"] == "risk check"
    assert "available < 0" in doc["refused"]["reason"]
    assert doc["refused"]["available_after"] < 0
    assert svc.ledger.state("alice").version == before


def test_withdrawing_more_than_held_is_409(svc: Service) -> None:
    r = svc.call("POST", "/v1/accounts/alice/withdrawals", "trade", {"asset": "USDC", "amount": "1e9"})
    assert r.status_code == 409


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("POST", "/v1/accounts/alice/withdrawals", {"asset": "USDC", "amount": "abc"}, "body.amount"),
        ("POST", "/v1/accounts/alice/withdrawals", {"asset": "USDC", "amount": 1.5}, "body.amount"),
        ("POST", "/v1/accounts/alice/withdrawals", {"amount": "1"}, "body.asset"),
        ("POST", "/v1/accounts/alice/withdrawals", {"asset": "USDC", "amount": "1", "x": 1}, "body.x"),
        ("POST", "/v1/accounts/alice/withdrawals", {"asset": "NOT A COIN", "amount": "1"}, "body.asset"),
        (
            "POST",
            "/v1/accounts/alice/trades",
            {"instrument": "BTC-XYZ", "size": "1", "price": "1"},
            "body.instrument",
        ),
        (
            "POST",
            "/v1/accounts/alice/trades",
            {"instrument": "BTC-PERPETUAL", "size": "0", "price": "1"},
            "body.size",
        ),
        ("POST", "/v1/accounts/alice/whatif", {"trades": []}, "body.trades"),
        (
            "POST",
            "/v1/accounts/alice/whatif",
            {"trades": [{"instrument": "BTC-PERPETUAL", "size": "x"}]},
            "body.trades.0.size",
        ),
        (
            "POST",
            "/v1/accounts/alice/whatif",
            {"trades": [{"instrument": "BTC-PERPETUAL", "size": "inf"}]},
            "body.trades.0.size",
        ),
        (
            "POST",
            "/v1/accounts/alice/whatif",
            {"trades": [{"instrument": "BTC-PERPETUAL", "size": "1_0"}]},
            "body.trades.0.size",
        ),
        ("GET", "/v1/accounts/alice/margin?model=/etc/passwd", None, "query.model"),
        ("POST", "/v1/margin", {"portfolio": {"positions": {"BTC-PERPETUAL": "1"}}}, "body.portfolio"),
        ("POST", "/v1/margin", {"portfolio": PORTFOLIO, "market": {"index": {}}}, "body.market"),
    ],
)
def test_bad_input_is_422_naming_where(svc: Service, method: str, path: str, body: Any, where: str) -> None:
    r = svc.call(method, path, "trade", body, f"bad-{next(_keys)}" if method == "POST" else None)
    assert r.status_code == 422, r.text
    doc = r.json()
    assert set(doc["error"]) == {"where", "expected", "found"}
    assert doc["error"]["where"].startswith(where), doc
    assert doc["error"]["expected"]


def test_malformed_json_and_idempotency_key_are_422(svc: Service) -> None:
    headers = {"X-API-Key": str(svc.keys["trade"]), "Content-Type": "application/json"}
    r = svc.client.post("/v1/accounts/alice/withdrawals", headers=headers, content=b"{not json")
    assert r.status_code == 422
    assert r.json()["error"]["where"].startswith("body")
    r = svc.call(
        "POST", "/v1/accounts/alice/withdrawals", "trade", {"asset": "USDC", "amount": "1"}, "x" * 101
    )
    assert (r.status_code, r.json()["error"]["where"]) == (422, "header.Idempotency-Key")


def test_without_a_market_margin_routes_are_503(tmp_path: Path) -> None:
    s = Service(tmp_path, None)
    r = s.call("GET", "/v1/accounts/alice/margin", "read")
    assert (r.status_code, r.json()["error"]["where"]) == (503, "market")
    assert s.call("GET", "/v1/accounts/alice", "read").status_code == 200
    assert s.call("GET", "/v1/health", "none").json()["market"] is None
    s.ledger.close()


# -- the OpenAPI document, CORS, rate limits -----------------------------------------------------------------
def test_openapi_describes_every_response(svc: Service) -> None:
    doc = svc.client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                assert schema, f"{method.upper()} {path} {status} has no schema"
    margin = doc["paths"]["/v1/accounts/{account}/margin"]["get"]["responses"]
    assert margin["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/MarginReport")
    assert margin["403"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


def test_cors_is_closed_by_default(svc: Service, tmp_path: Path, market: MarketSnapshot) -> None:
    preflight = {
        "Origin": "https://elsewhere.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "X-API-Key",
    }
    r = svc.client.options("/v1/accounts/alice", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    r = svc.call("GET", "/v1/health", "none")
    assert "access-control-allow-origin" not in r.headers
    opened = Service(tmp_path, market, ServiceConfig(cors_origins=("https://elsewhere.example",)))
    r = opened.client.options("/v1/accounts/alice", headers=preflight)
    assert r.headers["access-control-allow-origin"] == "https://elsewhere.example"
    opened.ledger.close()


def test_rate_limit_per_key(tmp_path: Path, market: MarketSnapshot) -> None:
    s = Service(tmp_path, market, ServiceConfig(rate_limit=parse_rate_limit("3/minute")))
    codes = [s.call("GET", "/v1/accounts/alice", "read").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = s.call("GET", "/v1/accounts/alice", "read")
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["where"] == "X-API-Key"
    assert s.call("GET", "/v1/accounts/alice", "trade").status_code == 200  # another key, its own budget
    s.ledger.close()


def test_an_internal_fault_is_500_without_its_detail(
    tmp_path: Path, market: MarketSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Service(tmp_path, market)

    def broken(account: str) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(s.ledger, "state", broken)
    client = TestClient(s.client.app, raise_server_exceptions=False)
    r = client.get("/v1/accounts/alice", headers={"X-API-Key": str(s.keys["read"])})
    assert r.status_code == 500
    assert r.json()["error"] == {
        "where": "server",
        "expected": "no internal fault",
        "found": "RuntimeError (see the server's log)",
    }
    assert "secret internals" not in r.text and "Traceback" not in r.text
    s.ledger.close()


def test_the_service_on_postgresql(market: MarketSnapshot) -> None:
    """The same ledger and key store on PostgreSQL (migration 0003 included); skipped without a server."""
    from tests.ledger.conftest import drop_pg_schema, new_pg_schema

    schema, url = new_pg_schema()
    try:
        with Ledger(url) as ledger:
            keys = KeyStore(ledger.store)
            admin, alice = keys.create("venue", Scope.ADMIN), keys.create("alice", Scope.TRADE)
            client = TestClient(create_app(ledger, keys, market))
            body = {"asset": "USDC", "amount": "1000.5"}
            headers = {"X-API-Key": admin.key, "Idempotency-Key": "pg-1"}
            first = client.post("/v1/accounts/alice/deposits", headers=headers, json=body)
            again = client.post("/v1/accounts/alice/deposits", headers=headers, json=body)
            assert (first.status_code, again.json()) == (201, first.json())
            assert again.headers["idempotent-replayed"] == "true"
            read = client.get("/v1/accounts/alice", headers={"X-API-Key": alice.key}).json()
            assert read["exact"]["collateral"] == {"USDC": "1000.500000"}
            assert keys.revoke(alice.key_id)
            assert client.get("/v1/accounts/alice", headers={"X-API-Key": alice.key}).status_code == 401
    finally:
        drop_pg_schema(schema)


def test_parallel_trades_only_the_affordable_ones_pass(tmp_path: Path, market: MarketSnapshot) -> None:
    """Six parallel 1-BTC buys on an account that can afford two: exactly two 201s, four 409s (the ledger
    checks each trade on the state it is appended to)."""
    s = Service(tmp_path, market)
    s.ledger.deposit("carol", "USDC", "40000")
    admin = str(s.keys["admin"])
    buys = {"instrument": "BTC-PERPETUAL", "size": "1", "price": "95010"}

    def whatif(n: int) -> float:
        body = {"trades": [{**buys, "size": str(n)}]}
        return float(s.call("POST", "/v1/accounts/carol/whatif", "admin", body).json()["available"])

    assert whatif(2) >= 0 > whatif(3)  # the premise: two fit, three do not
    barrier = threading.Barrier(6)

    def buy(i: int) -> int:
        client = TestClient(s.client.app)
        barrier.wait(timeout=10)
        headers = {"X-API-Key": admin, "Idempotency-Key": f"race-{i}"}
        return client.post("/v1/accounts/carol/trades", headers=headers, json=buys).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = sorted(pool.map(buy, range(6)))
    assert codes == [201, 201, 409, 409, 409, 409]
    assert s.ledger.replay("carol").positions["BTC-PERPETUAL"].size == 2
    s.ledger.close()


def test_a_restart_serves_the_same_state(tmp_path: Path, market: MarketSnapshot) -> None:
    """The ledger is the only state: a new app on the same database answers as the old one did."""
    s = Service(tmp_path, market)
    body = {"instrument": "BTC-PERPETUAL", "size": "-0.3", "price": "95010"}
    assert s.call("POST", "/v1/accounts/alice/trades", "trade", body, "restart-1").status_code == 201
    before = [s.call("GET", p, "read").json() for p in ("/v1/accounts/alice", "/v1/accounts/alice/margin")]
    s.ledger.close()
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        client = TestClient(create_app(ledger, KeyStore(ledger.store), market))
        headers = {"X-API-Key": str(s.keys["read"])}
        after = [
            client.get(p, headers=headers).json() for p in ("/v1/accounts/alice", "/v1/accounts/alice/margin")
        ]
        assert after == before
        assert after[0]["exact"]["positions"]["BTC-PERPETUAL"]["size"] == "-0.3"
        replay = client.post(
            "/v1/accounts/alice/trades",
            headers={"X-API-Key": str(s.keys["trade"]), "Idempotency-Key": "restart-1"},
            json=body,
        )
        assert replay.headers["idempotent-replayed"] == "true"


def test_the_operator_may_name_a_preset_file_a_request_may_not(
    tmp_path: Path, market: MarketSnapshot
) -> None:
    preset = ROOT / "src" / "xmargin" / "margin" / "presets" / "cross-binance.yaml"
    s = Service(tmp_path, market, ServiceConfig(model=str(preset)))
    doc = s.call("GET", "/v1/accounts/alice/margin", "read").json()
    assert (doc["model"], doc["preset"]) == ("cross", "cross-binance")
    r = s.call("GET", f"/v1/accounts/alice/margin?model={preset}", "read")
    assert (r.status_code, r.json()["error"]["where"]) == (422, "query.model")
    s.ledger.close()


def test_liabilities_proof_verifies_against_the_published_root(svc: Service) -> None:
    from pydantic import TypeAdapter

    from xmargin.ledger import LiabilitiesProof, verify_proof

    doc = svc.call("GET", "/v1/accounts/alice/liabilities-proof", "read").json()
    proof = TypeAdapter(LiabilitiesProof).validate_python(doc)
    published = svc.ledger.liabilities_tree().root.hash  # what the venue publishes
    assert proof.account == "alice" and verify_proof(proof, root_hash=published).ok
    assert INSURANCE_ACCOUNT not in svc.ledger.liabilities_tree().leaves
    # the insurance fund is the venue's own: no proof for it, even for an admin key
    assert svc.call("GET", f"/v1/accounts/{INSURANCE_ACCOUNT}/liabilities-proof", "admin").status_code == 422


def test_published_roots_are_the_ledgers_and_follow_its_writes(
    tmp_path: Path, market: MarketSnapshot
) -> None:
    """``GET /v1/roots`` gives what ``xmargin ledger verify`` and ``xmargin ledger liabilities`` compute (the
    chain root; the liabilities root and totals), a client's proof verifies against it, a write gives new
    roots, and an edited event is refused (503) once the roots are computed again."""
    import sqlalchemy as sa
    from pydantic import TypeAdapter

    from xmargin.ledger import LiabilitiesProof, verify_proof
    from xmargin.ledger._schema import events

    s = Service(tmp_path, market)
    first = s.call("GET", "/v1/roots", "read").json()
    assert first["chain_root"] == s.ledger.store.verify_chain().root
    tree = s.ledger.liabilities_tree()
    assert (first["liabilities_root"], first["totals"]) == (tree.root.hash, tree.totals())
    assert first["customer_accounts"] == 2 and first["totals"] == {
        "USDC": "200000"
    }  # alice, bob; not ~insurance
    assert s.call("GET", "/v1/roots", "other").json() == first  # kept: nothing was written
    proof = TypeAdapter(LiabilitiesProof).validate_python(
        s.call("GET", "/v1/accounts/alice/liabilities-proof", "read").json()
    )
    assert verify_proof(proof, root_hash=first["liabilities_root"]).ok
    assert (
        s.call("POST", "/v1/accounts/alice/deposits", "admin", {"asset": "USDC", "amount": "5"}).status_code
        == 201
    )
    second = s.call("GET", "/v1/roots", "read").json()
    assert second["chain_root"] != first["chain_root"] and second["events"] == first["events"] + 1
    assert second["totals"] == {"USDC": "200005"}
    assert not verify_proof(
        proof, root_hash=second["liabilities_root"]
    ).ok  # the old proof is of the old root
    with s.ledger.store.engine.begin() as conn:  # an amount edited behind the ledger's back
        last = conn.execute(sa.select(sa.func.max(events.c.id))).scalar()
        payload = dict(conn.execute(sa.select(events.c.payload).where(events.c.id == last)).scalar_one())
        payload["amount"] = "5000"
        conn.execute(sa.update(events).where(events.c.id == last).values(payload=payload))
    s.ledger.deposit("bob", "USDC", "1")  # any write makes the service compute the roots again
    r = s.call("GET", "/v1/roots", "read")
    assert r.status_code == 503 and r.json()["error"]["where"] == "ledger"
    assert s.call("GET", "/v1/accounts/alice/liabilities-proof", "read").status_code == 503
    s.ledger.close()
