"""The ``span`` model's SPAN arithmetic on published cases, and its reader's errors.

- McMillan, *Options as a Strategic Investment* (ch. 34 "Futures and Futures Options", pp. 668-671): the S&P 500
  future's risk array (scan range $10,000, extreme move $7,000), the long December 410 call's array and the
  covered write (long future, short call). The book prints profits as positive; a SPAN array holds losses, so
  each value is negated below. McMillan's requirements: future $10,000, call $3,990 ("futures down three-thirds;
  volatility down"), covered write the worst line of his table, -6,620 ("down three-thirds; volatility up").
- CME Group, "Margin: spread calculations" (cmegroup.com/clearing/margins/spread-calc.html, "for example
  purposes only"): the intra-spread example (months 2, 3, 4 at $500, $500, $750; intra charges $200, $50, $0;
  three portfolios at $200, $300, $250) and the inter-spread example (corn $1,750 vs soybeans $2,500, 2:1 at a
  55% rate: credit $3,300, margin $2,700).
"""

from __future__ import annotations

import pytest

from tests.venues.span_files import Cc, Fut, Opt, futures_array, span_xml
from xmargin.core import InputError
from xmargin.margin import parse_span
from xmargin.margin.venues._span import SpanResult, commodity_arrays, span_result


def figures(text: str, held: dict[str, float]) -> SpanResult:
    """The SPAN figures of ``held`` = {contract label: contracts} on the file in ``text``."""
    span = parse_span(text, source="test.spn")
    arrays = commodity_arrays(span)
    q = {}
    for cc, com in span.commodities.items():
        q[cc] = arrays[cc].delta * 0.0
        for k, c in enumerate(com.contracts):
            q[cc][k] = held.pop(c.label, 0.0)
    assert not held, f"labels not in the file: {held}"
    return span_result(span, arrays, q)


# McMillan ch. 34, p. 668 (long 1 S&P future) and p. 669 (long 1 Dec 410 call): profit (+) / loss (-) per scenario
MCMILLAN_FUTURE_PNL = [
    0,
    0,
    3330,
    3330,
    -3330,
    -3330,
    6670,
    6670,
    -6670,
    -6670,
    10000,
    10000,
    -10000,
    -10000,
    7000,
    -7000,
]
MCMILLAN_CALL_PNL = [
    460,
    -610,
    2640,
    1730,
    -1270,
    -2340,
    5210,
    4540,
    -2540,
    -3430,
    8060,
    7640,
    -3380,
    -3990,
    3130,
    -1500,
]
MCMILLAN = span_xml(
    [
        Cc(
            "SP",
            futures=[Fut("199212", [-x for x in MCMILLAN_FUTURE_PNL])],
            options=[Opt("199212", "C", 410.0, [-x for x in MCMILLAN_CALL_PNL], delta=0.5)],
        )
    ]
)


@pytest.mark.parametrize(
    ("held", "requirement", "scenario"),
    [
        ({"SP fut 199212": 1.0}, 10_000.0, 13),  # p. 668: "the SPAN requirement is always the largest loss"
        ({"SP 199212 C 410": 1.0}, 3_990.0, 14),  # p. 669: $3,990, futures down 3/3, vol down
        ({"SP fut 199212": 1.0, "SP 199212 C 410": -1.0}, 6_620.0, 13),  # p. 670: covered write, worst -6,620
    ],
    ids=["future", "long-call", "covered-write"],
)
def test_mcmillan_risk_arrays(held: dict[str, float], requirement: float, scenario: int) -> None:
    r = figures(MCMILLAN, held).commodities[0]
    assert r.scan_risk == pytest.approx(requirement, abs=1e-9)
    assert r.active_scenario == scenario


def test_mcmillan_covered_write_column() -> None:
    """Every line of McMillan's covered-write table (p. 670) is future P&L − call P&L, here as losses."""
    r = figures(MCMILLAN, {"SP fut 199212": 1.0, "SP 199212 C 410": -1.0}).commodities[0]
    printed = [
        -460,
        610,
        690,
        1600,
        -2060,
        -990,
        1460,
        2130,
        -4130,
        -3240,
        1940,
        2360,
        -6620,
        -6010,
        3870,
        -5500,
    ]
    assert r.scenario_losses == pytest.approx([-x for x in printed], abs=1e-9)


