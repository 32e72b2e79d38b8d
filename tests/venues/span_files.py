"""Small SPAN XML files for the tests, written from risk arrays given as published (tests/venues/test_span.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Fut:
    period: str
    risk: Sequence[float]
    price: float = 100.0
    delta: float = 1.0
    cvf: float = 1.0


@dataclass
class Opt:
    period: str
    kind: str
    strike: float
    risk: Sequence[float]
    price: float = 0.0
    delta: float = 0.5
    cvf: float = 1.0


@dataclass
class Cc:
    code: str
    futures: list[Fut] = field(default_factory=list)
    options: list[Opt] = field(default_factory=list)
    som: float = 0.0
    intra: list[tuple[int, float, str, str]] = field(default_factory=list)
    """(priority, charge per spread, period A, period B), delta ratio 1:1"""
    currency: str = "USD"


def futures_array(scan: float, cover: float = 0.35) -> list[float]:
    """A long future's 16 losses for a price scan range ``scan`` (CME's scenario order; extremes 2 ranges)."""
    moves = [0, 0, 1 / 3, 1 / 3, -1 / 3, -1 / 3, 2 / 3, 2 / 3, -2 / 3, -2 / 3, 1, 1, -1, -1]
    return [-m * scan for m in moves] + [-2 * scan * cover, 2 * scan * cover]


def _ra(values: Sequence[float], delta: float) -> str:
    return "<ra><r>1</r>" + "".join(f"<a>{v!r}</a>" for v in values) + f"<d>{delta!r}</d></ra>"


def span_xml(
    commodities: Sequence[Cc], inter: Sequence[tuple[int, float, Sequence[tuple[str, str, str, float]]]] = ()
) -> str:
    """A spanFile; ``inter``: (priority, credit rate, legs (cc, period, side, delta ratio))."""
    out = [
        '<?xml version="1.0"?>',
        "<spanFile><fileFormat>4.00</fileFormat>",
        "<pointInTime><date>20260105</date>",
    ]
    out.append("<isSetl>1</isSetl><clearingOrg><ec>TEST</ec><exchange><exch>TEST</exch>")
    for cc in commodities:
        if cc.futures:
            out.append(f"<futPf><pfId>1</pfId><pfCode>{cc.code}</pfCode>")
            for i, f in enumerate(cc.futures):
                out.append(
                    f"<fut><cId>{i}</cId><pe>{f.period}</pe><p>{f.price!r}</p><cvf>{f.cvf!r}</cvf>"
                    f"{_ra(f.risk, f.delta)}</fut>"
                )
            out.append("</futPf>")
        if cc.options:
            out.append(f"<oopPf><pfId>2</pfId><pfCode>{cc.code}</pfCode>")
            for o in cc.options:
                out.append(
                    f"<series><pe>{o.period}</pe><opt><cId>1</cId><o>{o.kind}</o><k>{o.strike!r}</k>"
                    f"<p>{o.price!r}</p><cvf>{o.cvf!r}</cvf>{_ra(o.risk, o.delta)}</opt></series>"
                )
            out.append("</oopPf>")
    out.append("</exchange>")
    for cc in commodities:
        out.append(f"<ccDef><cc>{cc.code}</cc><currency>{cc.currency}</currency>")
        if cc.som:
            out.append(
                f"<somTiers><tier><tn>1</tn><rate><r>1</r><val>{cc.som!r}</val></rate></tier></somTiers>"
            )
        for prio, rate, a, b in cc.intra:
            out.append(
                f"<dSpread><spread>{prio}</spread><chargeMeth>F</chargeMeth><rate><r>1</r><val>{rate!r}</val></rate>"
                f"<pLeg><cc>{cc.code}</cc><pe>{a}</pe><rs>A</rs><i>1</i></pLeg>"
                f"<pLeg><cc>{cc.code}</cc><pe>{b}</pe><rs>B</rs><i>1</i></pLeg></dSpread>"
            )
        out.append("</ccDef>")
    if inter:
        out.append("<interSpreads>")
        for prio, rate, legs in inter:
            out.append(
                f"<dSpread><spread>{prio}</spread><chargeMeth>W</chargeMeth><rate><r>1</r><val>{rate!r}</val></rate>"
            )
            for code, period, side, ratio in legs:
                out.append(f"<pLeg><cc>{code}</cc><pe>{period}</pe><rs>{side}</rs><i>{ratio!r}</i></pLeg>")
            out.append("</dSpread>")
        out.append("</interSpreads>")
    out.append("</clearingOrg></pointInTime></spanFile>")
    return "\n".join(out) + "\n"
