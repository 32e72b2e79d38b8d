"""The ``span`` model kind: CME SPAN from an exchange risk-parameter file (``--span-file``) on an xmargin book.

Each derivative column is matched to a contract of the file (``_span_file``): the combined commodity named by
its base coin (``BTC``), the period of its expiry (``YYYYMMDD``, else ``YYYYMM``), and for an option its type and
strike. Sizes are in coin, so a position holds ``size / cvf`` contracts (the file's contract value factor: coin
per contract). A perpetual, or a derivative the file does not list, is bad input naming the column and the file.
Linear and inverse contracts both take the file's USD risk array (named in ``warnings`` for inverse ones).
Coin and stablecoin balances are collateral, valued at index without haircuts; SPAN margins derivatives only.

Results (USD): SPAN's total ``max(0, Σ risk − NOV)`` is the cash an account must hold, with
``risk = max(scan + intra − inter, SOM)`` per commodity and NOV the options' value at the file's prices. xmargin's
equity also counts the options, at their mark; so IM = MM = SPAN total + that option value (at least 0), and
``available`` = cash (and futures P&L) − SPAN total: SPAN's own excess, whatever market values the options. A long
option alone is thereby paid in full (docs/margin.md "Long options are paid in full"). SPAN gives one figure, so
IM = MM (an exchange's initial-to-maintenance ratio is not in the file). The breakdown carries every component.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path

import numpy as np
from scipy import sparse

from xmargin.core import InputError
from xmargin.instruments import Instrument, Kind
from xmargin.margin._model import FloatArray, MarginResult, check_prepared, register, sum_parts
from xmargin.margin._result import SpanBreakdown, SpanCommodity
from xmargin.margin.venues._span import CommodityArrays, SpanResult, commodity_arrays, span_batch, span_result
from xmargin.margin.venues._span_file import SpanFile, read_span_file
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, Columns, InstrumentTable, equity_usd, pin_entries, resolve_instruments

SOURCE = (
    "CME SPAN (cmegroup.com 'Components of SPAN', pubspan wiki, clearing/margins/spread-calc.html); XML layout "
    "of spanrisk.xml as read by marginism 0.1.1 (MIT, github.com/marketcalls/marginism @ 733c56d); "
    "McMillan, Options as a Strategic Investment, ch. 34; docs/margin.md#span"
)
EXPIRY_HOUR = 8
CHUNK = 8192
"""Accounts evaluated at once (bounds the dense (accounts × contracts) arrays)."""


@dataclass(frozen=True, slots=True, eq=False)
class SpanPrepared:
    """Each column's commodity and contract index in the file (-1: a coin balance), and the resolved columns."""

    market: MarketSnapshot
    columns: Columns
    cc: tuple[str, ...]
    contract: tuple[int, ...]
    contracts_per_coin: tuple[float, ...]
    table: InstrumentTable
    warnings: tuple[str, ...] = field(default=())


def _periods(inst: Instrument) -> tuple[str, ...]:
    assert inst.expiry is not None
    return (inst.expiry.strftime("%Y%m%d"), inst.expiry.strftime("%Y%m"))


def _by_period(span: SpanFile) -> dict[tuple[str, str], list[int]]:
    """The contracts of each (commodity, period), by index in the commodity."""
    out: dict[tuple[str, str], list[int]] = {}
    for code, cc in span.commodities.items():
        for k, c in enumerate(cc.contracts):
            out.setdefault((code, c.period), []).append(k)
    return out


def _find(span: SpanFile, index: dict[tuple[str, str], list[int]], inst: Instrument) -> tuple[int, float]:
    cc = span.commodities.get(inst.base)
    if cc is None:
        raise InputError(
            where=f"{inst.name} in {span.source}",
            expected=f"a combined commodity {inst.base} (the file has {', '.join(span.commodities) or 'none'})",
            found="none",
        )
    periods = _periods(inst)
    for want in periods:
        for k in index.get((inst.base, want), []):
            c = cc.contracts[k]
            if inst.kind is Kind.FUTURE and c.kind == "fut":
                return k, 1.0 / c.cvf
            if inst.kind is Kind.OPTION and c.kind == "opt":
                assert c.strike is not None and inst.strike_usd is not None
                if c.option_type == ("C" if inst.is_call else "P") and math.isclose(
                    c.strike, inst.strike_usd, rel_tol=1e-9
                ):
                    return k, 1.0 / c.cvf
    what = "future" if inst.kind is Kind.FUTURE else "option"
    raise InputError(
        where=f"{inst.name} in {span.source}",
        expected=f"a {inst.base} {what} of period {periods[0]} or {periods[1]}"
        + (f", {'C' if inst.is_call else 'P'} {inst.strike_usd:g}" if inst.kind is Kind.OPTION else ""),
        found="no such contract",
    )


