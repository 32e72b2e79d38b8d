"""Unit and golden tests of the ``standard`` model (Deribit standard margin, ``xmargin.margin._standard``).

Sources (see ../research/margin_methodology.md §2 and presets/standard-deribit.yaml):
- S1: Deribit KB "11 January 2022" (futures rates since 2022-01-11),
  https://support.deribit.com/hc/en-us/articles/25944826427293-11-January-2022
- S2: Deribit KB "Linear Perpetual", worked table at BTC_USDC 100,000 and SOL_USDC 200,
  https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual
- S4: TSLab's copy of Deribit's option formulas; the research note's "derived examples" at U = 60,000.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import xmargin.margin._standard as standard
from xmargin.core import InputError
from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import CollateralPolicy, ShortOptions, StandardMargin, get_model
from xmargin.margin._ratio import short_option_fractions
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, equity_usd, resolve

TOL_USD = 1e-6  # absolute, on USD amounts computed from exact decimal inputs
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
PRESETS = Path(standard.__file__).parent / "presets"


def market(**index: float) -> MarketSnapshot:
    prices = {"BTC": 100_000.0, "ETH": 2_000.0, "SOL": 200.0, "USDC": 1.0, **index}
    return MarketSnapshot(valuation_time=T0, index_usd=prices, vol={"BTC": 0.55, "ETH": 0.65, "SOL": 0.8})


def margin(
    positions: dict[str, float], mkt: MarketSnapshot | None = None, **kw: Any
) -> tuple[float, float, dict]:
    pf = Portfolio("a", {}, tuple(Position(parse_name(n), s) for n, s in positions.items()))
    res = StandardMargin(**kw).requirement(Book.from_portfolio(pf), mkt or market())
    return float(res.initial_margin[0]), float(res.maintenance_margin[0]), res.breakdown[0]


# -- futures: S2's worked table (BTC_USDC at 100,000; SOL_USDC at 200) ---------------------------------
@pytest.mark.parametrize(
    ("name", "size", "im_usd", "mm_usd", "im_rate"),
    [
        ("BTC_USDC-PERPETUAL", 25.0, 53_125.0, 28_125.0, 0.02125),  # S2: IM 0.53125 BTC, MM 0.28125 BTC
        ("BTC_USDC-PERPETUAL", 350.0, 1_312_500.0, 962_500.0, 0.0375),  # S2: IM 13.125 BTC; MM 2.75% derived
        ("SOL_USDC-PERPETUAL", 25.0, 200.625, 100.625, 0.040125),  # S2: 1.003125 SOL / 0.503125 SOL
        ("SOL_USDC-PERPETUAL", 6000.0, 84_000.0, 60_000.0, 0.07),  # S2: IM 420 SOL; MM 5% derived
        ("BTC-PERPETUAL", 25.0, 53_125.0, 28_125.0, 0.02125),  # inverse: the same coin amounts × index (S1)
        ("BTC-PERPETUAL", -25.0, 53_125.0, 28_125.0, 0.02125),  # a short needs the same
        ("ETH-PERPETUAL", 1000.0, 48_000.0, 28_000.0, 0.024),  # S1: 2% / 1% + 1000 × 0.0004%
    ],
)
def test_futures_golden_s2(name: str, size: float, im_usd: float, mm_usd: float, im_rate: float) -> None:
    im, mm, bd = margin({name: size})
    assert im == pytest.approx(im_usd, abs=TOL_USD)
    assert mm == pytest.approx(mm_usd, abs=TOL_USD)
    assert bd.instruments[name].im_rate == pytest.approx(im_rate, rel=1e-12)


def test_btc_25_coin_in_coin() -> None:
    """S2: 25 BTC at 100,000 → IM 0.53125 BTC = 53,125 USDC, MM 0.28125 BTC; here priced at 80,000."""
    mkt = market(BTC=80_000.0)
    im, mm, _ = margin({"BTC-PERPETUAL": 25.0}, mkt)
    assert im / 80_000.0 == pytest.approx(0.53125, rel=1e-12)
    assert mm / 80_000.0 == pytest.approx(0.28125, rel=1e-12)


def test_inverse_future_uses_index_for_usd_and_mark_only_through_coin() -> None:
    """An inverse future's margin is in coin (|N|·rate), valued at the coin's index, whatever its mark."""
    mkt = market().replace(marks_usd={"BTC-27DEC26": 103_000.0})
    im, _, _ = margin({"BTC-27DEC26": 10.0}, mkt)
    assert im == pytest.approx(10 * (0.02 + 10 * 0.00005) * 100_000.0, abs=TOL_USD)
    lin, _, _ = margin({"BTC_USDC-27DEC26": 10.0}, mkt)  # linear: notional at the mark
    assert lin == pytest.approx(10 * (0.02 + 10 * 0.00005) * 103_000.0, abs=TOL_USD)


def test_netting_only_within_one_instrument() -> None:
    """A long perpetual and a short future are margined separately; two trades in one instrument net."""
    both, _, _ = margin({"BTC-PERPETUAL": 25.0, "BTC-27DEC26": -25.0})
    one, _, _ = margin({"BTC-PERPETUAL": 25.0})
    assert both == pytest.approx(2 * one, rel=1e-12)


# -- options: S4's formulas, checked on the research note's derived examples (U = 60,000) --------------
@pytest.mark.parametrize(
    ("strike", "is_call", "mark", "im", "mm"),
    [
        (66_000.0, True, 0.010, 0.110, 0.085),  # OTM/U = 0.10: max(0.05, 0.10) + 0.010
        (54_000.0, False, 0.008, 0.108, 0.083),  # max(0.05 + 0.008 → 0.10 + 0.008, MM 0.083)
        (60_000.0, True, 0.040, 0.190, 0.115),  # ATM: 0.15 + 0.04
    ],
)
def test_short_option_formula_derived_examples(
    strike: float, is_call: bool, mark: float, im: float, mm: float
) -> None:
    u = 60_000.0
    otm = max(strike - u, 0.0) if is_call else max(u - strike, 0.0)
    got_im, got_mm = short_option_fractions(
        otm_fraction=np.array([otm / u]),
        mark_fraction=np.array([mark]),
        is_call=np.array([is_call]),
        rates=ShortOptions(im_base=0.15, im_floor=0.10, mm_base=0.075),
    )
    assert float(got_im[0]) == pytest.approx(im, abs=1e-15)
    assert float(got_mm[0]) == pytest.approx(mm, abs=1e-15)


def test_short_put_mm_uses_the_verbatim_mark_term() -> None:
    """S4: short put MM = max(0.075, 0.075·mark) + mark (mark > 1 coin: a very deep ITM inverse put)."""
    _, mm = short_option_fractions(
        otm_fraction=np.array([0.0]),
        mark_fraction=np.array([2.0]),
        is_call=np.array([False]),
        rates=ShortOptions(im_base=0.15, im_floor=0.10, mm_base=0.075),
    )
    assert float(mm[0]) == pytest.approx(0.075 * 2.0 + 2.0)


@pytest.mark.parametrize(
    "name",
    [
        "BTC-27DEC26-110000-C",
        "BTC-27DEC26-90000-P",
        "ETH_USDC-27DEC26-2200-C",
        "ETH_USDC-27DEC26-1800-P",
        "BTC-27DEC26-80000-C",
    ],
)
def test_short_option_in_usd_matches_deribit_coin_form(name: str) -> None:
    """Inverse: (fraction + mark in coin) × index; linear: fraction·U + mark in USD (S4, S3 via research)."""
    mkt = market()
    inst = parse_name(name)
    table = resolve(Book.from_portfolio(Portfolio("a", {}, (Position(inst, -2.0),))), mkt)
    u, k = float(table.forward[0]), float(table.strike[0])
    otm = (max(k - u, 0.0) if inst.is_call else max(u - k, 0.0)) / u
    mark = float(table.value_settle[0]) if inst.inverse else float(table.value_usd[0]) / u
    im_frac = max(0.15 - otm, 0.10) + mark
    mm_frac = 0.075 + mark if inst.is_call else max(0.075, 0.075 * mark) + mark
    if not inst.is_call:
        im_frac = max(im_frac, mm_frac)
    unit = mkt.index(inst.base) if inst.inverse else u  # USD per unit of the fraction
    im, mm, bd = margin({name: -2.0}, mkt)
    assert im == pytest.approx(2.0 * im_frac * unit, rel=1e-12)
    assert mm == pytest.approx(2.0 * mm_frac * unit, rel=1e-12)
    assert im >= mm
    assert bd.instruments[name].size == -2.0


def test_long_options_are_paid_in_full() -> None:
    """Long options back nothing else in standard margin ("margin sharing does not apply to long option
    positions unless portfolio margin is enabled", Deribit KB "Isolated margin availability"): their mark
    value is charged as IM and MM, so buying one at mark lowers ``available`` by its premium (FORMATS.md)."""
    sizes = {"BTC-27DEC26-110000-C": 3.0, "ETH_USDC-27DEC26-1800-P": 5.0}
    im, mm, _ = margin(sizes)
    book = Book.from_portfolio(
        Portfolio("a", {}, tuple(Position(parse_name(n), q) for n, q in sizes.items()))
    )
    value = float(equity_usd(book, resolve(book, market()))[0])
    assert value > 0
    assert im == pytest.approx(value, rel=1e-12) and mm == pytest.approx(value, rel=1e-12)


# -- equity, collateral, the result's shape ------------------------------------------------------------------
def test_equity_and_haircuts() -> None:
    pf = Portfolio("a", {"BTC": 1.0, "USDC": 1000.0}, (Position(parse_name("BTC-PERPETUAL"), -1.0),))
    book = Book.from_portfolio(pf)
    plain = StandardMargin().requirement(book, market())
    cut = StandardMargin(collateral=CollateralPolicy(haircuts={"BTC": 0.1})).requirement(book, market())
    assert float(plain.equity[0]) == pytest.approx(101_000.0)
    assert float(plain.margin_balance[0]) == pytest.approx(101_000.0)
    assert float(cut.margin_balance[0]) == pytest.approx(101_000.0 - 10_000.0)
    assert cut.breakdown[0].haircut_usd == pytest.approx(10_000.0)


def test_many_accounts_at_once_and_detail_off() -> None:
    pfs = [Portfolio(f"a{i}", {}, (Position(parse_name("BTC_USDC-PERPETUAL"), float(i)),)) for i in range(5)]
    book = Book.from_portfolios(pfs)
    res = StandardMargin().requirement(book, market())
    want = [i * (0.02 + i * 0.00005) * 100_000.0 for i in range(5)]
    np.testing.assert_allclose(res.initial_margin, want, rtol=1e-12)
    quiet = StandardMargin().requirement(book, market(), detail=False)
    np.testing.assert_array_equal(quiet.initial_margin, res.initial_margin)
    assert res.breakdown[0].instruments == {}


def test_registered_by_name() -> None:
    assert isinstance(get_model("standard"), StandardMargin)


# -- presets -------------------------------------------------------------------------------------------------
def _walk_params(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, parameter) for every {value, source} leaf or bare number below ``node``."""
    if isinstance(node, dict) and "value" in node:
        return [(path, node)]
    if isinstance(node, dict):
        return [
            p
            for k, v in node.items()
            if k not in ("sources", "collateral")
            for p in _walk_params(v, f"{path}.{k}")
        ]
    if isinstance(node, int | float) and not isinstance(node, bool):
        return [(path, node)]
    return []


@pytest.mark.parametrize("preset", ["standard-deribit", "cross-fixed", "cross-binance"])
def test_every_shipped_parameter_has_a_source(preset: str) -> None:
    doc = yaml.safe_load((PRESETS / f"{preset}.yaml").read_text(encoding="utf-8"))
    params = _walk_params(doc)
    assert params
    for path, p in params:
        assert isinstance(p, dict) and str(p.get("source", "")).strip(), f"{preset}{path} has no source"


def _doc() -> dict[str, Any]:
    return yaml.safe_load((PRESETS / "standard-deribit.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.update(margins={}), "standard-deribit.margins"),
        (
            lambda d: d["futures"]["BTC"].update(initial_rate=0.02),
            "standard-deribit.futures.BTC.initial_rate",
        ),
        (lambda d: d["futures"]["BTC"].update(initial=1.5), "standard-deribit.futures.BTC.initial"),
        (
            lambda d: d["futures"]["ETH"]["maintenance"].update(value=-0.01),
            "standard-deribit.futures.ETH.maintenance",
        ),
        (lambda d: d["futures"]["ETH"].update(maintenance=0.03), "standard-deribit.futures.ETH.maintenance"),
        (
            lambda d: d["futures"]["BTC"].update(size_increment="0.005%"),
            "standard-deribit.futures.BTC.size_increment",
        ),
        (
            lambda d: d["futures"]["BTC"]["initial"].update(sorce="typo"),
            "standard-deribit.futures.BTC.initial.sorce",
        ),
        (lambda d: d["options"].update(mm_base=0.2), "standard-deribit.options.mm_base"),
        (lambda d: d["options"].pop("im_floor"), "standard-deribit.options.im_floor"),
    ],
)
def test_bad_preset_names_the_key(edit: Any, where: str) -> None:
    doc = _doc()
    edit(doc)
    with pytest.raises(InputError) as err:
        StandardMargin(doc)
    assert err.value.where == where


def test_preset_from_path_name_and_mapping(tmp_path: Path) -> None:
    doc = _doc()
    doc["futures"]["BTC"]["initial"] = 0.05  # a bare number is accepted for a user's own preset
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    im, _, _ = margin({"BTC-PERPETUAL": 1.0}, preset=path)
    assert im == pytest.approx((0.05 + 0.00005) * 100_000.0)
    assert StandardMargin(str(path)).preset_name == "mine"
    assert StandardMargin("standard-deribit").preset.futures == StandardMargin(_doc()).preset.futures
    with pytest.raises(InputError, match="preset"):
        StandardMargin("no-such-preset")


def test_underlying_without_rates_or_default_is_bad_input() -> None:
    doc = _doc()
    del doc["futures"]["default"]
    with pytest.raises(InputError) as err:
        margin({"SOL_USDC-PERPETUAL": 1.0}, preset=doc)
    assert err.value.where == "standard-deribit.futures.SOL"


def test_size_increment_means_not_linear() -> None:
    model = StandardMargin()
    assert model.scales_linearly is False and model.scales_linearly_reason
    a, _, _ = margin({"BTC-PERPETUAL": 10.0})
    b, _, _ = margin({"BTC-PERPETUAL": 20.0})
    assert b > 2 * a and not math.isclose(b, 2 * a)
