"""The ``derive`` model kind (preset ``derive-pmrm``) on xmargin portfolios, against Derive's own PMRM_2
portfolio cases (``tests/venues/data/NOTICE.md``).

Each case that an xmargin portfolio and market can state exactly is rebuilt as one: its options as USDC options
of an underlying ``XBT`` (so that a collateral coin named BTC or ETH stays a separate coin) expiring at 08:00 on
dates ``FeedExpiry`` seconds after the valuation time, each at the case's SVI vol at its strike (the market's
``option_iv``), the expiry's forward as a forward, the rate as the market's; its perp as ``XBT_USDC-PERPETUAL``
at the case's perp price with an entry price that gives its unrealised P&L; cash as USDC at the stable price;
collaterals as coins at their price with the case's haircuts in the model's preset. The model's figures must
equal Derive's reference outputs (``Result``) and ``xmargin venue derive-pmrm`` on the case, at Derive's own
1e-8 relative. A case is left out only when xmargin cannot state it (named per reason in ``test_coverage``).
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from xmargin.instruments import load_portfolio, portfolio_from_mapping
from xmargin.margin import DeriveMargin, account_report, resolve_model
from xmargin.margin.venues._derive import Svi
from xmargin.margin.venues._derive_case import evaluate_case
from xmargin.market import MarketSnapshot, load_market
from xmargin.risk import Book
from xmargin.testing import parametrize_margin_models

DATA = Path(__file__).parent / "data" / "derive_pmrm2_cases.jsonl.gz"
CASES: list[dict[str, Any]] = [
    json.loads(line) for line in gzip.decompress(DATA.read_bytes()).decode().splitlines() if line.strip()
]
REL = 1e-8
"""Derive's assertApproxEqRel(…, 1e10)"""
FIRST_EXPIRY = datetime(2027, 1, 29, 8, tzinfo=UTC)


def _why_not(case: dict[str, Any]) -> str | None:
    """Why the case cannot be stated as an xmargin portfolio and market (None: it can)."""
    sc, par = case["Scenario"], case["Parameters"]
    threshold = par["OtherContingency"]["CONF_THRESHOLD"]
    feeds = sc["OptionFeeds"]
    secs = [int(f["FeedExpiry"]) for f in feeds]
    if any(s <= 0 for s in secs):
        return "an expiry at or before now (xmargin: expired instrument)"
    if len({max(float(f["Rate"]), 0.0) for f in feeds}) > 1:
        return "a rate per expiry (an xmargin market has one rate)"
    if any(abs(float(f["Rate"])) > 1.0 for f in feeds):
        return "a rate beyond [-1, 1] (xmargin's market bound)"
    if {(s - secs[0]) % 86400 for s in secs} - {0}:
        return "expiries at different times of day"
    confs = [sc["SpotConfidence"], *(c["Confidence"] for c in sc["Collaterals"])]
    confs += [min(f["ForwardConfidence"], f["RateConfidence"], f["OptionVolConfidences"]) for f in feeds]
    if sc["NumPerps"] != 0:
        confs.append(sc["PerpConfidence"])
    if min(confs, default=1.0) < threshold:
        return "an oracle confidence below the threshold (a market has no confidences)"
    keys = [(o["Expiry"], o["Strike"], o["IsCall"]) for o in sc["Options"]]
    if len(set(keys)) != len(keys):
        return "the same option listed twice"
    if any(float(o["Strike"]) != int(o["Strike"]) for o in sc["Options"]):
        return "a fractional strike"
    names = [c["Name"] for c in sc["Collaterals"]]
    if len(set(names)) != len(names) or {"USDC", "XBT"} & set(names):
        return "a collateral named twice or like the cash coin"
    return None


def _build(case: dict[str, Any]) -> tuple[DeriveMargin, Any, MarketSnapshot]:
    sc = case["Scenario"]
    feeds = {int(f["FeedExpiry"]): f for f in sc["OptionFeeds"]}
    first = min(feeds, default=0)
    now = FIRST_EXPIRY - timedelta(seconds=first)
    index = {"XBT": sc["SpotPrice"], "USDC": sc["StablePrice"]}
    positions: dict[str, Any] = {}
    iv: dict[str, float] = {}
    forwards: dict[str, float] = {}
    rate = 0.0
    for sec, f in feeds.items():
        day = (now + timedelta(seconds=sec)).strftime("%d%b%y").upper().lstrip("0")
        forwards[f"XBT-{day}"] = f["Forward"]
        rate = max(float(f["Rate"]), 0.0)
        a, b, rho, m, sigma, fwd, tau = (float(x) for x in f["SVIparam"])
        svi = Svi(a, b, rho, m, sigma, fwd, tau)
        for o in sc["Options"]:
            if int(o["Expiry"]) == sec:
                name = f"XBT_USDC-{day}-{int(o['Strike'])}-{'C' if o['IsCall'] else 'P'}"
                positions[name] = o["Amount"]
                iv[name] = svi.vol(float(o["Strike"]))
    marks = {}
    if sc["NumPerps"] != 0:
        n, price = sc["NumPerps"], sc["PerpPrice"]
        pnl = sc["UnrealisedPerpPNL"] + sc["UnrealisedFunding"]
        positions["XBT_USDC-PERPETUAL"] = {"size": n, "avg_price": price - pnl / n}
        marks["XBT_USDC-PERPETUAL"] = price
    collateral: dict[str, float] = {"USDC": sc["Cash"]}
    table: dict[str, Any] = {}
    for c in sc["Collaterals"]:
        collateral[c["Name"]] = c["Amount"]
        index[c["Name"]] = c["Price"]
        table[c["Name"]] = {
            "im_haircut": c["IMHaircut"],
            "mm_haircut": c["MMHaircut"],
            "risk_cancelling": bool(c["IsRiskCancelling"]),
            "underlying": "XBT",
        }
    model = DeriveMargin(
        preset={
            "kind": "derive",
            "name": case["name"],
            "parameters": case["Parameters"],
            "collateral": table,
            "long_options_paid_in_full": False,
        }
    )
    pf = portfolio_from_mapping({"account": "case", "collateral": collateral, "positions": positions})
    market = MarketSnapshot(
        valuation_time=now, index_usd=index, marks_usd=marks, option_iv=iv, forwards_usd=forwards, rate=rate
    )
    return model, pf, market


