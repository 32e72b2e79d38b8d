"""The dashboard in a real Chromium (Playwright driving Debian's ``chromium`` by its path; Playwright's own
browser downloads are not used). One uvicorn server on a loopback port and one browser for the module; each
test opens a page, logs in through the form, and compares what the page shows with what the API answers.

Every page must load with no console error, and no request may leave 127.0.0.1: every other host is routed
to a failure and recorded. Without a chromium on the PATH the module is skipped, unless
``XMARGIN_REQUIRE_BROWSER=1`` (set by .ci/run), which makes that a failure. Screenshots of each view go to
``$XMARGIN_ARTIFACTS`` (else a pytest temporary directory)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from xmargin.ledger import INSURANCE_ACCOUNT, Ledger
from xmargin.market import load_market
from xmargin.service import KeyStore, Scope, create_app

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FAST_KDF = "scrypt:1024:8:1"
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LIVE_DEADLINE_MS = 2000


def _browser_or_skip() -> tuple[Any, str]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright, exe = None, None
    if exe is None or sync_playwright is None:
        why = "no chromium on PATH (apt-get install chromium) or no playwright (pip install playwright)"
        if os.environ.get("XMARGIN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"XMARGIN_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    return sync_playwright, exe


@dataclass
class Site:
    base: str
    keys: dict[str, str]
    shots: Path
    ledger: Ledger

    def api(self, method: str, path: str, who: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method, self.base + path, headers={"X-API-Key": self.keys[who]}, json=body, timeout=30
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import uvicorn

    tmp = tmp_path_factory.mktemp("dashboard")
    market = load_market(ROOT / "examples" / "market.yaml")
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.db'}")
    store = KeyStore(ledger.store, kdf=FAST_KDF)
    keys = {
        "alice": store.create("alice", Scope.READ).key,
        "admin": store.create("venue", Scope.ADMIN).key,
    }
    for account in ("alice", "bob", "carol", INSURANCE_ACCOUNT):
        ledger.deposit(account, "USDC", "100000")
    ledger.trade("alice", "BTC-27DEC26-100000-C", "-3", "0.05", market=market)
    ledger.trade("bob", "BTC-PERPETUAL", "5", "95010", market=market)
    ledger.trade("carol", "ETH-PERPETUAL", "-40", "3501.5", market=market)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ledger, store, market),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            log_config=None,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    shots = Path(os.environ.get("XMARGIN_ARTIFACTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    yield Site(f"http://127.0.0.1:{port}", keys, shots, ledger)
    server.should_exit = True
    thread.join(timeout=10)
    ledger.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright, exe = _browser_or_skip()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe)
        yield b
        b.close()


@dataclass
class Watch:
    """A page's console errors, uncaught exceptions and requests to other hosts (refused)."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    responses: list[tuple[str, int]] = field(default_factory=list)

    def clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.outside == [], self.outside


@pytest.fixture
def page(browser: Any, site: Site, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Watch]]:
    viewport = getattr(request, "param", WIDE)
    context = browser.new_context(viewport=viewport)
    watch = Watch()
    host = urlsplit(site.base).netloc

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc == host or r.request.url.startswith("data:"):
            r.continue_()
        else:
            watch.outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.on("console", lambda m: m.type == "error" and watch.errors.append(m.text))
    pg.on("pageerror", lambda e: watch.errors.append(str(e)))
    pg.on("response", lambda r: watch.responses.append((urlsplit(r.url).path, r.status)))
    yield pg, watch
    context.close()


def login(pg: Any, site: Site, who: str, hash_: str = "") -> None:
    pg.goto(site.base + "/" + hash_)
    pg.fill("#api-key", site.keys[who])
    pg.click("#login-form button[type=submit]")
    pg.wait_for_selector("#nav:not([hidden])")


