"""Deribit standard margin (``standard``): per-instrument rates for futures, the short-option formula.

Sources (also in ``presets/standard-deribit.yaml``; research: ``docs/research/margin_methodology.md`` §2):

- S1: Deribit KB "11 January 2022", https://support.deribit.com/hc/en-us/articles/25944826427293-11-January-2022
- S2: Deribit KB "Linear Perpetual", https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual
- S3: Deribit KB "Standard Margin", https://support.deribit.com/hc/en-us/articles/25944811528477-Standard-Margin
- S4: TSLab's copy of Deribit's option formulas, https://doc.tslab.pro/tslab/eng/data-providers/
  connection-to-broker/deribit-cryptocurrency-exchange/deribit-margin-requirements-calculation

**Futures and perpetuals** (S1, S2), per instrument on its net size ``N`` (coin), margin in the settlement
currency::

    IM = |N| · (initial + |N| · size_increment)          coin (inverse), × F in USDC (linear)
    MM = |N| · (maintenance + |N| · size_increment)

e.g. BTC 2% / 1% + 0.005% per coin: 25 BTC → IM rate 2.125%, IM 0.53125 BTC (S2's table). The size
increment makes the requirement grow faster than the size: the model does not scale linearly.

**Options** (S4, consistent with S3 as summarised in the research), per instrument on its net size.
Amounts are fractions of the underlying ``U`` (the forward of the option's expiry) per coin of size; for an
inverse option that is coin per coin (Deribit's form), for a linear one it is multiplied by ``U`` (USDC)::

    long:        IM = MM = 0
    short call:  IM = max(im_base − OTM/U, im_floor) + mark
                 MM = mm_base + mark
    short put:   IM = max(max(im_base − OTM/U, im_floor) + mark, MM)
                 MM = max(mm_base, mm_base · mark) + mark        (verbatim from S4, see the research note)

with ``OTM`` the out-of-the-money amount in USD (``max(K − U, 0)`` for a call, ``max(U − K, 0)`` for a put)
and ``mark`` the option's mark in the same unit (coin per coin for inverse: ``value_settle``; fraction of U
for linear: ``value_usd / U``). A long option needs nothing beyond its premium: the premium was paid and
the option counts at its mark value in equity (FORMATS.md), so a loss on it can never exceed what equity
already holds. The ``+ mark`` of a short option is the cost of buying it back; equity already counts the
short at −mark, as Deribit's does.

**USD.** Settlement-currency amounts are turned into USD through the settlement asset's index: an inverse
instrument's coin amount × the coin's index, a linear one's USD-quoted amount as is (marks are USD per coin,
the quote coin taken at 1 USD as in ``equity_usd``). Linear notional uses the instrument's mark ``F``.

Collateral: ``margin_balance = equity − CollateralPolicy.haircut_usd`` (no haircuts by default). Spot
balances (collateral, negative when borrowed) carry no requirement in this model, only their haircut.

**Breakdown** (``detail=True``), per account: ``instruments`` (per derivative: ``size``, ``initial_margin``,
``maintenance_margin`` in USD, and ``im_rate`` / ``mm_rate``, the fraction of the notional |N|·F charged;
0 for a long option), ``underlyings`` (IM and MM summed), ``rates`` (the preset's rates for the underlyings
held) and ``haircut_usd``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import yaml
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.margin._collateral import CollateralPolicy
from xmargin.margin._model import MarginResult, empty_breakdowns, register
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, InstrumentTable, equity_usd, resolve

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

PresetSource = str | Path | Mapping[str, Any] | None
PRESET_PACKAGE = "xmargin.margin"
PRESET_DIR = "presets"
DEFAULT_KEY = "default"
"""The per-underlying entry used for every coin not listed by name."""
PARAM_KEYS = ("value", "source", "note")
"""A parameter is a number or a mapping ``{value, source[, note]}`` (shipped presets always give a source)."""


# -- presets ----------------------------------------------------------------------------------------------
def shipped_presets() -> tuple[str, ...]:
    """Names of the presets shipped in ``xmargin/margin/presets`` (without ``.yaml``)."""
    folder = resources.files(PRESET_PACKAGE).joinpath(PRESET_DIR)
    return tuple(sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml")))


def _preset_file(preset: str | Path) -> tuple[Traversable | Path, str]:
    if isinstance(preset, Path) or preset.endswith((".yaml", ".yml", ".json")) or "/" in preset:
        path = Path(preset)
        return path, path.stem
    ref = resources.files(PRESET_PACKAGE).joinpath(PRESET_DIR).joinpath(f"{preset}.yaml")
    if not ref.is_file():
        raise InputError(
            where="preset",
            expected=f"a shipped preset ({', '.join(shipped_presets())}) or a YAML/JSON file path",
            found=preset,
        )
    return ref, preset


def load_preset(preset: PresetSource, *, default: str) -> tuple[dict[str, Any], str]:
    """The preset document (a mapping) and its label for error messages (the preset's name).

    ``preset``: a shipped preset's name, a file path (YAML or JSON), a mapping, or ``None`` for ``default``.
    """
    if preset is None:
        preset = default
    doc: object
    if isinstance(preset, Mapping):
        doc = dict(preset)
        label = str(preset.get("name", "preset"))
    else:
        ref, label = _preset_file(preset)
        try:
            text = ref.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                where=str(preset), expected="a readable preset file", found=type(exc).__name__
            ) from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "a syntax error"
            raise InputError(where=str(preset), expected="valid YAML or JSON", found=str(problem)) from None
    if not isinstance(doc, dict):
        raise InputError(where=label, expected="a mapping of parameters", found=type(doc).__name__)
    return doc, label


def check_keys(doc: Mapping[str, Any], allowed: Iterable[str], *, where: str) -> None:
    """Raise ``InputError`` naming the first key of ``doc`` that is not ``allowed``."""
    allowed = tuple(allowed)
    for key in doc:
        if key not in allowed:
            raise InputError(
                where=f"{where}.{key}", expected=f"one of {', '.join(allowed)}", found=f"unknown key {key}"
            )


def section(doc: Mapping[str, Any], key: str, *, where: str, required: bool = True) -> dict[str, Any]:
    """``doc[key]`` as a mapping (empty if absent and not ``required``)."""
    value = doc.get(key)
    if value is None:
        if required:
            raise InputError(where=f"{where}.{key}", expected="a mapping", found="nothing")
        return {}
    if not isinstance(value, Mapping):
        raise InputError(where=f"{where}.{key}", expected="a mapping", found=type(value).__name__)
    return dict(value)


@dataclass(frozen=True, slots=True)
class Interval:
    """A numeric constraint on a parameter (STYLE.md 9): ``lo``..``hi``, each end open or closed."""

    lo: float
    hi: float
    lo_closed: bool = True
    hi_closed: bool = True

    def __str__(self) -> str:
        left = "[" if self.lo_closed else "("
        right = "]" if self.hi_closed else ")"
        return f"a number in {left}{self.lo:g}, {self.hi:g}{right}"

    def contains(self, x: float) -> bool:
        above = x >= self.lo if self.lo_closed else x > self.lo
        below = x <= self.hi if self.hi_closed else x < self.hi
        return above and below

    def check(self, value: object, *, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
            raise InputError(where=where, expected=str(self), found=value)
        x = float(value)
        if not self.contains(x):
            raise InputError(where=where, expected=str(self), found=value)
        return x


def param_value(doc: Mapping[str, Any], key: str, *, where: str) -> object:
    """The raw value of parameter ``key``: a bare value or the ``value`` of ``{value, source}``."""
    wk = f"{where}.{key}"
    if key not in doc:
        raise InputError(where=wk, expected="a required parameter", found="nothing")
    raw = doc[key]
    if isinstance(raw, Mapping):
        check_keys(raw, PARAM_KEYS, where=wk)
        if "value" not in raw:
            raise InputError(where=f"{wk}.value", expected="the parameter's value", found="nothing")
        return raw["value"]
    return raw


def param(doc: Mapping[str, Any], key: str, interval: Interval, *, where: str) -> float:
    """Parameter ``key`` of ``doc`` checked against ``interval``; the error names ``where.key``."""
    return interval.check(param_value(doc, key, where=where), where=f"{where}.{key}")


def collateral_from(
    doc: Mapping[str, Any], collateral: CollateralPolicy | None, *, where: str
) -> CollateralPolicy:
    """The explicit policy, else the preset's ``collateral`` section, else no haircuts."""
    if collateral is not None:
        return collateral
    return CollateralPolicy.from_mapping(
        section(doc, "collateral", where=where, required=False), where=f"{where}.collateral"
    )


# -- short options (shared with the ``isolated`` and ``cross`` models) -----------------------------------
@dataclass(frozen=True, slots=True)
class ShortOptionRates:
    """Coefficients of Deribit's short-option margin (fractions of the underlying; S4)."""

    im_base: float = 0.15
    im_floor: float = 0.10
    mm_base: float = 0.075

    constraints: ClassVar[Mapping[str, Interval]] = {
        "im_base": Interval(0.0, 1.0),
        "im_floor": Interval(0.0, 1.0),
        "mm_base": Interval(0.0, 1.0),
    }

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any], *, where: str) -> ShortOptionRates:
        check_keys(doc, cls.constraints, where=where)
        v = {k: param(doc, k, iv, where=where) for k, iv in cls.constraints.items()}
        if v["im_floor"] > v["im_base"]:
            raise InputError(
                where=f"{where}.im_floor", expected=f"<= im_base ({v['im_base']:g})", found=v["im_floor"]
            )
        if v["mm_base"] > v["im_floor"]:
            # IM ≥ MM for a short call needs mm_base ≤ im_floor
            raise InputError(
                where=f"{where}.mm_base", expected=f"<= im_floor ({v['im_floor']:g})", found=v["mm_base"]
            )
        return cls(**v)

    def as_dict(self) -> dict[str, float]:
        return {"im_base": self.im_base, "im_floor": self.im_floor, "mm_base": self.mm_base}


