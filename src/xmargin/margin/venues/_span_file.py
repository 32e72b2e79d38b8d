"""Reader of SPAN risk-parameter files in the XML form (``spanFile``, fileFormat 4.00; the ``.spn`` files that
CME and NSCCL publish), the subset that the ``span`` model uses.

The layout follows CME's SPAN XML schema (``spanrisk.xml``, as shipped beside the MIT-licensed ``marginism``
0.1.1, github.com/marketcalls/marginism @ 733c56d), and what is read matches what marginism's ``parser.py`` reads,
so that both run on the same files:

- ``spanFile/pointInTime``: ``date`` (business date, YYYYMMDD), ``isSetl``; ``clearingOrg/ec``;
- per exchange, the product families ``phyPf`` (the underlying), ``futPf/fut`` and ``oopPf/series/opt``: product
  code ``pfCode`` (= the combined commodity, as marginism reads it), period ``pe``, price ``p``, implied vol ``v``,
  contract value factor ``cvf`` (contract, series or family; 1 when absent), option type ``o`` and strike ``k``,
  and the risk array ``ra``: 16 values ``a`` (loss of one long contract per scenario, positive = loss, in the
  commodity's currency) and the composite delta ``d``;
- ``ccDef``: ``cc``, ``currency`` (USD only), ``somMeth`` (``GROSS``), ``wfprMeth`` (``NORMAL``), tiers
  ``somTiers``/``intraTiers``/``interTiers`` (``tn``, ``sPe``, ``ePe``, ``rate/val``), intra-commodity spreads
  ``dSpread`` (``spread`` priority, ``chargeMeth`` ``F``, ``rate/val`` per spread, legs ``pLeg`` by period or
  ``tLeg`` by tier with ``rs`` side A/B and ``i`` delta ratio);
- ``clearingOrg/interSpreads/dSpread``: inter-commodity spreads (``chargeMeth`` ``W``, weighted price risk),
  ``rate/val`` the credit as a fraction (0.55 = 55%; the schema gives no unit, CME's reports print it in percent).

Any other element is ignored (a ``spotRate`` is named in the file's notes: delivery charges are not computed).
Every problem is bad input naming the file, the line and the record, what was expected and what was found; a
document type declaration is refused (no entity expansion).
"""

from __future__ import annotations

import math
import xml.parsers.expat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from xmargin.core import InputError, read_text

MAX_SPAN_BYTES = 256 * 1024 * 1024
SCENARIOS = 16
Side = Literal["A", "B"]