def values(pg: Any, scope: str) -> dict[str, float]:
    got = pg.eval_on_selector_all(
        f"{scope} [data-field][data-value]", "ns => ns.map(n => [n.dataset.field, n.dataset.value])"
    )
    return {k: float(v) for k, v in got if v != ""}


def no_sideways_scroll(pg: Any) -> None:
    width = pg.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] + 1, f"the page scrolls sideways: {width}"


# -- account view -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", [WIDE, PHONE], indirect=True, ids=["1280x800", "390x844"])
def test_account_view_shows_the_apis_numbers(page: tuple[Any, Watch], site: Site) -> None:
    pg, watch = page
    login(pg, site, "alice")
    pg.wait_for_selector('[data-testid="risk-matrix"] .js-plotly-plot')
    margin = site.api("GET", "/v1/accounts/alice/margin", "alice").json()
    shown = values(pg, '[data-testid="margin-summary"]')
    for f in ("equity", "margin_balance", "initial_margin", "maintenance_margin", "available"):
        assert shown[f] == margin[f], f
    assert pg.get_attribute('[data-testid="margin-summary"] .status', "data-status") == margin["status"]
    # the heatmap: one cell per scenario of the model, and the framed worst cell is margin --json's worst
    rm = site.api("GET", "/v1/accounts/alice/risk-matrix", "alice").json()
    (g,) = rm["groups"]
    cells = pg.evaluate(
        """() => document.querySelector('[data-testid="risk-matrix"] .js-plotly-plot').data[0].z
             .flat().filter(v => v !== null).length"""
    )
    assert cells == len(g["cells"]) == 35
    (ws,) = [grp["worst_scenario"] for grp in margin["breakdown"]["groups"]]
    box = pg.locator('[data-testid="risk-matrix"] .matrix-group').first
    assert float(box.get_attribute("data-worst-move")) == ws["price_move"]
    assert int(box.get_attribute("data-worst-vol")) == ws["vol_shock"]
    framed = pg.evaluate(
        """() => { const gd = document.querySelector('[data-testid="risk-matrix"] .js-plotly-plot');
             const s = gd.layout.shapes.find(s => s.line.width > 3);
             return [gd.data[0].x[s.x0 + 0.5], gd.data[0].y[s.y0 + 0.5]]; }"""
    )
    assert (
        framed[0]
        == f"{'+' if ws['price_move'] > 0 else '−' if ws['price_move'] < 0 else ''}{abs(ws['price_move']) * 100:.0f}%"
    )
    assert framed[1].startswith(f"vol {ws['vol_shock_label']}")
    assert "BTC" in pg.inner_text('[data-testid="greeks"]')
    assert "BTC-27DEC26-100000-C" in pg.inner_text('[data-testid="holdings"]')
    no_sideways_scroll(pg)
    tag = "1280x800" if pg.viewport_size["width"] > 800 else "390x844"
    pg.screenshot(path=str(site.shots / f"account-{tag}.png"), full_page=True)
    watch.clean()


def test_a_read_key_cannot_see_another_account_even_by_url(page: tuple[Any, Watch], site: Site) -> None:
    pg, watch = page
    login(pg, site, "alice", "#account/bob")
    pg.wait_for_selector("#account-error:not(:empty)")
    assert "may not read account bob" in pg.inner_text("#account-error")
    assert pg.inner_text('[data-testid="margin-summary"] .body').strip() == ""
    assert all(status != 200 for path, status in watch.responses if "/bob" in path)
    assert pg.is_hidden('nav a[data-view="venue"]')
    pg.goto(site.base + "/#venue")
    pg.wait_for_selector("#venue-error:not(:empty)")
    assert "403" in pg.inner_text("#venue-error")
    assert pg.inner_text('[data-testid="liquidation-queue"] .body').strip() == ""
    # the browser's 403s are expected answers, not faults of the page
    watch.errors = [e for e in watch.errors if "403" not in e]
    watch.clean()


