"""The service's report cache (service/_reports.py): a report is reused only for the same account version
and the same market object, and the cache stays bounded; over HTTP, a write or a tick is seen at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from xmargin.ledger import INSURANCE_ACCOUNT, Ledger
from xmargin.market import MarketSnapshot, load_market
from xmargin.service import KeyStore, Scope, create_app
from xmargin.service._reports import ReportCache

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def market() -> MarketSnapshot:
    return load_market(ROOT / "examples" / "market.yaml")


def test_reused_only_for_the_same_version_and_market(market: MarketSnapshot) -> None:
    cache = ReportCache(max_entries=2)
    made: list[int] = []

    def make(n: int) -> Any:
        def go() -> Any:
            made.append(n)
            return n

        return go

    key = ("alice", "pm", "USD")
    assert cache.get(key, 1, market, make(1)) == 1
    assert cache.get(key, 1, market, make(2)) == 1  # same version, same market object: remembered
    assert cache.get(key, 2, market, make(3)) == 3  # a new event
    other = market.shifted("BTC", 1.0)  # an equal-looking but new market object (as a tick makes)
    assert cache.get(key, 2, other, make(4)) == 4
    assert made == [1, 3, 4] and (cache.hits, cache.misses) == (1, 3)
    cache.get(("bob", "pm", "USD"), 1, other, make(5))
    cache.get(("carol", "pm", "USD"), 1, other, make(6))
    assert len(cache) == 2  # alice, the least recently used, went first
    assert cache.get(key, 2, other, make(7)) == 7
    with pytest.raises(ValueError, match="max_entries"):
        ReportCache(0)


def test_a_write_and_a_tick_are_seen_at_once(tmp_path: Path, market: MarketSnapshot) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    keys = KeyStore(ledger.store, kdf="scrypt:1024:8:1")
    admin = {"X-API-Key": keys.create("venue", Scope.ADMIN).key}
    for account in ("alice", INSURANCE_ACCOUNT):
        ledger.deposit(account, "USDC", "100000")
    ledger.trade("alice", "BTC-PERPETUAL", "1", "95010", market=market)
    client = TestClient(create_app(ledger, keys, market))

    def margin() -> dict[str, Any]:
        r = client.get("/v1/accounts/alice/margin", headers=admin)
        assert r.status_code == 200
        return dict(r.json())

    first = margin()
    assert margin() == first
    r = client.post("/v1/accounts/alice/deposits", headers=admin, json={"asset": "USDC", "amount": "1000"})
    assert r.status_code == 201
    after_deposit = margin()
    assert after_deposit["margin_balance"] == pytest.approx(first["margin_balance"] + 1000.0, abs=1e-6)
    assert client.post("/v1/ticks", headers=admin, json={"prices": {"BTC": 90000.0}}).status_code == 200
    after_tick = margin()
    assert after_tick["equity"] < after_deposit["equity"]  # long BTC, BTC fell: seen without a restart
    ledger.close()


def test_whatif_before_is_the_kept_report_and_follows_writes_and_ticks(
    tmp_path: Path, market: MarketSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A what-if's ``before`` is the account's margin report (made once per account version and market): a
    second what-if does not make it again, and a trade or a tick gives a new one, equal to the new margin."""
    import xmargin.service._app as app_module

    made: list[str] = []
    real = app_module.account_report

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(args[1].account)
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "account_report", counted)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    keys = KeyStore(ledger.store, kdf="scrypt:1024:8:1")
    admin = {"X-API-Key": keys.create("venue", Scope.ADMIN).key}
    for account in ("alice", INSURANCE_ACCOUNT):
        ledger.deposit(account, "USDC", "100000")
    ledger.trade("alice", "BTC-PERPETUAL", "1", "95010", market=market)
    client = TestClient(create_app(ledger, keys, market))
    body = {"trades": [{"instrument": "BTC-PERPETUAL", "size": "0.5"}]}

    def whatif() -> dict[str, Any]:
        r = client.post("/v1/accounts/alice/whatif", headers=admin, json=body)
        assert r.status_code == 200
        return dict(r.json())

    def margin() -> dict[str, Any]:
        return dict(client.get("/v1/accounts/alice/margin", headers=admin).json())

    first = whatif()
    assert made == ["alice"]  # the before, made once
    again = whatif()
    assert made == ["alice"] and again == first  # kept: the same account version and market
    assert first["before"] == margin() and made == ["alice"]  # GET margin answers from the same entry
    r = client.post(
        "/v1/accounts/alice/trades",
        headers=admin,
        json={"instrument": "BTC-PERPETUAL", "size": "1", "price": "95010"},
    )
    assert r.status_code == 201
    traded = whatif()
    assert made == ["alice", "alice"]
    assert traded["before"]["maintenance_margin"] > first["before"]["maintenance_margin"]  # 2 BTC now, not 1
    assert traded["before"] == margin()
    assert client.post("/v1/ticks", headers=admin, json={"prices": {"BTC": 90000.0}}).status_code == 200
    ticked = whatif()
    assert made == ["alice", "alice", "alice"]
    assert ticked["before"]["equity"] < traded["before"]["equity"]  # long 2 BTC, BTC fell
    assert ticked["before"] == margin()
    ledger.close()


def test_whatif_report_takes_a_kept_before_only_of_the_same_account_and_market(
    market: MarketSnapshot,
) -> None:
    from xmargin.instruments import load_portfolio, parse_name
    from xmargin.margin import account_report, resolve_model, whatif_report
    from xmargin.risk import Trade

    model = resolve_model("pm")
    alice = load_portfolio(ROOT / "examples" / "portfolio.yaml")
    trades = [Trade(parse_name("BTC-PERPETUAL"), 0.5, None)]
    kept = account_report(model, alice, market)
    assert whatif_report(model, alice, trades, market, before=kept) == whatif_report(
        model, alice, trades, market
    )
    with pytest.raises(ValueError, match="another account, model, currency or market"):
        whatif_report(
            model, alice, trades, market, before=account_report(model, alice, market, currency="BTC")
        )
    with pytest.raises(ValueError, match="another account, model, currency or market"):
        whatif_report(resolve_model("cross"), alice, trades, market, before=kept)