def short_option_fractions(
    *, otm_fraction: FloatArray, mark_fraction: FloatArray, is_call: BoolArray, rates: ShortOptionRates
) -> tuple[FloatArray, FloatArray]:
    """IM and MM of one coin of a short option, as fractions of the underlying (S4).

    ``otm_fraction`` = OTM/U (≥ 0), ``mark_fraction`` = mark/U (coin per coin for an inverse option).
    Shapes: any broadcastable arrays; returns ``(im, mm)`` of the broadcast shape.
    """
    im_base = np.maximum(rates.im_base - otm_fraction, rates.im_floor) + mark_fraction
    mm_call = rates.mm_base + mark_fraction
    mm_put = np.maximum(rates.mm_base, rates.mm_base * mark_fraction) + mark_fraction
    mm = np.where(is_call, mm_call, mm_put)
    im = np.where(is_call, im_base, np.maximum(im_base, mm_put))
    return np.asarray(im, dtype=np.float64), np.asarray(mm, dtype=np.float64)


def usd_per_quote(table: InstrumentTable) -> FloatArray:
    """Per instrument: USD per unit of an amount quoted in USD at the instrument's own price ``F``.

    A linear instrument's amounts are already USD (1); an inverse one's are converted to coin at ``F`` and
    valued at the coin's index (``settle_usd / F``).
    """
    f = np.where(table.forward > 0, table.forward, 1.0)
    return np.where(table.inverse, table.settle_usd / f, 1.0)


