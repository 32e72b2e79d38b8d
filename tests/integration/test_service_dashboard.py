"""The dashboard's endpoints over HTTP (FastAPI's TestClient, a temporary SQLite ledger): who a key is, the
risk matrix against ``xmargin margin --json``, the instrument search against a scalar Black-76, the venue's
book against each account's own margin and Binance's uniMMR bands, crash replays against ``sim.replay``,
the page and its static files, and what a read key may not see. The browser tests are test_dashboard.py."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from xmargin.cli import app as cli
from xmargin.ledger import INSURANCE_ACCOUNT, Ledger
from xmargin.ledger._checks import to_portfolio
from xmargin.margin import resolve_model
from xmargin.market import DEMO_SNAPSHOT, MarketSnapshot, load_history, load_market, shipped_chain_path
from xmargin.pricing._reference import black76_price
from xmargin.service import KeyStore, Scope, ServiceConfig, create_app
from xmargin.service import _replays as replays_module
from xmargin.service._dashboard import plotly_js
from xmargin.service._demo import INSURANCE_USDC, seed_demo
from xmargin.sim import SCENARIOS, BacktestConfig, backtest, replay

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "xmargin" / "service" / "static"
FAST_KDF = "scrypt:1024:8:1"
TESTIDS = ("margin-summary", "risk-matrix", "whatif", "utilisation", "liquidation-queue", "alerts", "replay")


class Svc:
    def __init__(self, tmp: Path, market: MarketSnapshot, config: ServiceConfig | None = None) -> None:
        self.ledger = Ledger(f"sqlite:///{tmp / 'ledger.db'}")
        store = KeyStore(self.ledger.store, kdf=FAST_KDF)
        self.keys = {
            "read": store.create("alice", Scope.READ).key,
            "trade": store.create("alice", Scope.TRADE).key,
            "bob": store.create("bob", Scope.READ).key,
            "admin": store.create("venue", Scope.ADMIN).key,
        }
        for account in ("alice", "bob", "carol", INSURANCE_ACCOUNT):
            self.ledger.deposit(account, "USDC", "100000")
        self.ledger.trade("alice", "BTC-27DEC26-100000-C", "-3", "0.05", market=market)
        self.ledger.trade("bob", "BTC-PERPETUAL", "5", "95010", market=market)
        self.ledger.trade("carol", "ETH-PERPETUAL", "-40", "3501.5", market=market)
        self.client = TestClient(create_app(self.ledger, store, market, config))

    def get(self, path: str, who: str | None) -> Any:
        headers = {"X-API-Key": self.keys[who]} if who else {}
        return self.client.get(path, headers=headers)


@pytest.fixture(scope="module")
def market() -> MarketSnapshot:
    return load_market(ROOT / "examples" / "market.yaml")


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory, market: MarketSnapshot) -> Iterator[Svc]:
    s = Svc(tmp_path_factory.mktemp("dash"), market)
    yield s
    s.ledger.close()


def ok(r: Any) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


# -- who, and what a key may not see ---------------------------------------------------------------------------
def test_me_says_who_the_key_is(svc: Svc) -> None:
    me = ok(svc.get("/v1/me", "read"))
    assert (me["scope"], me["account"], me["market"], me["model"]) == (
        "read",
        "alice",
        "2026-11-25T08:00:00Z",
        "pm",
    )
    admin = ok(svc.get("/v1/me", "admin"))
    assert (admin["scope"], admin["account"]) == ("admin", None)
    assert svc.get("/v1/me", None).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/bob",
        "/v1/accounts/bob/margin",
        "/v1/accounts/bob/risk-matrix",
        "/v1/venue/accounts",
        f"/v1/accounts/{INSURANCE_ACCOUNT}/risk-matrix",
    ],
)
def test_a_read_key_sees_only_its_account(svc: Svc, path: str) -> None:
    r = svc.get(path, "read")
    assert r.status_code == 403, r.text
    assert r.json()["error"]["where"] == "account"
    assert "bob" not in json.dumps(ok(svc.get("/v1/accounts/alice/risk-matrix", "read")))
    wi = svc.client.post(
        "/v1/accounts/bob/whatif",
        headers={"X-API-Key": svc.keys["read"]},
        json={"trades": [{"instrument": "BTC-PERPETUAL", "size": "1"}]},
    )
    assert wi.status_code == 403


# -- the risk matrix --------------------------------------------------------------------------------------------
def test_risk_matrix_is_the_models_grid_with_its_worst_scenario(svc: Svc, tmp_path: Path) -> None:
    rm = ok(svc.get("/v1/accounts/alice/risk-matrix", "read"))
    pf = ok(svc.get("/v1/accounts/alice", "read"))
    path = tmp_path / "alice.json"
    path.write_text(json.dumps({k: pf[k] for k in ("account", "collateral", "positions")}))
    run = CliRunner().invoke(
        cli, ["margin", str(path), "--market", str(ROOT / "examples" / "market.yaml"), "--json"]
    )
    assert run.exit_code == 0, run.stderr
    doc = json.loads(run.stdout)
    (group,) = doc["breakdown"]["groups"]
    (g,) = rm["groups"]
    assert (g["underlying"], g["settlement"]) == (group["underlying"], group["settlement"])
    # pm-deribit (presets/pm-deribit.yaml, D1/D2): 4 buckets a side + 0 = 9 moves x 3 vol shocks, plus 8
    # extended moves at the vol-up shock; no rate shifts, no extremes: every scenario is a cell
    assert len(g["cells"]) == 9 * 3 + 8 == len(resolve_model("pm").scenarios(["BTC"]))  # type: ignore[attr-defined]
    assert g["scenarios_not_shown"] == 0
    standard = [c for c in g["cells"] if c["kind"] == "standard"]
    grid = group["pnl_grid"]
    for c in standard:
        r, k = grid["vol_shocks"].index(c["vol_shock"]), grid["price_moves"].index(c["price_move"])
        assert c["pnl_usd"] == grid["pnl_usd"][r][k]
    worst = g["cells"][g["worst"]]
    ws = group["worst_scenario"]
    assert (worst["price_move"], worst["vol_shock"], worst["kind"]) == (
        ws["price_move"],
        ws["vol_shock"],
        ws["kind"],
    )
    assert worst["weighted_pnl_usd"] == min(c["weighted_pnl_usd"] for c in g["cells"])
    assert -worst["weighted_pnl_usd"] == pytest.approx(group["worst_loss_usd"], rel=1e-12)
    # vol points at the 30-day pivot: the market's flat BTC vol 55% x pm-deribit's vol_up 0.50 / vol_down 0.25
    rows = {v["label"]: v["vol_points_at_pivot"] for v in g["vol_rows"]}
    assert rows == pytest.approx({"up": 0.55 * 0.50 * 100, "flat": 0.0, "down": -0.55 * 0.25 * 100})


def test_risk_matrix_under_a_ratio_model_is_pms_with_a_warning(
    tmp_path: Path, market: MarketSnapshot
) -> None:
    s = Svc(tmp_path, market, ServiceConfig(model="standard"))
    rm = ok(s.get("/v1/accounts/alice/risk-matrix", "read"))
    assert rm["model"] == "pm" and any("standard has no scenario grid" in w for w in rm["warnings"])
    s.ledger.close()


# -- instruments ------------------------------------------------------------------------------------------------
def test_instrument_search_and_marks(svc: Svc, market: MarketSnapshot) -> None:
    listed = ok(svc.get("/v1/instruments?q=btc-27dec26-100000-c", "read"))
    assert [i["name"] for i in listed["instruments"]] == ["BTC-27DEC26-100000-C"]
    found = ok(svc.get("/v1/instruments?q=BTC P&expiry=2026-12-27&strike=90000", "read"))
    (put,) = found["instruments"]
    assert (put["name"], put["kind"], put["call_put"], put["settlement"]) == (
        "BTC-27DEC26-90000-P",
        "option",
        "put",
        "BTC",
    )
    # a round strike off the listed chain, priced off the flat vol: scalar Black-76 on the 27DEC26 future's
    # mark, 32 days, 55 %, in BTC per BTC (inverse: USD price / forward)
    usd = black76_price(95400.0, 90000.0, 32 / 365, 0.55, is_call=False)
    assert put["mark"] == pytest.approx(usd / 95400.0, rel=1e-9)
    assert put["iv"] == 0.55
    futures = ok(svc.get("/v1/instruments?q=btc&limit=500", "read"))["instruments"]
    marks = {i["name"]: i["mark"] for i in futures if i["kind"] != "option"}
    assert {n: x for n, x in marks.items() if "_" not in n} == {
        "BTC-PERPETUAL": 95010.0,
        "BTC-27DEC26": 95400.0,
        "BTC-26MAR27": 96900.0,
    }
    assert set(marks) - {"BTC-PERPETUAL", "BTC-27DEC26", "BTC-26MAR27"} == {"BTC_USDC-PERPETUAL"}
    limited = ok(svc.get("/v1/instruments?q=btc&limit=3", "read"))
    assert len(limited["instruments"]) == 3 and limited["total"] == len(futures)
    bad = svc.get("/v1/instruments?expiry=27DEC26", "read")
    assert bad.status_code == 422 and bad.json()["error"]["where"] == "query.expiry"
    assert svc.get("/v1/instruments", None).status_code == 401


# -- the venue's book -------------------------------------------------------------------------------------------
def binance_band(margin_balance: float, mm: float) -> int:
    """Binance Portfolio Margin Pro's uniMMR table (FAQ "Maintenance Margin Ratio Calculation"): > 150 %,
    (120, 150], (105, 120], (100, 105], <= 100 %."""
    ratio = math.inf if mm == 0 else margin_balance / mm if margin_balance > 0 else 0.0
    return next(i for i, lo in enumerate((1.5, 1.2, 1.05, 1.0, -math.inf)) if ratio > lo)


def test_venue_book_matches_each_accounts_margin(svc: Svc) -> None:
    book = ok(svc.get("/v1/venue/accounts", "admin"))
    assert [a["account"] for a in book["accounts"]] != []
    assert {a["account"] for a in book["accounts"]} == {"alice", "bob", "carol"}  # not ~insurance
    for a in book["accounts"]:
        m = ok(svc.get(f"/v1/accounts/{a['account']}/margin", "admin"))
        for f in ("status", "equity", "margin_balance", "initial_margin", "maintenance_margin", "available"):
            assert a[f] == m[f], f
        assert a["utilisation"] == pytest.approx(m["maintenance_margin"] / m["margin_balance"])
        lps = m["breakdown"]["liquidation_prices"]
        index = {"BTC": 95000.0, "ETH": 3500.0}
        dists = [abs(p / index[u] - 1) for u, lp in lps.items() for p in (lp["below"], lp["above"]) if p]
        assert a["distance"] == (pytest.approx(min(dists)) if dists else None)
    dists = [a["distance"] for a in book["accounts"] if a["distance"] is not None]
    assert dists == sorted(dists)
    t = book["totals"]
    for f in ("equity", "margin_balance", "initial_margin", "maintenance_margin"):
        assert t[f] == pytest.approx(sum(a[f] for a in book["accounts"]))
    assert t["insurance_fund_usd"] == 100000.0  # ~insurance's USDC at 1.0
    assert t["accounts"] == 3 and sum(t["by_status"].values()) == 3
    counts = [0] * 5
    for a in book["accounts"]:
        counts[binance_band(a["margin_balance"], a["maintenance_margin"])] += 1
    assert [b["accounts"] for b in book["bands"]] == counts
    assert [b["hi"] for b in book["bands"]] == pytest.approx([1 / 1.5, 1 / 1.2, 1 / 1.05, 1.0, None])
    conc = {c["underlying"]: c for c in book["concentration"]}
    assert set(conc) == {"BTC", "ETH"}
    # a perpetual's delta is its size in coin, valued at the index (risk.portfolio_greeks)
    assert conc["ETH"]["net_delta_usd"] == pytest.approx(-40 * 3500.0, rel=1e-9)
    assert sum(c["share"] for c in conc.values()) == pytest.approx(1.0)
    # reports are kept per account until its events change: a deposit shows at once, the rest is as it was
    before = {a["account"]: a for a in book["accounts"]}
    svc.ledger.deposit("carol", "USDC", "2500")
    after = {a["account"]: a for a in ok(svc.get("/v1/venue/accounts", "admin"))["accounts"]}
    assert after["carol"]["margin_balance"] == pytest.approx(before["carol"]["margin_balance"] + 2500.0)
    assert after["bob"] == before["bob"]


def test_demo_book_is_written_through_the_checks_once(tmp_path: Path) -> None:
    market = load_market(f"{shipped_chain_path()}#{DEMO_SNAPSHOT}")
    ledger = Ledger(f"sqlite:///{tmp_path / 'demo.db'}")
    book = seed_demo(ledger, market, resolve_model("pm"))
    assert len(book.accounts) == 6 and book.seeded == book.accounts
    assert seed_demo(ledger, market, resolve_model("pm")).seeded == ()
    keys = KeyStore(ledger.store, kdf=FAST_KDF)
    client = TestClient(create_app(ledger, keys, market))
    admin = keys.create("venue", Scope.ADMIN).key
    venue = ok(client.get("/v1/venue/accounts", headers={"X-API-Key": admin}))
    assert venue["totals"]["accounts"] == 6
    assert venue["totals"]["insurance_fund_usd"] == float(INSURANCE_USDC)
    assert {a["status"] for a in venue["accounts"]} == {"ok"}  # every fill and withdrawal passed its check
    ledger.close()


# -- replays ----------------------------------------------------------------------------------------------------
def test_replay_series_is_the_simulations(svc: Svc, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = ok(svc.get("/v1/replays", "read"))
    assert [s["name"] for s in listed["scenarios"]] == list(SCENARIOS)
    calls: list[tuple[Any, ...]] = []

    def counted(*args: Any, **kw: Any) -> Any:
        calls.append(args)
        return replay(*args, **kw)

    monkeypatch.setattr(replays_module, "replay", counted)
    r = ok(svc.get("/v1/replays/2025-10-10?venue=cex&accounts=8", "read"))
    again = ok(svc.get("/v1/replays/2025-10-10?venue=cex&accounts=8", "bob"))
    assert len(calls) == 1 and again == r  # the second answer is the cached one
    ref = replay("2025-10-10", "cex", accounts=8)
    for f in ("liquidations", "accounts_liquidated", "bad_debt_usd", "insurance_fund_used_usd"):
        assert r[f] == getattr(ref, f), f
    s = r["series"]
    assert len(s["time"]) == len(ref.timeline["ts_s"]) == len(s["price"]["BTC"])
    first = datetime.fromtimestamp(ref.timeline["ts_s"][0], tz=UTC)
    assert s["time"][0] == first.strftime("%Y-%m-%dT%H:%M:%SZ") and s["time"][0].startswith("2025-10-")
    assert s["bad_debt_usd"] == ref.timeline["bad_debt_usd"]
    assert s["oracle"]["BTC"] == s["price"]["BTC"]  # the CEX liquidates on its mark


def test_dex_replay_records_its_push_oracle() -> None:
    ref = replay("2024-08-05", "dex", accounts=5)
    t = ref.timeline
    assert len(t["oracle_BTC"]) == len(t["price_BTC"])
    # a push oracle publishes on deviation or heartbeat: it lags the market at some points, and every
    # price it shows is a positive one it saw
    assert any(o != p for o, p in zip(t["oracle_BTC"], t["price_BTC"], strict=True))
    assert all(o > 0 for o in t["oracle_BTC"])


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("/v1/replays/1999-01-01", "path.scenario"),
        ("/v1/replays/2025-10-10?venue=amm", "query.venue"),
        ("/v1/replays/2025-10-10?accounts=0", "query.accounts"),
        ("/v1/replays/2025-10-10?accounts=100000", "query.accounts"),
    ],
)
def test_bad_replay_requests(svc: Svc, query: str, where: str) -> None:
    r = svc.get(query, "read")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["where"] == where


# -- the page ---------------------------------------------------------------------------------------------------
def test_page_and_static_files_are_same_origin(svc: Svc) -> None:
    r = svc.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for testid in TESTIDS:
        assert f'data-testid="{testid}"' in r.text
    for name in ("index.html", "dashboard.js", "dashboard.css"):
        text = (STATIC / name).read_text()
        assert not re.search(r"https?://", text), f"{name} names another origin"
    js = svc.client.get("/static/dashboard.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "sessionStorage" in js.text and "xmargin.api_key" in js.text
    plotly = plotly_js()
    assert plotly is not None
    served = svc.client.get("/static/plotly.min.js")
    assert served.status_code == 200 and served.content == plotly.read_bytes()
    missing = svc.client.get("/static/../_app.py")
    assert missing.status_code == 404
    assert svc.client.get("/static/nope.js").json()["error"]["where"] == "path"
    assert "/" not in svc.client.get("/openapi.json").json()["paths"]


# -- backtests --------------------------------------------------------------------------------------------------
def test_account_backtest_is_the_simulations(svc: Svc) -> None:
    r = ok(svc.get("/v1/accounts/bob/backtest?model=pm&horizon=2&from=2019-01-01", "bob"))
    ref, frame = backtest(
        to_portfolio(svc.ledger.state("bob")),
        resolve_model("pm"),
        load_history("crypto-daily"),
        BacktestConfig(horizon_days=2, start=datetime(2019, 1, 1).date()),
        portfolio_name="account bob",
    )
    rep, s = r["report"], r["series"]
    for f in ("observations", "breaches", "expected_breaches", "start", "end"):
        assert rep[f] == getattr(ref, f), f
    assert s["margin_usd"] == [float(x) for x in frame["margin_usd"]]
    assert sum(s["breach"]) == rep["breaches"]
    # Basel (BCBS 1996, Table 2): 250 observations at 99 %: yellow from 5 breaches, red from 10
    assert (s["window"], s["first_yellow"], s["first_red"]) == (250, 5, 10)
    counts = s["window_breaches"]
    assert len(counts) == rep["observations"] - 250 + 1
    tl = rep["traffic_light"]
    assert (sum(c < 5 for c in counts), sum(5 <= c < 10 for c in counts), sum(c >= 10 for c in counts)) == (
        tl["green"],
        tl["yellow"],
        tl["red"],
    )
    assert svc.get("/v1/accounts/bob/backtest", "read").status_code == 403
    for query, where in (
        ("from=2019-02-30", "query.from"),
        ("model=nope", "query.model"),
        ("horizon=3", "query.horizon"),
    ):
        bad = svc.get(f"/v1/accounts/bob/backtest?{query}", "bob")
        assert bad.status_code == 422 and bad.json()["error"]["where"] == where


# -- xmargin serve --demo ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_serve_demo_prints_the_address_and_keys_that_work(tmp_path: Path) -> None:
    """The README's path for a new user: run ``xmargin serve --demo``, open the printed address, log in with
    a printed key. The real command as a subprocess on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    exe = Path(sys.executable).parent / "xmargin"
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(exe), "serve", "--demo", "--port", str(port)],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            deadline = time.monotonic() + 60
            text = ""
            while time.monotonic() < deadline and proc.poll() is None:
                text = log_path.read_text()
                if "Uvicorn running" in text or "Application startup complete" in text:
                    break
                time.sleep(0.3)
            assert f"open http://127.0.0.1:{port}/ and log in with" in text, text
            admin = re.search(r"admin key \(venue view, every account\): (xm\S+)", text)
            read = re.search(r"read key of btc-eth-multi \(its account view\): (xm\S+)", text)
            assert admin and read, text
            base = f"http://127.0.0.1:{port}"
            assert 'data-testid="margin-summary"' in httpx.get(base + "/", timeout=30).text
            me = httpx.get(base + "/v1/me", headers={"X-API-Key": read.group(1)}, timeout=30).json()
            assert (me["scope"], me["account"]) == ("read", "btc-eth-multi")
            book = httpx.get(
                base + "/v1/venue/accounts", headers={"X-API-Key": admin.group(1)}, timeout=60
            ).json()
            assert book["totals"]["accounts"] == 6
            assert (tmp_path / "xmargin-data" / "demo-ledger.db").is_file()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
                proc.kill()
                proc.wait()