# -- a small element tree that keeps line numbers ---------------------------------------------------------------
@dataclass(slots=True, eq=False)
class Node:
    tag: str
    line: int
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def all(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def first(self, tag: str) -> Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def value(self, tag: str) -> str | None:
        c = self.first(tag)
        return None if c is None else c.text.strip()


def _parse_xml(text: str, source: str) -> Node:
    parser = xml.parsers.expat.ParserCreate()
    stack: list[Node] = []
    root: list[Node] = []

    def start(tag: str, _attrs: dict[str, str]) -> None:
        node = Node(tag, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        if stack:
            stack[-1].text += data

    def doctype(*_args: object) -> None:
        raise InputError(
            where=f"{source}: line {parser.CurrentLineNumber}",
            expected="a SPAN XML file without a document type declaration",
            found="<!DOCTYPE ...>",
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as exc:
        raise InputError(
            where=f"{source}: line {exc.lineno} column {exc.offset + 1}",
            expected="well-formed XML (a SPAN risk-parameter file, spanFile)",
            found=xml.parsers.expat.ErrorString(exc.code),
        ) from None
    if not root:
        raise InputError(where=source, expected="a spanFile XML document", found="no element")
    return root[0]


# -- the file's records -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SpanContract:
    """One contract and its risk array: ``risk`` = loss of one long contract per scenario (currency units)."""

    cc: str
    kind: Literal["phy", "fut", "opt"]
    period: str
    price: float
    cvf: float
    delta: float
    vol: float
    risk: tuple[float, ...]
    option_type: Literal["C", "P"] | None = None
    strike: float | None = None
    line: int = 0

    @property
    def label(self) -> str:
        if self.kind == "opt":
            return f"{self.cc} {self.period} {self.option_type} {self.strike:g}"
        return f"{self.cc} {self.kind} {self.period}"


@dataclass(frozen=True, slots=True)
class SpreadLeg:
    """A spread leg: a commodity's period (``pLeg``) or tier (``tLeg``), its side and its delta per spread."""

    cc: str
    period: str | None
    tier: str | None
    side: Side
    ratio: float


@dataclass(frozen=True, slots=True)
class DeltaSpread:
    """A delta spread: intra (a charge per spread) or inter (a credit rate on each leg's weighted price risk)."""

    priority: int
    rate: float
    legs: tuple[SpreadLeg, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Tier:
    """Consecutive periods of one commodity (``sPe``..``ePe``, inclusive; open when absent) and its rate."""

    number: str
    start: str | None
    end: str | None
    rate: float

    def holds(self, period: str) -> bool:
        return (self.start is None or period >= self.start) and (self.end is None or period <= self.end)


@dataclass(frozen=True, slots=True)
class CombinedCommodity:
    cc: str
    currency: str
    contracts: tuple[SpanContract, ...]
    som_tiers: tuple[Tier, ...] = ()
    intra_tiers: tuple[Tier, ...] = ()
    inter_tiers: tuple[Tier, ...] = ()
    intra_spreads: tuple[DeltaSpread, ...] = ()
    underlying_price: float | None = None


@dataclass(frozen=True, slots=True)
class SpanFile:
    source: str
    business_date: date
    clearing_org: str
    commodities: Mapping[str, CombinedCommodity]
    inter_spreads: tuple[DeltaSpread, ...] = ()
    notes: tuple[str, ...] = ()


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, node: Node, record: str, expected: str, found: object) -> InputError:
        return InputError(where=f"{self.source}: line {node.line} <{record}>", expected=expected, found=found)

    def text(self, node: Node, tag: str, record: str, *, default: str | None = None) -> str:
        v = node.value(tag)
        if v is None or v == "":
            if default is not None:
                return default
            raise self.err(node, record, f"a <{tag}> element", "none")
        return v

    def number(self, node: Node, tag: str, record: str, *, default: float | None = None) -> float:
        child = node.first(tag)
        if child is None or not child.text.strip():
            if default is not None:
                return default
            raise self.err(node, record, f"a <{tag}> number", "none")
        return self.parse_number(child, f"{record}/{tag}")

    def parse_number(self, node: Node, record: str) -> float:
        t = node.text.strip()
        try:
            x = float(t)
        except ValueError:
            x = math.nan
        if not math.isfinite(x):
            raise self.err(node, record, "a finite number", t)
        return x

    def rate(self, node: Node, record: str, *, default: float | None = 0.0) -> float:
        """A ``<rate><val>`` (the first rate: performance-bond class 1)."""
        r = node.first("rate")
        if r is None:
            if default is None:
                raise self.err(node, record, "a <rate><val> element", "none")
            return default
        return self.number(r, "val", f"{record}/rate")

    def risk_array(self, node: Node, record: str) -> tuple[tuple[float, ...], float]:
        ra = node.first("ra")
        if ra is None:
            raise self.err(node, record, "a risk array <ra> of 16 values", "none")
        values = tuple(self.parse_number(a, f"{record}/ra/a") for a in ra.all("a"))
        if len(values) != SCENARIOS:
            raise self.err(ra, f"{record}/ra", f"{SCENARIOS} risk-array values <a>", len(values))
        return values, self.number(ra, "d", f"{record}/ra", default=0.0)

    def tiers(self, cc_node: Node, tag: str, cc: str) -> tuple[Tier, ...]:
        out: list[Tier] = []
        for block in cc_node.all(tag):
            for t in block.all("tier"):
                rec = f"ccDef {cc}/{tag}/tier"
                out.append(
                    Tier(
                        self.text(t, "tn", rec),
                        t.value("sPe") or None,
                        t.value("ePe") or None,
                        self.rate(t, rec),
                    )
                )
        return tuple(out)

    def spread(self, node: Node, record: str, *, inter: bool) -> DeltaSpread:
        # the schema's ChargeMeth: F flat rate, P per month per spread, W weighted price risk
        want = "W" if inter else "F"
        method = self.text(node, "chargeMeth", record, default=want)
        if method != want:
            what = "weighted price risk" if inter else "a flat charge per spread"
            raise self.err(node, f"{record}/chargeMeth", f"{want} ({what}; the method implemented)", method)
        rate = self.rate(node, record, default=None)
        if inter and not 0.0 <= rate <= 1.0:
            raise self.err(node, f"{record}/rate", "a credit rate as a fraction in [0, 1] (0.55 = 55%)", rate)
        if not inter and rate < 0:
            raise self.err(node, f"{record}/rate", "a charge per spread >= 0", rate)
        legs: list[SpreadLeg] = []
        for leg in node.children:
            if leg.tag not in ("pLeg", "tLeg"):
                continue
            rec = f"{record}/{leg.tag}"
            side = self.text(leg, "rs", rec)
            if side not in ("A", "B"):
                raise self.err(leg, f"{rec}/rs", "side A or B", side)
            ratio = self.number(leg, "i", rec)
            if ratio <= 0:
                raise self.err(leg, f"{rec}/i", "a delta per spread > 0", ratio)
            period = self.text(leg, "pe", rec) if leg.tag == "pLeg" else None
            tier = self.text(leg, "tn", rec) if leg.tag == "tLeg" else None
            legs.append(SpreadLeg(self.text(leg, "cc", rec), period, tier, side, ratio))  # type: ignore[arg-type]
        sides = {leg.side for leg in legs}
        if len(legs) < 2 or sides != {"A", "B"}:
            raise self.err(node, record, "two or more legs (pLeg or tLeg), on both sides A and B", len(legs))
        priority = self.number(node, "spread", record)
        return DeltaSpread(int(priority), rate, tuple(legs), node.line)

    def contract(
        self, node: Node, pf: Node, kind: Literal["phy", "fut", "opt"], cc: str, period: str, cvf: float
    ) -> SpanContract:
        record = f"{pf.tag} {cc}/{node.tag}"
        risk, delta = self.risk_array(node, record)
        c_cvf = self.number(node, "cvf", record, default=cvf)
        if c_cvf <= 0:
            raise self.err(node, f"{record}/cvf", "a contract value factor > 0", c_cvf)
        opt_type: Literal["C", "P"] | None = None
        strike = None
        if kind == "opt":
            o = self.text(node, "o", record)
            if o not in ("C", "P"):
                raise self.err(node, f"{record}/o", "option type C or P", o)
            opt_type = "C" if o == "C" else "P"
            strike = self.number(node, "k", record)
            if strike <= 0:
                raise self.err(node, f"{record}/k", "a strike > 0", strike)
        return SpanContract(
            cc=cc,
            kind=kind,
            period=period,
            price=self.number(node, "p", record),
            cvf=c_cvf,
            delta=delta,
            vol=self.number(node, "v", record, default=0.0),
            risk=risk,
            option_type=opt_type,
            strike=strike,
            line=node.line,
        )

    def families(self, org: Node) -> tuple[dict[str, list[SpanContract]], dict[str, float]]:
        contracts: dict[str, list[SpanContract]] = {}
        spot: dict[str, float] = {}
        for exch in org.all("exchange"):
            for pf in exch.children:
                if pf.tag not in ("phyPf", "futPf", "oopPf"):
                    continue
                cc = self.text(pf, "pfCode", pf.tag)
                cvf = self.number(pf, "cvf", f"{pf.tag} {cc}", default=1.0)
                out = contracts.setdefault(cc, [])
                if pf.tag == "phyPf":
                    for phy in pf.all("phy"):
                        spot[cc] = self.number(phy, "p", f"phyPf {cc}/phy")
                        if phy.first("ra") is not None:
                            period = self.text(phy, "pe", f"phyPf {cc}/phy", default="00000000")
                            out.append(self.contract(phy, pf, "phy", cc, period, cvf))
                elif pf.tag == "futPf":
                    for fut in pf.all("fut"):
                        period = self.text(fut, "pe", f"futPf {cc}/fut")
                        out.append(self.contract(fut, pf, "fut", cc, period, cvf))
                else:
                    for series in pf.all("series"):
                        period = self.text(series, "pe", f"oopPf {cc}/series")
                        s_cvf = self.number(series, "cvf", f"oopPf {cc}/series", default=cvf)
                        for opt in series.all("opt"):
                            out.append(self.contract(opt, pf, "opt", cc, period, s_cvf))
        return contracts, spot

    def commodity(self, node: Node, contracts: list[SpanContract], spot: float | None) -> CombinedCommodity:
        cc = self.text(node, "cc", "ccDef")
        rec = f"ccDef {cc}"
        currency = self.text(node, "currency", rec)
        if currency != "USD":
            raise self.err(node, f"{rec}/currency", "USD (the currency xmargin margins in)", currency)
        som = self.text(node, "somMeth", rec, default="GROSS")
        if som != "GROSS":
            raise self.err(
                node, f"{rec}/somMeth", "GROSS (a rate per short option; the method implemented)", som
            )
        wfpr = self.text(node, "wfprMeth", rec, default="NORMAL")
        if wfpr != "NORMAL":
            raise self.err(node, f"{rec}/wfprMeth", "NORMAL (price risk per net delta)", wfpr)
        spreads = sorted(
            (self.spread(s, f"{rec}/dSpread", inter=False) for s in node.all("dSpread")),
            key=lambda s: s.priority,
        )
        for s in spreads:
            for leg in s.legs:
                if leg.cc != cc:
                    raise self.err(node, f"{rec}/dSpread", f"intra-commodity legs of {cc}", leg.cc)
        return CombinedCommodity(
            cc=cc,
            currency=currency,
            contracts=tuple(contracts),
            som_tiers=self.tiers(node, "somTiers", cc),
            intra_tiers=self.tiers(node, "intraTiers", cc),
            inter_tiers=self.tiers(node, "interTiers", cc),
            intra_spreads=tuple(spreads),
            underlying_price=spot,
        )

    def read(self, root: Node) -> SpanFile:
        if root.tag != "spanFile":
            raise self.err(
                root, root.tag, "a <spanFile> document (SPAN XML, fileFormat 4.00)", f"<{root.tag}>"
            )
        pits = root.all("pointInTime")
        if len(pits) != 1:
            raise self.err(root, "spanFile", "one <pointInTime>", len(pits))
        pit = pits[0]
        raw = self.text(pit, "date", "pointInTime")
        try:
            day = (
                date(int(raw[:4]), int(raw[4:6]), int(raw[6:8])) if len(raw) == 8 and raw.isdigit() else None
            )
        except ValueError:
            day = None
        if day is None:
            raise self.err(pit, "pointInTime/date", "a business date YYYYMMDD", raw)
        orgs = pit.all("clearingOrg")
        if len(orgs) != 1:
            raise self.err(pit, "pointInTime", "one <clearingOrg>", len(orgs))
        org = orgs[0]
        contracts, spot = self.families(org)
        notes: list[str] = []
        commodities: dict[str, CombinedCommodity] = {}
        for node in org.all("ccDef"):
            cc = self.text(node, "cc", "ccDef")
            if cc in commodities:
                raise self.err(node, f"ccDef {cc}", "one ccDef per combined commodity", "a second one")
            commodities[cc] = self.commodity(node, contracts.get(cc, []), spot.get(cc))
            if node.first("spotRate") is not None:
                notes.append(f"span: {cc} has spot (delivery-month) rates, which xmargin does not charge")
        for cc in contracts:
            if cc not in commodities:
                line = contracts[cc][0].line if contracts[cc] else org.line
                raise InputError(
                    where=f"{self.source}: line {line} <pfCode {cc}>",
                    expected="a ccDef for every product family's combined commodity",
                    found=f"no ccDef {cc}",
                )
        self._check_unique(commodities)
        inter: list[DeltaSpread] = []
        for block in org.all("interSpreads"):
            inter.extend(self.spread(s, "interSpreads/dSpread", inter=True) for s in block.all("dSpread"))
        for s in inter:
            for leg in s.legs:
                if leg.cc not in commodities:
                    raise InputError(
                        where=f"{self.source}: line {s.line} <interSpreads/dSpread>",
                        expected=f"legs on defined combined commodities ({', '.join(commodities)})",
                        found=leg.cc,
                    )
        return SpanFile(
            source=self.source,
            business_date=day,
            clearing_org=org.value("ec") or "",
            commodities=commodities,
            inter_spreads=tuple(sorted(inter, key=lambda s: s.priority)),
            notes=tuple(notes),
        )

    def _check_unique(self, commodities: Mapping[str, CombinedCommodity]) -> None:
        for cc in commodities.values():
            seen: dict[tuple[object, ...], int] = {}
            for c in cc.contracts:
                key = (c.kind, c.period, c.option_type, c.strike)
                if key in seen:
                    raise InputError(
                        where=f"{self.source}: line {c.line} <{c.kind}>",
                        expected=f"one contract {c.label} (first at line {seen[key]})",
                        found="a second one",
                    )
                seen[key] = c.line


def read_span_file(path: str | Path) -> SpanFile:
    """Read a SPAN XML risk-parameter file (module docstring); bad input names file, line and record."""
    source = str(path)
    text = read_text(path, limit=MAX_SPAN_BYTES)
    return parse_span(text, source=source)


def parse_span(text: str, *, source: str = "span file") -> SpanFile:
    """The SPAN file in ``text`` (XML); ``source`` names it in errors."""
    head = text.lstrip()[:1]
    if head != "<":
        raise InputError(
            where=f"{source}: line 1",
            expected="a SPAN XML risk-parameter file (<spanFile> ...)",
            found=text.lstrip()[:20] if text.strip() else "an empty file",
        )
    return _Reader(source).read(_parse_xml(text, source))