# -- what-if ----------------------------------------------------------------------------------------------------
def test_whatif_shows_the_apis_before_and_after(page: tuple[Any, Watch], site: Site) -> None:
    pg, watch = page
    login(pg, site, "alice", "#whatif")
    pg.fill("#wi-q", "BTC-27DEC26-90000-P")
    pg.click('button[data-add="BTC-27DEC26-90000-P"]')
    pg.fill('input[data-size="0"]', "-2")
    pg.click("#wi-run")
    pg.wait_for_selector('[data-testid="whatif-check"]')
    api = site.api(
        "POST",
        "/v1/accounts/alice/whatif",
        "alice",
        {"trades": [{"instrument": "BTC-27DEC26-90000-P", "size": "-2"}]},
    ).json()
    for f in ("equity", "margin_balance", "initial_margin", "maintenance_margin", "available"):
        assert float(pg.get_attribute(f'[data-before="{f}"]', "data-value")) == api["before"][f]
        assert float(pg.get_attribute(f'[data-after="{f}"]', "data-value")) == api[f]
    assert pg.get_attribute('[data-testid="whatif-check"]', "data-pass") == str(api["available"] >= 0).lower()
    pg.wait_for_selector('[data-testid="whatif"] .js-plotly-plot')  # the change in the risk matrix
    pg.screenshot(path=str(site.shots / "whatif-1280x800.png"), full_page=True)
    watch.clean()


# -- venue view -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", [WIDE, PHONE], indirect=True, ids=["1280x800", "390x844"])
def test_venue_view_shows_the_book(page: tuple[Any, Watch], site: Site) -> None:
    pg, watch = page
    login(pg, site, "admin")
    pg.wait_for_selector('[data-testid="liquidation-queue"] table')
    book = site.api("GET", "/v1/venue/accounts", "admin").json()
    shown = values(pg, '[data-testid="book-totals"]')
    for f in ("equity", "margin_balance", "initial_margin", "maintenance_margin", "insurance_fund_usd"):
        assert shown[f] == book["totals"][f], f
    rows = pg.eval_on_selector_all(
        '[data-testid="liquidation-queue"] tr[data-account]', "rs => rs.map(r => r.dataset.account)"
    )
    assert rows == [a["account"] for a in book["accounts"]]
    bars = pg.evaluate(
        "() => document.querySelector('[data-testid=\"utilisation\"] .js-plotly-plot').data[0].x"
    )
    assert bars == [b["accounts"] for b in book["bands"]]
    assert pg.locator('[data-testid="concentration"] .js-plotly-plot').count() == 1
    assert pg.is_visible('[data-testid="alerts"]')
    no_sideways_scroll(pg)
    tag = "1280x800" if pg.viewport_size["width"] > 800 else "390x844"
    pg.screenshot(path=str(site.shots / f"venue-{tag}.png"), full_page=True)
    watch.clean()