def short_option_usd_per_coin(
    table: InstrumentTable, rates: ShortOptionRates
) -> tuple[FloatArray, FloatArray]:
    """Per instrument: IM and MM (USD) of one coin of a short position; 0 for non-options.

    The fractions of ``short_option_fractions`` times ``U`` are amounts quoted in USD at the forward; an
    inverse option's coin amount (Deribit's form) is that divided by ``U``, valued at the coin's index.
    """
    opt = table.is_option
    u = np.where(table.forward > 0, table.forward, 1.0)
    conv = usd_per_quote(table)
    otm = np.where(table.is_call, np.maximum(table.strike - u, 0.0), np.maximum(u - table.strike, 0.0)) / u
    mark = table.value_usd / (u * conv)
    im, mm = short_option_fractions(otm_fraction=otm, mark_fraction=mark, is_call=table.is_call, rates=rates)
    scale = u * conv
    return np.where(opt, im * scale, 0.0), np.where(opt, mm * scale, 0.0)


# -- sparse entries of the book ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class Entries:
    """The non-zero entries of ``q[account, instrument]``: arrays of length nnz, in row order."""

    n_accounts: int
    rows: IntArray
    cols: IntArray
    size: FloatArray

    @classmethod
    def of(cls, q: sp.csr_matrix) -> Entries:
        q = sp.csr_matrix(q)
        if not q.has_canonical_format:
            q = q.copy()  # never touch the caller's matrix
            q.sum_duplicates()
        rows = np.repeat(np.arange(q.shape[0], dtype=np.intp), np.diff(q.indptr))
        data = np.asarray(q.data, dtype=np.float64)
        keep = data != 0.0
        return cls(int(q.shape[0]), rows[keep], np.asarray(q.indices, dtype=np.intp)[keep], data[keep])

    def row_sums(self, values: FloatArray) -> FloatArray:
        """Per account: the sum of ``values`` (one per entry)."""
        return np.bincount(self.rows, weights=values, minlength=self.n_accounts).astype(np.float64)