def span_market(span: SpanFile) -> MarketSnapshot:
    """A market read from the file alone: valuation at the business date (00:00 UTC), each commodity's index
    at its underlying's price (else its nearest future's), futures marks and each option's implied vol."""
    when = datetime.combine(span.business_date, time(0, 0), tzinfo=UTC)
    index: dict[str, float] = {}
    marks: dict[str, float] = {}
    ivs: dict[str, float] = {}
    vols: dict[str, float] = {}
    for cc, com in span.commodities.items():
        futs = sorted((c for c in com.contracts if c.kind == "fut"), key=lambda c: c.period)
        spot = com.underlying_price or (futs[0].price if futs else None)
        if spot is None or spot <= 0:
            continue
        index[cc] = spot
        for c in com.contracts:
            if len(c.period) != 8 or c.kind == "phy":
                continue
            expiry = datetime.strptime(c.period, "%Y%m%d").replace(hour=EXPIRY_HOUR, tzinfo=UTC)
            if c.kind == "fut":
                marks[Instrument(Kind.FUTURE, cc, expiry=expiry).name] = c.price
            elif c.vol > 0:
                for quote in (None, "USDC"):
                    inst = Instrument(Kind.OPTION, cc, quote, expiry, c.strike, c.option_type == "C")
                    ivs[inst.name] = c.vol
        opt_vols = [c.vol for c in com.contracts if c.kind == "opt" and c.vol > 0]
        if opt_vols:
            vols[cc] = float(np.median(opt_vols))
    return MarketSnapshot(
        valuation_time=when,
        index_usd=index,
        marks_usd=marks,
        vol=vols,
        option_iv=ivs,
        source=f"{span.source} (SPAN file)",
    )