STATED = [c for c in CASES if _why_not(c) is None]


def test_coverage() -> None:
    """Most of Derive's cases are stated; each one left out is so for a reason xmargin's inputs impose."""
    reasons = Counter(r for c in CASES if (r := _why_not(c)) is not None)
    assert len(STATED) >= 40, (len(STATED), reasons)
    assert len(STATED) + sum(reasons.values()) == 139


@pytest.mark.parametrize("case", STATED, ids=[c["name"] for c in STATED])
def test_case_on_an_xmargin_portfolio(case: dict[str, Any]) -> None:
    model, pf, market = _build(case)
    res = model.requirement(Book.from_portfolios([pf]), market)
    bd = res.breakdown[0]
    want = case["Result"]
    venue = evaluate_case(case)
    for got, ref, cli in (
        (bd.health["initial_margin"], float(want["IM"]), venue.initial_margin),
        (bd.health["maintenance_margin"], float(want["MM"]), venue.maintenance_margin),
        (bd.health["option_mtm"], float(want["OptionMTM"]), venue.option_mtm),
    ):
        assert math.isclose(got, ref, rel_tol=REL, abs_tol=1e-9), (got, ref)
        assert math.isclose(got, cli, rel_tol=REL, abs_tol=1e-9), (got, cli)
    assert abs(bd.health["collateral_mtm"] - float(want["CollateralMTM"])) <= 1e-8
    # xmargin's figures: equity = Derive's MtM + cash; IM and MM what Derive's margins take off it
    equity = float(res.equity[0])
    assert math.isclose(equity, venue.mark_to_market, rel_tol=REL, abs_tol=1e-9)
    assert math.isclose(
        equity - float(res.maintenance_margin[0]), float(want["MM"]), rel_tol=REL, abs_tol=1e-6
    )
    assert math.isclose(equity - float(res.initial_margin[0]), float(want["IM"]), rel_tol=REL, abs_tol=1e-6)


def test_accounts_at_once_equal_one_at_a_time() -> None:
    """The vectorised book path: several of Derive's cases on one set of columns, as one book."""
    case = next(c for c in STATED if len(c["Scenario"]["Options"]) >= 3)
    model, pf, market = _build(case)
    doc = {"account": "x", "collateral": pf.collateral, "positions": {}}
    scaled = []
    for k, factor in enumerate((1.0, -0.5, 2.0, 0.0)):
        d = dict(
            doc, account=f"a{k}", positions={p.instrument.name: p.size_coin * factor for p in pf.positions}
        )
        scaled.append(portfolio_from_mapping(d))
    book = Book.from_portfolios(scaled)
    together = model.requirement(book, market)
    for k, one in enumerate(scaled):
        alone = model.requirement(Book.from_portfolios([one], columns=book.columns), market)
        assert together.initial_margin[k] == pytest.approx(alone.initial_margin[0], rel=1e-12)
        assert together.maintenance_margin[k] == pytest.approx(alone.maintenance_margin[0], rel=1e-12)


def test_long_options_paid_in_full_by_default() -> None:
    """With the shipped preset a long option's Derive value is added to IM, not MM (docs/margin.md)."""
    case = next(c for c in STATED if c["name"].startswith("test_46"))  # a long call
    strict, pf, market = _build(case)
    shipped = DeriveMargin(preset=strict.preset.model_copy(update={"long_options_paid_in_full": True}))
    book = Book.from_portfolios([pf])
    a, b = strict.requirement(book, market), shipped.requirement(book, market)
    long_value = b.breakdown[0].health["long_options_value"]
    assert long_value > 0
    assert b.initial_margin[0] == pytest.approx(a.initial_margin[0] + long_value, rel=1e-12)
    assert b.maintenance_margin[0] == a.maintenance_margin[0]


def test_resolves_by_name_and_reports() -> None:
    assert isinstance(resolve_model("derive-pmrm"), DeriveMargin)
    assert isinstance(resolve_model("DERIVE"), DeriveMargin)
    _, pf, market = _build(STATED[0])
    with pytest.raises(Exception, match="collateral coin"):
        DeriveMargin(
            preset={"kind": "derive", "name": "x", "parameters": STATED[0]["Parameters"]}
        ).requirement(
            Book.from_portfolios([portfolio_from_mapping({"account": "a", "collateral": {"ZZZ": 1.0}})]),
            MarketSnapshot(valuation_time=market.valuation_time, index_usd={"ZZZ": 1.0}),
        )
    doc = account_report(resolve_model("derive-pmrm"), pf, market)
    assert doc.model == "derive" and any("no SVI fit" in w for w in doc.warnings)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFORMANCE_BOOKS = (
    tuple(load_portfolio(EXAMPLES / f) for f in ("portfolio.yaml", "hedged.yaml", "linear.yaml")),
)


@parametrize_margin_models(
    ["derive-pmrm"], market=load_market(EXAMPLES / "market.yaml"), books=CONFORMANCE_BOOKS
)
def test_conformance(model: object, check: object) -> None:
    check(model)  # type: ignore[operator]