def per_underlying(table: InstrumentTable, lookup: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """The entry of ``lookup`` for each underlying of the table's derivatives (``default`` for others)."""
    out: dict[str, Any] = {}
    for u in np.unique(table.underlying[~table.is_spot]).tolist():
        if u in lookup:
            out[u] = lookup[u]
        elif DEFAULT_KEY in lookup:
            out[u] = lookup[DEFAULT_KEY]
        else:
            raise InputError(
                where=f"{where}.{u}", expected=f"rates for {u} or a '{DEFAULT_KEY}' entry", found="none"
            )
    return out


def breakdowns(
    entries: Entries,
    table: InstrumentTable,
    columns: Mapping[str, NDArray[Any]],
    *,
    rates: Mapping[str, Any],
    account_fields: Mapping[str, FloatArray],
    header: Mapping[str, Any],
) -> tuple[dict[str, Any], ...]:
    """One JSON-ready dict per account, from per-entry values (packaging only: the numbers are computed).

    ``columns``: per-entry arrays reported for each derivative entry, which must include ``initial_margin``
    and ``maintenance_margin`` (USD); they are also summed per underlying. ``rates``: per underlying, the
    parameters used (reported for the underlyings the account holds). ``account_fields``: per account.
    """
    out: list[dict[str, Any]] = [
        {
            **header,
            "instruments": {},
            "underlyings": {},
            "rates": {},
            **{k: float(v[i]) for k, v in account_fields.items()},
        }
        for i in range(entries.n_accounts)
    ]
    names = [inst.name for inst in table.instruments]
    und = table.underlying.tolist()
    spot = table.is_spot.tolist()
    cols = {k: np.asarray(v).tolist() for k, v in columns.items()}
    for k, (r, c) in enumerate(zip(entries.rows.tolist(), entries.cols.tolist(), strict=True)):
        if spot[c]:
            continue
        acc = out[r]
        acc["instruments"][names[c]] = {name: vals[k] for name, vals in cols.items()}
        u = und[c]
        tot = acc["underlyings"].setdefault(u, {"initial_margin": 0.0, "maintenance_margin": 0.0})
        tot["initial_margin"] += cols["initial_margin"][k]
        tot["maintenance_margin"] += cols["maintenance_margin"][k]
        if u not in acc["rates"]:
            acc["rates"][u] = rates[u]
    return tuple(out)


# -- the model ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FuturesRates:
    """Standard-margin rates of one underlying's futures and perpetuals (S1, S2)."""

    initial: float
    maintenance: float
    size_increment: float
    """added to both rates per coin of net size (0.00005 = 0.005% for BTC)"""

    constraints: ClassVar[Mapping[str, Interval]] = {
        "initial": Interval(0.0, 1.0, lo_closed=False),
        "maintenance": Interval(0.0, 1.0, lo_closed=False),
        "size_increment": Interval(0.0, 0.01),
    }

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any], *, where: str) -> FuturesRates:
        check_keys(doc, cls.constraints, where=where)
        v = {k: param(doc, k, iv, where=where) for k, iv in cls.constraints.items()}
        if v["maintenance"] > v["initial"]:
            raise InputError(
                where=f"{where}.maintenance",
                expected=f"<= initial ({v['initial']:g})",
                found=v["maintenance"],
            )
        return cls(**v)

    def as_dict(self) -> dict[str, float]:
        return {
            "initial": self.initial,
            "maintenance": self.maintenance,
            "size_increment": self.size_increment,
        }