CME_INTRA = span_xml(
    [
        Cc(
            "X",
            futures=[
                Fut("202602", futures_array(500.0)),
                Fut("202603", futures_array(500.0)),
                Fut("202604", futures_array(750.0)),
            ],
            intra=[
                (1, 200.0, "202602", "202603"),
                (2, 50.0, "202602", "202604"),
                (3, 0.0, "202603", "202604"),
            ],
        )
    ]
)


@pytest.mark.parametrize(
    ("long", "short", "margin"),
    [("202602", "202603", 200.0), ("202602", "202604", 300.0), ("202603", "202604", 250.0)],
)
def test_cme_intra_spread_example(long: str, short: str, margin: float) -> None:
    res = figures(CME_INTRA, {f"X fut {long}": 1.0, f"X fut {short}": -1.0})
    assert res.total == pytest.approx(margin, abs=1e-9)


def test_cme_inter_spread_example() -> None:
    """Corn vs soybeans 2:1 at 55%: 3,500 + 2,500 outright, 3,300 credited (1,925 + 1,375), 2,700 to post."""
    text = span_xml(
        [
            Cc("C", futures=[Fut("202603", futures_array(1750.0))]),
            Cc("S", futures=[Fut("202603", futures_array(2500.0))]),
        ],
        inter=[(1, 0.55, [("C", "202603", "A", 2.0), ("S", "202603", "B", 1.0)])],
    )
    res = figures(text, {"C fut 202603": 2.0, "S fut 202603": -1.0})
    corn, soy = res.commodities
    assert (corn.scan_risk, soy.scan_risk) == pytest.approx((3500.0, 2500.0))
    assert (corn.inter_credit, soy.inter_credit) == pytest.approx((1925.0, 1375.0))
    assert res.inter_credit == pytest.approx(3300.0)
    assert res.total == pytest.approx(2700.0)


def test_same_side_legs_form_no_inter_spread() -> None:
    text = span_xml(
        [
            Cc("C", futures=[Fut("202603", futures_array(1750.0))]),
            Cc("S", futures=[Fut("202603", futures_array(2500.0))]),
        ],
        inter=[(1, 0.55, [("C", "202603", "A", 2.0), ("S", "202603", "B", 1.0)])],
    )
    res = figures(text, {"C fut 202603": 2.0, "S fut 202603": 1.0})
    assert res.inter_credit == 0.0 and res.total == pytest.approx(6000.0)


def test_short_option_minimum_and_net_option_value() -> None:
    """A far out-of-the-money short put whose scan is below the minimum pays the minimum; its premium (NOV < 0)
    is added on top: total = max(scan, SOM) − NOV (CME)."""
    tiny = [
        -0.5,
        0.5,
        0.8,
        1.2,
        -1.0,
        -0.5,
        1.5,
        1.8,
        -3.0,
        -2.0,
        2.0,
        2.2,
        -6.0,
        -5.0,
        2.5,
        -4.0,
    ]  # long put
    text = span_xml([Cc("B", options=[Opt("202603", "P", 50.0, tiny, price=3.0, cvf=10.0)], som=25.0)])
    res = figures(text, {"B 202603 P 50": -2.0})
    r = res.commodities[0]
    assert r.scan_risk == pytest.approx(12.0)  # short 2: -2 x -6 on scenario 13
    assert r.active_scenario == 13
    assert r.short_option_minimum == pytest.approx(50.0)
    assert r.risk == pytest.approx(50.0)
    assert r.net_option_value == pytest.approx(-60.0)  # -2 contracts x 3 x cvf 10
    assert res.total == pytest.approx(110.0)


