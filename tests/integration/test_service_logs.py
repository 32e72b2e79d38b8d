"""The service's structured logs (service/_logging.py): one JSON line per request, tick and liquidation,
with the fields docs/service.md lists, and never a key (header, query string or anywhere in a line).

In-process (TestClient) with the real ``configure_logging`` handler on a string buffer; the real server's
log, uvicorn's own lines included, is checked by tests/integration/test_service_shutdown.py."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from xmargin.ledger import INSURANCE_ACCOUNT, Ledger
from xmargin.market import load_market
from xmargin.service import KeyStore, Scope, create_app
from xmargin.service._logging import check_logging, configure_logging, service_log

ROOT = Path(__file__).resolve().parents[2]
FAST_KDF = "scrypt:1024:8:1"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("json", "info", buf)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]  # each line must be one JSON object


def test_request_tick_and_liquidation_events_carry_their_fields_and_no_key(
    tmp_path: Path, captured: io.StringIO
) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    store = KeyStore(ledger.store, kdf=FAST_KDF)
    admin = store.create("venue", Scope.ADMIN)
    trader = store.create("alice", Scope.TRADE)
    ledger.deposit(INSURANCE_ACCOUNT, "USDC", "100000")
    client = TestClient(create_app(ledger, store, load_market(ROOT / "examples" / "market.yaml")))
    secrets = [admin.key, trader.key, admin.key.split("_", 1)[1], trader.key.split("_", 1)[1]]
    with client:
        h = {"X-API-Key": admin.key, "Idempotency-Key": "dep-1"}
        r = client.post("/v1/accounts/alice/deposits", headers=h, json={"asset": "USDC", "amount": "20000"})
        assert r.status_code == 201, r.text
        # long 1 BTC on 20,000 USDC: at 60,000 it is 15,000 short (tests/integration/test_service_ticks.py)
        t = {"instrument": "BTC_USDC-PERPETUAL", "size": "1", "price": "95000"}
        r = client.post("/v1/accounts/alice/trades", headers={"X-API-Key": trader.key}, json=t)
        assert r.status_code == 201, r.text
        assert client.get("/v1/accounts/bob", headers={"X-API-Key": trader.key}).status_code == 403
        assert client.get("/v1/accounts/alice", headers={"X-API-Key": "xm7_bad"}).status_code == 401
        # a key in an HTTP query is not read (401) and never logged
        assert client.get(f"/v1/accounts/alice?api_key={trader.key}").status_code == 401
        with client.websocket_connect(f"/v1/stream?api_key={trader.key}") as ws:
            assert ws.receive_json()["type"] == "hello"
        tick = client.post("/v1/ticks", headers={"X-API-Key": admin.key}, json={"prices": {"BTC": 60000.0}})
        assert tick.status_code == 200 and tick.json()["liquidated"] == ["alice"], tick.text
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/v1/stream?api_key=xm1_x") as ws:
            ws.receive_json()
    ledger.close()
    text = captured.getvalue()
    for s in secrets:
        assert s not in text
    events = lines(captured)
    requests = [e for e in events if e["event"] == "request"]
    for e in requests:
        assert e["level"] == "info" and e["logger"] == "xmargin.service" and e["timestamp"].endswith("Z")
        assert isinstance(e["latency_ms"], float) and 0 <= e["latency_ms"] < 60_000
    seen = [(e["method"], e["path"], e["status"], e["key_id"], e.get("account")) for e in requests]
    assert seen == [
        ("POST", "/v1/accounts/{account}/deposits", 201, admin.key_id, "alice"),
        ("POST", "/v1/accounts/{account}/trades", 201, trader.key_id, "alice"),
        ("GET", "/v1/accounts/{account}", 403, trader.key_id, "bob"),
        ("GET", "/v1/accounts/{account}", 401, 7, "alice"),
        ("GET", "/v1/accounts/{account}", 401, None, "alice"),
        ("WS", "/v1/stream", 1000, trader.key_id, None),
        ("POST", "/v1/ticks", 200, admin.key_id, None),
        ("WS", "/v1/stream", 4401, 1, None),
    ]
    (tick_event,) = [e for e in events if e["event"] == "tick"]
    assert tick_event["index"]["BTC"] == 60000.0 and tick_event["liquidated"] == 1
    assert tick_event["accounts"] == {"ok": 1, "margin_call": 0, "liquidatable": 0}  # after liquidating
    (liq,) = [e for e in events if e["event"] == "liquidation"]
    assert liq["account"] == "alice" and liq["fills"] == 1 and liq["level"] == "warning"


def test_any_line_with_a_key_is_redacted(captured: io.StringIO) -> None:
    key = "xm12_" + "A" * 43
    logging.getLogger("uvicorn.error").warning("client sent %s and /v1/stream?api_key=abc&x=1", key)
    service_log().info("request", note=[f"header {key}"], where={"q": "api_key=zzz"})
    first, second = lines(captured)
    assert first["event"] == "client sent REDACTED and /v1/stream?api_key=REDACTED&x=1"
    assert second["note"] == ["header REDACTED"] and second["where"] == {"q": "api_key=REDACTED"}
    assert "A" * 43 not in captured.getvalue() and "zzz" not in captured.getvalue()


def test_console_format_and_level(tmp_path: Path) -> None:
    buf = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("console", "warning", buf)
    try:
        service_log().info("request", path="/v1/health")
        service_log().warning("liquidation", account="alice")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    (line,) = buf.getvalue().splitlines()
    assert "liquidation" in line and "account=alice" in line and not line.startswith("{")
    assert check_logging("console", "DEBUG") == ("console", "debug")
    with pytest.raises(Exception, match="--log-format"):
        check_logging("xml", "info")
    with pytest.raises(Exception, match="--log-level"):
        check_logging("json", "loud")


def test_uvicorn_lines_are_rendered_even_after_uvicorn_installed_its_own_config() -> None:
    """An embedding program (or another test) that built a ``uvicorn.Config`` with its default log_config
    gave uvicorn's loggers their own handlers and stopped them at ``uvicorn``: ``configure_logging`` must
    route them to its handler again, rendered and redacted (seen in CI: the line bypassed the buffer)."""
    import logging.config

    import uvicorn.config

    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    buf = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("json", "info", buf)
    try:
        key = "xm7_" + "B" * 43
        logging.getLogger("uvicorn.error").warning("client sent %s", key)
        (line,) = lines(buf)
        assert line["logger"] == "uvicorn.error" and key not in buf.getvalue() and "REDACTED" in line["event"]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