# -- replay -----------------------------------------------------------------------------------------------------
def test_replay_charts_share_one_dated_time_axis(page: tuple[Any, Watch], site: Site) -> None:
    pg, watch = page
    login(pg, site, "alice", "#replay")
    pg.wait_for_selector("#rp-scenario option", state="attached")
    pg.select_option("#rp-scenario", "2024-08-05")
    pg.select_option("#rp-venue", "dex")
    pg.fill("#rp-accounts", "5")
    pg.click("#rp-run")
    pg.wait_for_selector('[data-testid="replay"] .js-plotly-plot', timeout=60_000)
    api = site.api("GET", "/v1/replays/2024-08-05?venue=dex&accounts=5", "alice").json()
    shown = values(pg, '[data-testid="replay"]')
    for f in ("liquidations", "bad_debt_usd", "insurance_fund_used_usd"):
        assert shown[f] == api[f], f
    fig = pg.evaluate(
        """() => { const gd = document.querySelector('[data-testid="replay"] .js-plotly-plot');
             const axes = Object.keys(gd.layout).filter(k => k.startsWith('xaxis'));
             return {axes, type: gd._fullLayout.xaxis.type, fmt: gd._fullLayout.xaxis.tickformat,
                     names: gd.data.map(t => t.name), xs: [...new Set(gd.data.map(t => t.xaxis || 'x'))],
                     n: gd.data[0].x.length, legend: gd._fullLayout.showlegend}; }"""
    )
    assert fig["axes"] == ["xaxis"] and fig["xs"] == ["x"]  # one shared time axis
    assert fig["type"] == "date" and "%Y" in fig["fmt"] and fig["legend"]
    assert fig["n"] == len(api["series"]["time"])
    assert any("oracle" in n for n in fig["names"]) and "bad debt (cumulative, right axis)" in fig["names"]
    # the backtest of alice's portfolio, on the same page
    pg.fill("#bt-from", "2019-01-01")
    pg.click("#bt-run")
    pg.wait_for_selector('[data-testid="backtest"] .js-plotly-plot', timeout=60_000)
    bt = site.api("GET", "/v1/accounts/alice/backtest?horizon=2&from=2019-01-01", "alice").json()
    shown = values(pg, '[data-testid="backtest"]')
    assert (shown["observations"], shown["breaches"]) == (
        bt["report"]["observations"],
        bt["report"]["breaches"],
    )
    traces = pg.evaluate(
        """() => document.querySelector('[data-testid="backtest"] .js-plotly-plot').data
             .map(t => [t.name, t.x.length])"""
    )
    assert traces[0] == ["margin held", bt["report"]["observations"]]
    assert traces[-1][1] == len(bt["series"]["window_breaches"])
    pg.screenshot(path=str(site.shots / "replay-1280x800.png"), full_page=True)
    watch.clean()


# -- live updates (needs POST /v1/ticks and WS /v1/stream) ------------------------------------------------------
def test_a_tick_reaches_the_alerts_and_refreshes_the_queue_within_2s(
    page: tuple[Any, Watch], site: Site
) -> None:
    """A real tick (POST /v1/ticks): its status change and liquidation arrive over WS /v1/stream and the venue
    view re-reads the book, without a reload."""
    pg, watch = page
    venue_reads: list[float] = []
    pg.on("response", lambda r: r.url.endswith("/v1/venue/accounts") and venue_reads.append(time.monotonic()))
    login(pg, site, "admin")
    pg.wait_for_selector("#live.on", timeout=5000)  # connected with ?api_key= and said hello
    row = '[data-testid="liquidation-queue"] tr[data-account="bob"]'
    before_row = pg.wait_for_selector(row).inner_text()
    before_reads = len(venue_reads)
    # bob is long 5 BTC perpetuals on 100,000 USDC: a 25 % fall takes ~119,000 USD, below maintenance, and the
    # CEX engine liquidates him on that tick (partially: he may come back to ok)
    started = time.monotonic()
    r = site.api("POST", "/v1/ticks", "admin", {"prices": {"BTC": 71250.0}})
    assert r.status_code == 200 and "bob" in r.json()["changed"] and r.json()["liquidated"] == ["bob"]
    status = pg.wait_for_selector(
        '#alerts-list li[data-type="status"][data-account="bob"]:has-text("ok → liquidatable")',
        timeout=LIVE_DEADLINE_MS,
    )
    assert "critical" in (status.get_attribute("class") or "")
    pg.wait_for_selector(
        '#alerts-list li[data-type="liquidation"][data-account="bob"]', timeout=LIVE_DEADLINE_MS
    )
    pg.wait_for_function(
        "([sel, old]) => { const r = document.querySelector(sel); return !r || r.innerText !== old; }",
        arg=[row, before_row],
        timeout=LIVE_DEADLINE_MS,
    )
    assert len(venue_reads) > before_reads  # re-read, no reload
    assert time.monotonic() - started < LIVE_DEADLINE_MS / 1000 + 0.5
    watch.clean()
