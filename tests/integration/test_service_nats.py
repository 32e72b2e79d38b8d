"""Ticks in and alerts out over the real NATS server on 127.0.0.1:4222 (docs/service.md "NATS"): the app runs
in FastAPI's TestClient (its lifespan connects), the test talks to it with nats-py. Subjects take a prefix
unique to the test, so other users of the server do not interfere. Every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from xmargin.core import InputError
from xmargin.ledger import INSURANCE_ACCOUNT, Ledger
from xmargin.market import load_market
from xmargin.service import KeyStore, ServiceConfig, create_app
from xmargin.service._nats import check_nats

NATS = "nats://127.0.0.1:4222"
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 5.0


def _reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _reachable(), reason="no NATS server on 127.0.0.1:4222 (CI runs one)")


async def _scenario(prefix: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    import nats

    nc = await nats.connect(NATS, connect_timeout=2)
    alerts: list[dict[str, Any]] = []
    sub = await nc.subscribe(f"{prefix}.alerts")
    replies = []
    for payload in (
        b'{"price": 90000.0}',
        b'{"price": "cheap"}',
        b"not json",
        b'{"price": 91000.0, "time": "2026-11-25T07:00:00Z"}',
        b'{"price": 60000.0, "time": "2026-11-25T08:00:01Z"}',
    ):
        msg = await nc.request(f"{prefix}.ticks.BTC", payload, timeout=TIMEOUT_S)
        replies.append(json.loads(msg.data))
    unknown = await nc.request(f"{prefix}.ticks.DOGE", b'{"price": 0.1}', timeout=TIMEOUT_S)
    replies.append(json.loads(unknown.data))
    while True:
        try:
            m = await sub.next_msg(timeout=1.0)
        except TimeoutError:
            break
        alerts.append(json.loads(m.data))
    await nc.close()
    return replies, alerts


def test_ticks_in_and_alerts_out_over_nats(tmp_path: Path) -> None:
    market = load_market(ROOT / "examples" / "market.yaml")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    keys = KeyStore(ledger.store, kdf="scrypt:1024:8:1")
    for account, amount in (("alice", "20000"), ("bob", "100000"), (INSURANCE_ACCOUNT, "1000")):
        ledger.deposit(account, "USDC", amount)
    ledger.trade("alice", "BTC_USDC-PERPETUAL", "1", "95000", market=market)
    ledger.trade("bob", "BTC_USDC-PERPETUAL", "-1", "95000", market=market)
    prefix = f"xmtest-{uuid.uuid4().hex[:12]}"
    config = ServiceConfig(nats_url=NATS, nats_prefix=prefix)
    with TestClient(create_app(ledger, keys, market, config)) as c:
        replies, alerts = asyncio.run(asyncio.wait_for(_scenario(prefix), timeout=30))
        assert c.get("/v1/health").json()["market"] == "2026-11-25T08:00:01Z"
    ok, bad_price, bad_json, backwards, crash, unknown = replies
    assert ok["accepted"] and ok["changed"] == ["alice"]
    assert bad_price["error"]["where"] == f"nats {prefix}.ticks.BTC.prices.BTC"
    assert bad_json["error"]["where"] == f"nats {prefix}.ticks.BTC"
    assert backwards["error"]["where"] == f"nats {prefix}.ticks.BTC.time"
    assert crash["liquidated"] == ["alice"]
    assert unknown["error"]["where"] == f"nats {prefix}.ticks.DOGE.prices.DOGE"
    kinds = [(a["type"], a.get("status")) for a in alerts]
    assert "tick" not in {t for t, _ in kinds}  # ticks are not republished
    assert kinds[:2] == [("status", "margin_call"), ("alert", None)]
    liq = next(a for a in alerts if a["type"] == "liquidation")
    # alice: 20000 + (60000 - 95000) = -15000; the fund pays 1000, bob's profit 35000 covers 14000 by ADL
    assert (liq["bad_debt_usd"], liq["insurance_fund_used_usd"], liq["adl_usd"]) == pytest.approx(
        (15000.0, 1000.0, 14000.0)
    )
    totals = ledger.venue_totals()
    assert totals.conservation_gap() == {} and totals.bad_debt_gap() == {}
    ledger.close()


def test_check_nats_names_a_bad_or_silent_server() -> None:
    with pytest.raises(InputError) as exc:
        check_nats("http://127.0.0.1:4222")
    assert exc.value.where == "--nats"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nobody listens there
    with pytest.raises(InputError) as exc:
        check_nats(f"nats://127.0.0.1:{port}")
    assert "answers" in exc.value.expected
    assert check_nats(NATS) == NATS