@register("span", preset_kinds=("span",))
class SpanMargin:
    """SPAN from an exchange risk-parameter file: 16-scenario scan, calendar and inter spreads, SOM, NOV."""

    name = "span"
    source = SOURCE
    decomposes_by_underlying = False
    decomposes_by_underlying_reason = "inter-commodity spread credits join commodities"
    scales_linearly = True
    scales_linearly_reason = ""
    subadditive = False
    subadditive_reason = "an intra-commodity spread charge is added when two books' legs meet"

    def __init__(self, span_file: str | Path | SpanFile | None = None, preset: str | None = None) -> None:
        if preset is not None:
            raise InputError(
                where="--preset",
                expected="no preset for the span model (its parameters are the file's)",
                found=preset,
            )
        if span_file is None:
            raise InputError(
                where="--span-file",
                expected="a SPAN risk-parameter file for the span model (--model span --span-file FILE)",
                found="none",
            )
        self.span = span_file if isinstance(span_file, SpanFile) else read_span_file(span_file)
        self.arrays: dict[str, CommodityArrays] = commodity_arrays(self.span)
        self.index = _by_period(self.span)
        self.preset_name = Path(self.span.source).name

    def __repr__(self) -> str:
        return f"SpanMargin(span_file={self.span.source!r})"

    def market(self) -> MarketSnapshot:
        """The market the file implies (``span_market``), for a portfolio margined without a market file."""
        return span_market(self.span)

    def prepare(self, columns: Columns, market: MarketSnapshot) -> SpanPrepared:
        ccs: list[str] = []
        idx: list[int] = []
        per_coin: list[float] = []
        errors: list[InputError] = []
        inverse: list[str] = []
        for inst in columns.instruments:
            if inst.kind is Kind.SPOT:
                ccs.append("")
                idx.append(-1)
                per_coin.append(0.0)
                continue
            if inst.kind is Kind.PERPETUAL:
                errors.append(
                    InputError(
                        where=f"{inst.name} in {self.span.source}",
                        expected="futures and options (a SPAN file lists no perpetuals)",
                        found="a perpetual",
                    )
                )
                continue
            try:
                k, n = _find(self.span, self.index, inst)
            except InputError as exc:
                errors.append(exc)
                continue
            if inst.inverse:
                inverse.append(inst.name)
            ccs.append(inst.base)
            idx.append(k)
            per_coin.append(n)
        if errors:
            from xmargin.core import InputErrors

            raise InputErrors(errors)
        table = resolve_instruments(columns, market)
        warnings = list(self.span.notes) + list(table.warnings)
        if inverse:
            warnings.append(
                f"span: inverse contracts margined with the file's USD risk arrays: {', '.join(sorted(inverse))}"
            )
        return SpanPrepared(
            market, columns, tuple(ccs), tuple(idx), tuple(per_coin), table, tuple(dict.fromkeys(warnings))
        )

    def evaluate(self, prep: SpanPrepared, cols: np.ndarray, size: np.ndarray) -> SpanResult:
        """The SPAN figures of one account's positions (columns and coin sizes)."""
        q = {cc: np.zeros(len(a.period)) for cc, a in self.arrays.items()}
        for c, s in zip(cols.tolist(), size.tolist(), strict=True):
            k = prep.contract[c]
            if k >= 0:
                q[prep.cc[c]][k] += s * prep.contracts_per_coin[c]
        return span_result(self.span, self.arrays, q)

    def requirement(
        self,
        book: Book,
        market: MarketSnapshot,
        *,
        detail: bool = True,
        prepared: SpanPrepared | None = None,
    ) -> MarginResult:
        """IM = MM = SPAN total + the options' value (USD) of every account; equity at the market (docstring)."""
        if prepared is None:
            prep = self.prepare(book.columns, market)
        else:
            check_prepared(prepared.market, prepared.columns, book, market, where="span.requirement")
            prep = prepared
        n = book.n_accounts
        total = np.zeros(n)
        breakdowns: list[SpanBreakdown] = []
        option_value = np.asarray(book.q @ np.where(prep.table.is_option, prep.table.value_usd, 0.0))
        maps = self._contract_maps(prep)
        for lo in range(0, n, CHUNK):
            rows = book.q[lo : lo + CHUNK]
            batch = span_batch(
                self.span, self.arrays, {cc: np.asarray((rows @ m).toarray()) for cc, m in maps.items()}
            )
            total[lo : lo + CHUNK] = batch.total
            if detail:
                for r in range(rows.shape[0]):
                    breakdowns.append(self._breakdown(batch.account(r), float(option_value[lo + r])))
        im = np.maximum(total + option_value, 0.0)
        equity = equity_usd(book, prep.table)
        return MarginResult(
            self.name, book.accounts, im, im.copy(), equity, equity.copy(), tuple(breakdowns), prep.warnings
        )

    def _contract_maps(self, prep: SpanPrepared) -> dict[str, sparse.csr_matrix]:
        """Per commodity, the (columns × contracts) matrix turning coin sizes into contracts."""
        out = {}
        n_cols = len(prep.cc)
        for cc, a in self.arrays.items():
            cols = [c for c in range(n_cols) if prep.cc[c] == cc]
            data = [prep.contracts_per_coin[c] for c in cols]
            idx = [prep.contract[c] for c in cols]
            out[cc] = sparse.csr_matrix((data, (cols, idx)), shape=(n_cols, len(a.period)))
        return out

    def _breakdown(self, res: SpanResult, option_value: float) -> SpanBreakdown:
        return SpanBreakdown(
            option_value_usd=option_value,
            preset=self.preset_name,
            source=SOURCE,
            span_file=self.span.source,
            business_date=self.span.business_date.isoformat(),
            scan_risk=res.scan_risk,
            intra_charge=res.intra_charge,
            inter_credit=res.inter_credit,
            short_option_minimum=res.short_option_minimum,
            risk=res.risk,
            net_option_value=res.net_option_value,
            span_requirement=res.total,
            commodities={
                c.cc: SpanCommodity(
                    scan_risk=c.scan_risk,
                    active_scenario=c.active_scenario,
                    scenario_losses=c.scenario_losses,
                    time_risk=c.time_risk,
                    volatility_risk=c.volatility_risk,
                    price_risk=c.price_risk,
                    net_delta=c.net_delta,
                    intra_charge=c.intra_charge,
                    inter_credit=c.inter_credit,
                    short_option_minimum=c.short_option_minimum,
                    risk=c.risk,
                    net_option_value=c.net_option_value,
                    requirement=c.requirement,
                )
                for c in res.commodities
            },
        )

    def combine(self, parts: FloatArray) -> FloatArray:
        return sum_parts(parts)

    def pin(self, book: Book, market: MarketSnapshot) -> Book:
        """Futures held without an entry price entered at today's mark (``risk.pin_entries``)."""
        return pin_entries(book, market)