STANDARD_KEYS = ("name", "description", "sources", "futures", "options", "collateral")


@register("standard")
class StandardMargin:
    """Deribit standard margin for every account of a book (see the module docstring for the formulas).

    ``preset``: a shipped preset name (default ``standard-deribit``), a YAML/JSON path or a mapping;
    ``collateral``: haircuts (default: the preset's ``collateral`` section, else none).
    """

    name = "standard"
    scales_linearly = False
    scales_linearly_reason = "futures rates grow with net size (Deribit's size increment, S1)"
    subadditive = False
    subadditive_reason = "two same-side positions in one instrument add their sizes into a higher rate"

    def __init__(self, preset: PresetSource = None, collateral: CollateralPolicy | None = None) -> None:
        doc, label = load_preset(preset, default="standard-deribit")
        check_keys(doc, STANDARD_KEYS, where=label)
        futures = section(doc, "futures", where=label)
        self.preset_name = label
        self.futures: dict[str, FuturesRates] = {
            str(u): FuturesRates.from_mapping(
                section(futures, u, where=f"{label}.futures"), where=f"{label}.futures.{u}"
            )
            for u in futures
        }
        self.options = ShortOptionRates.from_mapping(
            section(doc, "options", where=label), where=f"{label}.options"
        )
        self.collateral = collateral_from(doc, collateral, where=label)

    def __repr__(self) -> str:
        return f"StandardMargin(preset={self.preset_name!r})"

    def requirement(self, book: Book, market: MarketSnapshot, *, detail: bool = True) -> MarginResult:
        """IM, MM, equity and margin balance (USD) of every account of ``book``."""
        table = resolve(book, market)
        n_inst = len(table.instruments)
        rates = per_underlying(table, self.futures, where=f"{self.preset_name}.futures")
        initial, maint, inc = np.zeros(n_inst), np.zeros(n_inst), np.zeros(n_inst)
        delta_one = table.is_linear_delta_one
        for u, r in rates.items():
            m = delta_one & (table.underlying == u)
            initial[m], maint[m], inc[m] = r.initial, r.maintenance, r.size_increment
        opt_im, opt_mm = short_option_usd_per_coin(table, self.options)
        # USD per coin of size, quoted at F (the mark of a future, the forward of an option's expiry)
        quote_usd = np.where(table.forward > 0, table.forward, 1.0) * usd_per_quote(table)

        e = Entries.of(book.q)
        size = np.abs(e.size)
        c = e.cols
        short = e.size < 0
        # futures and perpetuals: |N|·(rate + |N|·inc) of notional (S1, S2). Options: shorts only, as a
        # fraction of the underlying; a long option's premium is already paid and counted in equity (S4).
        im_rate = np.where(
            delta_one[c], initial[c] + size * inc[c], np.where(short, opt_im[c] / quote_usd[c], 0.0)
        )
        mm_rate = np.where(
            delta_one[c], maint[c] + size * inc[c], np.where(short, opt_mm[c] / quote_usd[c], 0.0)
        )
        im = size * im_rate * quote_usd[c]
        mm = size * mm_rate * quote_usd[c]

        equity = equity_usd(book, table)
        haircut = self.collateral.haircut_usd(book, table, market)
        result_bd = empty_breakdowns(book.n_accounts)
        if detail:
            rate_docs = {
                u: {"futures": r.as_dict(), "short_options": self.options.as_dict()} for u, r in rates.items()
            }
            result_bd = breakdowns(
                e,
                table,
                {
                    "size": e.size,
                    "initial_margin": im,
                    "maintenance_margin": mm,
                    "im_rate": im_rate,
                    "mm_rate": mm_rate,
                },
                rates=rate_docs,
                account_fields={"haircut_usd": haircut},
                header={"model": self.name, "preset": self.preset_name},
            )
        return MarginResult(
            model=self.name,
            accounts=book.accounts,
            initial_margin=e.row_sums(im),
            maintenance_margin=e.row_sums(mm),
            equity=equity,
            margin_balance=equity - haircut,
            breakdown=result_bd,
        )
