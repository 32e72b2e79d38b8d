"""The router's app (``service/_router.py``) with its shards replaced by ``httpx.MockTransport`` handlers
(the real two-shard run is tests/integration/test_service_router.py):

- what a shard receives (method, raw path, query, key and idempotency headers, body) and what the client
  gets back (status, headers, body) are the same bytes; the owner is ``shard_of``'s;
- a shard that refuses the connection, times out, breaks the exchange or answers 421: 503, 504, 502, 502,
  each naming the shard; a stateless route skips a refusing shard;
- ticks and the venue's book fan out: merged when every shard accepts, one shard's refusal when all
  refuse alike, 502 naming each shard otherwise; the venue's book merged from the two shards' parts equals
  the whole book computed in one piece by ``venue_book`` (the shipped demo book on its Deribit chain);
- ``--shard-url`` values and the start check (each URL's health must say its position); ``xmargin route``
  with a bad or unreachable URL: one ``error:`` line, exit 2.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from xmargin.core import InputError
from xmargin.ledger import Ledger
from xmargin.margin import resolve_model
from xmargin.market import DEMO_SNAPSHOT, load_market, shipped_chain_path
from xmargin.service._demo import seed_demo
from xmargin.service._router import check_shards, create_router, parse_shard_urls
from xmargin.service._router_merge import merge_venue_books
from xmargin.service._shard import Shard, shard_of
from xmargin.service._venue import venue_book

URLS = ["http://shard0.test:8000", "http://shard1.test:8000"]
SHARDS = parse_shard_urls(URLS)
Handler = Callable[[httpx.Request], httpx.Response]


class _Body(httpx.AsyncByteStream):
    """A body the router reads as it comes, as from a socket (a ``content=`` one is read at once)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


def _answer(status: int, doc: Any, headers: list[tuple[str, str]] | None = None) -> httpx.Response:
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return httpx.Response(
        status, headers=[("content-type", "application/json"), *(headers or [])], stream=_Body(data)
    )


def _router(handler: Handler) -> TestClient:
    return TestClient(create_router(SHARDS, transport=httpx.MockTransport(handler)))


def _index(request: httpx.Request) -> int:
    return URLS.index(f"http://{request.url.host}:{request.url.port}")


def test_an_account_request_reaches_its_owner_byte_for_byte() -> None:
    seen: list[httpx.Request] = []

    def shard(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return _answer(
            409,
            b'{"error": {"where": "x"}}',
            [("x-xmargin-shard", f"{_index(request)}/2"), ("set-cookie", "a=1"), ("set-cookie", "b=2")],
        )

    for account in ("alice", "bob", "carol", "dave", "é x"):
        seen.clear()
        with _router(shard) as c:
            body = b'{"instrument": "BTC-PERPETUAL", "size": "0.1", "price": "95000"}'
            r = c.post(
                f"/v1/accounts/{httpx.URL(path=account).raw_path.decode()}/trades?model=cross&x=%2F",
                content=body,
                headers={"X-API-Key": "k1", "Idempotency-Key": "idem-1", "Content-Type": "application/json"},
            )
        assert len(seen) == 1
        sent = seen[0]
        assert _index(sent) == shard_of(account, 2)
        assert sent.method == "POST" and sent.content == body
        assert (
            sent.url.raw_path
            == f"/v1/accounts/{httpx.URL(path=account).raw_path.decode()}/trades?model=cross&x=%2F".encode()
        )
        assert (sent.headers["x-api-key"], sent.headers["idempotency-key"]) == ("k1", "idem-1")
        assert sent.headers["content-type"] == "application/json"
        assert sent.headers["host"] == f"shard{shard_of(account, 2)}.test:8000"
        assert r.status_code == 409 and r.content == b'{"error": {"where": "x"}}'
        assert r.headers["x-xmargin-shard"] == f"{shard_of(account, 2)}/2"
        assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (httpx.ConnectError("refused"), 503),
        (httpx.ReadTimeout("slow"), 504),
        (httpx.RemoteProtocolError("closed mid-answer"), 502),
        (None, 502),  # a 421: the shard's --shard changed since the router checked it
    ],
)
def test_a_shard_without_an_answer_is_named(fault: Exception | None, status: int) -> None:
    def shard(request: httpx.Request) -> httpx.Response:
        if fault is not None:
            raise fault
        return _answer(421, {"error": {}, "shard": {"owner": 0}})

    account = next(a for a in (f"a{i}" for i in range(100)) if shard_of(a, 2) == 1)
    with _router(shard) as c:
        r = c.get(f"/v1/accounts/{account}/margin")
    assert r.status_code == status
    doc = r.json()
    assert doc["error"]["where"] == f"shard 1/2 ({URLS[1]})"
    assert doc["shard"] == {"index": 1, "count": 2, "url": URLS[1]}