def test_long_option_value_offsets_other_risk() -> None:
    """Long options' value offsets risk across commodities (CME's unlimited available NOV), floored at 0:
    total = max(0, Σ risk − Σ NOV). (marginism floors each commodity at 0 instead: 500 in the second case.)"""
    call = [-x for x in MCMILLAN_CALL_PNL]
    for premium, total in ((2000.0, 3990.0 + 500.0 - 2000.0), (5000.0, 0.0)):
        text = span_xml(
            [
                Cc("A", options=[Opt("1", "C", 1.0, call, price=premium)]),
                Cc("F", futures=[Fut("1", futures_array(500.0))]),
            ]
        )
        res = figures(text, {"A 1 C 1": 1.0, "F fut 1": 1.0})
        assert res.risk == pytest.approx(3990.0 + 500.0)
        assert res.total == pytest.approx(total)


# -- the reader -------------------------------------------------------------------------------------------------
GOOD = span_xml(
    [
        Cc(
            "B",
            futures=[Fut("202603", futures_array(100.0))],
            options=[Opt("202603", "C", 10.0, futures_array(50.0))],
        )
    ]
)


@pytest.mark.parametrize(
    ("edit", "where", "expected"),
    [
        (lambda t: t.replace("<a>0.0</a>", "", 1), "<futPf B/fut/ra>", "16 risk-array values"),
        (lambda t: t.replace("<o>C</o>", "<o>X</o>"), "<oopPf B/opt/o>", "option type C or P"),
        (lambda t: t.replace("<p>100.0</p>", "<p>abc</p>"), "<futPf B/fut/p>", "a finite number"),
        (
            lambda t: t.replace("<currency>USD</currency>", "<currency>INR</currency>"),
            "<ccDef B/currency>",
            "USD",
        ),
        (lambda t: t.replace("<ccDef><cc>B</cc>", "<ccDef><cc>Q</cc>"), "<pfCode B>", "a ccDef for every"),
        (
            lambda t: t.replace("<date>20260105</date>", "<date>2026-01-05</date>"),
            "<pointInTime/date>",
            "YYYYMMDD",
        ),
        (
            lambda t: t.replace("<spanFile>", '<!DOCTYPE x [<!ENTITY a "b">]><spanFile>'),
            "line 2",
            "without a document type",
        ),
        (lambda t: t.replace("</spanFile>", ""), "line ", "well-formed XML"),
        (lambda t: "name,value\n1,2\n", "line 1", "a SPAN XML risk-parameter file"),
        (lambda t: t.replace("<k>10.0</k>", "<k>-1</k>"), "<oopPf B/opt/k>", "a strike > 0"),
    ],
    ids=[
        "short-array",
        "option-type",
        "price",
        "currency",
        "no-ccdef",
        "date",
        "doctype",
        "truncated",
        "csv",
        "strike",
    ],
)
def test_a_bad_file_names_line_record_and_what_was_found(edit, where: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as exc:
        parse_span(edit(GOOD), source="bad.spn")
    msg = str(exc.value)
    assert msg.startswith("bad.spn: line ") and where in msg and expected in msg and "found" in msg


def test_a_duplicate_contract_is_bad_input() -> None:
    text = span_xml([Cc("B", futures=[Fut("202603", futures_array(1.0)), Fut("202603", futures_array(2.0))])])
    with pytest.raises(InputError, match=r"one contract B fut 202603 \(first at line \d+\)"):
        parse_span(text, source="dup.spn")


def test_an_unimplemented_charge_method_is_bad_input() -> None:
    text = span_xml(
        [
            Cc(
                "B",
                futures=[Fut("1", futures_array(1.0)), Fut("2", futures_array(1.0))],
                intra=[(1, 5.0, "1", "2")],
            )
        ]
    )
    with pytest.raises(InputError, match=r"<ccDef B/dSpread/chargeMeth>: expected F .*found 'P'"):
        parse_span(text.replace("<chargeMeth>F</chargeMeth>", "<chargeMeth>P</chargeMeth>"), source="m.spn")


def test_inter_rate_must_be_a_fraction() -> None:
    text = span_xml(
        [Cc("C", futures=[Fut("1", futures_array(1.0))]), Cc("S", futures=[Fut("1", futures_array(1.0))])],
        inter=[(1, 55.0, [("C", "1", "A", 1.0), ("S", "1", "B", 1.0)])],
    )
    with pytest.raises(InputError, match=r"credit rate as a fraction"):
        parse_span(text, source="x.spn")