def test_a_stateless_route_skips_a_refusing_shard() -> None:
    def shard(request: httpx.Request) -> httpx.Response:
        if _index(request) == 0:
            raise httpx.ConnectError("refused")
        body = request.read()
        return _answer(200, {"from": _index(request), "body": json.loads(body) if body else None})

    with _router(shard) as c:
        answers = [c.post("/v1/margin", json={"portfolio": {"n": i}}) for i in range(4)]
        down = c.get("/v1/roots")
    assert [r.status_code for r in answers] == [200] * 4
    assert [r.json() for r in answers] == [{"from": 1, "body": {"portfolio": {"n": i}}} for i in range(4)]
    assert down.status_code == 200 and down.json() == {"from": 1, "body": None}
    assert c.get("/metrics").status_code == 404


def test_ticks_fan_out_and_merge() -> None:
    def accepts(request: httpx.Request) -> httpx.Response:
        i = _index(request)
        assert request.headers["idempotency-key"] == "t1"
        return httpx.Response(
            200, json={"accepted": True, "time": "T", "changed": [f"c{i}"], "liquidated": [f"l{i}"] * i}
        )

    with _router(accepts) as c:
        r = c.post("/v1/ticks", json={"prices": {"BTC": 1.0}}, headers={"Idempotency-Key": "t1"})
    assert r.status_code == 200
    assert r.json() == {"accepted": True, "time": "T", "changed": ["c0", "c1"], "liquidated": ["l1"]}

    def refuses(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"error": {"where": "body.prices", "shard": _index(request)}})

    with _router(refuses) as c:
        r = c.post("/v1/ticks", json={"prices": {}})
    assert r.status_code == 422 and r.json()["error"] == {"where": "body.prices", "shard": 0}

    def one_down(request: httpx.Request) -> httpx.Response:
        if _index(request) == 1:
            raise httpx.ConnectError("refused")
        return accepts(request)

    with _router(one_down) as c:
        r = c.post("/v1/ticks", json={"prices": {"BTC": 1.0}}, headers={"Idempotency-Key": "t1"})
    assert r.status_code == 502
    doc = r.json()
    assert [s["status"] for s in doc["shards"]] == [200, None]
    assert f"shard 1/2 ({URLS[1]}): ConnectError: refused" in doc["error"]["found"]


def test_health_names_a_shard_down() -> None:
    def shard(request: httpx.Request) -> httpx.Response:
        if _index(request) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"status": "ok", "shard": "0/2"})

    with _router(shard) as c:
        r = c.get("/v1/health")
    assert r.status_code == 503
    doc = r.json()
    assert doc["status"] == "degraded"
    assert [(s["shard"], s["status"]) for s in doc["shards"]] == [("0/2", "ok"), ("1/2", "down")]


def _approx(x: Any) -> Any:
    if isinstance(x, float):
        return pytest.approx(x, rel=1e-12, abs=1e-9)
    if isinstance(x, dict):
        return {k: _approx(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_approx(v) for v in x]
    return x


def test_the_venue_book_merged_from_two_shards_is_the_whole_book() -> None:
    market = load_market(f"{shipped_chain_path()}#{DEMO_SNAPSHOT}")
    with Ledger("sqlite://", ephemeral=True) as ledger:
        seed_demo(ledger, market, resolve_model("pm"))
        parts = [
            venue_book(ledger, "pm", market, owns=Shard(i, 2).owns).model_dump(mode="json") for i in (0, 1)
        ]
        whole = venue_book(ledger, "pm", market).model_dump(mode="json")
    assert all(p["accounts"] for p in parts)  # the six demo accounts fall on both shards
    merged = merge_venue_books(SHARDS, parts)
    assert merged == _approx(whole)

    def shard(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=parts[_index(request)])

    with _router(shard) as c:
        r = c.get("/v1/venue/accounts")
    assert r.status_code == 200 and r.json() == _approx(whole)


def test_shard_urls_and_the_start_check() -> None:
    for bad in (
        ["ftp://x:1"],
        ["http://x:1/v1"],
        ["http://u:p@x:1"],
        ["http://x:1?a=b"],
        [],
        URLS + URLS[:1],
    ):
        with pytest.raises(InputError):
            parse_shard_urls(bad)
    assert [s.url for s in parse_shard_urls(["http://x:1/", " https://y "])] == ["http://x:1", "https://y"]

    def says(labels: list[str]) -> httpx.MockTransport:
        return httpx.MockTransport(
            lambda r: httpx.Response(200, json={"status": "ok", "shard": labels[_index(r)]})
        )

    check_shards(SHARDS, transport=says(["0/2", "1/2"]))
    with pytest.raises(InputError) as swapped:
        check_shards(SHARDS, transport=says(["1/2", "0/2"]))
    assert swapped.value.where == f"--shard-url #1 ({URLS[0]})" and "shard 1/2" in str(swapped.value)
    with pytest.raises(InputError, match="shard 0/1"):
        check_shards(SHARDS, transport=says(["0/2", "0/1"]))


def test_route_command_bad_input_is_one_line_and_exit_2() -> None:
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    for args, where in (
        (["--shard-url", f"http://127.0.0.1:{port}"], f"--shard-url #1 (http://127.0.0.1:{port})"),
        (["--shard-url", "http://127.0.0.1:1", "--shard-url", "127.0.0.1:2"], "--shard-url #2"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "xmargin", "route", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"error: {where}: expected ") and done.stderr.count("\n") == 1, (
            done.stderr
        )
