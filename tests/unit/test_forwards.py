"""Forwards of expiries that are not listed, options off the loaded chain, expired instruments (issue 12 #1).

Before: ``BTC-27DEC26-70000-C`` on the 2026-02-05 chain, which lists 25DEC26, was priced on spot
(63,858) as its forward: 10,774 USD against 12,131 for the listed 25DEC26 option two days earlier, exit 0
and no warning; an expired option on a chain priced at 0 with an IV of 36%. Rules now (FORMATS.md): the
forward interpolates in log-forward between listed expiries, the vol comes from the chain's surface and
both are named in ``warnings``; an expired instrument is bad input.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from xmargin.core import InputError, InputErrors
from xmargin.instruments import Instrument, Kind, parse_name
from xmargin.market import MarketSnapshot, Source, load_deribit_chain, shipped_chain_path
from xmargin.pricing import value_instruments
from xmargin.risk import resolve_instruments

T0 = datetime(2026, 1, 1, 8, tzinfo=UTC)


def chain(snapshot: str = "20260205T212937Z") -> MarketSnapshot:
    return load_deribit_chain(shipped_chain_path(), snapshot)


def test_unlisted_expiry_between_listed_ones_interpolates_in_log_forward() -> None:
    """Closed form: ln F(T) linear in T between the listed expiries around T (index at T = 0)."""
    m = MarketSnapshot(
        valuation_time=T0,
        index_usd={"BTC": 100_000.0},
        marks_usd={"BTC-26JUN26": 102_000.0, "BTC-25DEC26": 105_000.0},
    )
    inst = parse_name("BTC-25SEP26")
    t1 = (datetime(2026, 6, 26, 8, tzinfo=UTC) - T0).total_seconds() / (365 * 86400)
    t2 = (datetime(2026, 12, 25, 8, tzinfo=UTC) - T0).total_seconds() / (365 * 86400)
    t = (datetime(2026, 9, 25, 8, tzinfo=UTC) - T0).total_seconds() / (365 * 86400)
    w = (t - t1) / (t2 - t1)
    want = math.exp((1 - w) * math.log(102_000.0) + w * math.log(105_000.0))
    assert m.forward(inst) == pytest.approx(want, rel=1e-12)
    assert m.forward_source(inst)[0] is Source.CURVE
    note = m.forward_note(inst)
    assert note is not None and "BTC-26JUN26 and BTC-25DEC26" in note


def test_before_the_first_and_beyond_the_last_listed_expiry() -> None:
    m = MarketSnapshot(valuation_time=T0, index_usd={"BTC": 100_000.0}, marks_usd={"BTC-26JUN26": 102_000.0})
    t1 = (datetime(2026, 6, 26, 8, tzinfo=UTC) - T0).total_seconds() / (365 * 86400)
    carry = math.log(1.02) / t1
    for name in ("BTC-27MAR26", "BTC-25DEC26"):  # inside [0, T1] and beyond T1: the same carry
        inst = parse_name(name)
        assert m.forward(inst) == pytest.approx(100_000.0 * math.exp(carry * m.t_years(inst)), rel=1e-12)


def test_without_listed_expiries_the_rate_carries_the_index() -> None:
    m = MarketSnapshot(valuation_time=T0, index_usd={"BTC": 100_000.0}, vol={"BTC": 0.5}, rate=0.05)
    inst = parse_name("BTC-25DEC26-100000-C")
    assert m.forward(inst) == pytest.approx(100_000.0 * math.exp(0.05 * m.t_years(inst)), rel=1e-12)
    assert m.forward_note(inst) is None


def test_an_option_off_the_chain_is_priced_from_its_surface_and_named() -> None:
    m = chain()
    report = value_instruments([parse_name("BTC-27DEC26-70000-C"), parse_name("BTC-25DEC26-70000-C")], m)
    off, on = report.instruments["BTC-27DEC26-70000-C"], report.instruments["BTC-25DEC26-70000-C"]
    assert off.forward > m.index("BTC") * 1.03  # the interpolated forward, not spot (63,858)
    assert off.forward == pytest.approx(on.forward, rel=2e-3)  # two days further out
    assert off.price_usd == pytest.approx(on.price_usd, rel=0.02)  # was 11% below it
    assert off.price_usd > on.price_usd  # two more days of time value
    assert any("BTC-27DEC26-70000-C is not on the loaded chain" in w for w in report.warnings)
    assert any("BTC-27DEC26-70000-C: no future or forward is listed" in w for w in report.warnings)
    assert not any("BTC-25DEC26-70000-C" in w for w in report.warnings)


def test_the_vectorised_and_the_scalar_forward_agree() -> None:
    """One rule: ``resolve_instruments`` (the models' path) and ``MarketSnapshot.forward`` (scalar)."""
    m = chain()
    names = [
        "BTC-27DEC26-70000-C",
        "BTC-25DEC26",
        "BTC-27MAR26-70000-P",
        "BTC-PERPETUAL",
        "ETH-3JUL26",
        "BTC",
    ]
    insts = tuple(parse_name(n) for n in names)
    table = resolve_instruments(insts, m)
    for inst, f in zip(insts, table.forward, strict=True):
        assert float(f) == pytest.approx(m.forward(inst), rel=1e-14), inst.name
    assert len([w for w in table.warnings if "no future or forward" in w]) == 2


def test_expired_instruments_are_bad_input_on_a_chain() -> None:
    m = chain("20260819T094232Z")  # August 2026: March's options have expired
    with pytest.raises(InputError, match="expired 2026-03-27 08:00Z"):
        value_instruments([parse_name("BTC-27MAR26-70000-C")], m)
    with pytest.raises(InputError, match="expired"):
        resolve_instruments((parse_name("BTC-27MAR26"),), m)


def test_stablecoin_without_an_index_is_taken_at_one_and_named() -> None:
    m = MarketSnapshot(valuation_time=T0, index_usd={"BTC": 100_000.0})
    assert m.index("USDC") == 1.0 and "USDC" in m.defaulted_index
    table = resolve_instruments((Instrument(Kind.SPOT, "USDC"), parse_name("BTC_USDC-PERPETUAL")), m)
    assert table.warnings == (
        "USDC has no index in the market: taken at 1.0 USD (give index.USDC to model a depeg)",
    )
    depeg = m.replace(index_usd={**m.index_usd, "USDC": 0.97})
    assert "USDC" not in depeg.defaulted_index
    assert resolve_instruments((Instrument(Kind.SPOT, "USDC"),), depeg).warnings == ()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("index_usd", {"BTC": -1.0}),
        ("index_usd", {"BTC": 1e-300}),
        ("index_usd", {"BTC": math.nan}),
        ("vol", {"BTC": math.nan}),
        ("vol", {"BTC": -0.5}),
        ("option_iv", {"BTC-25DEC26-1000-C": 50.0}),
        ("marks_usd", {"BTC-PERPETUAL": math.inf}),
        ("rate", math.nan),
    ],
)
def test_a_snapshot_built_in_python_refuses_nonsense(field: str, value: object) -> None:
    """Issue 12 #7 and #10: a MarketSnapshot built in Python accepted a negative index and NaN vol; a market
    with ``BTC: 1e-300`` let a 1 USDC account sell 1,000 BTC."""
    base = {"valuation_time": T0, "index_usd": {"BTC": 100_000.0}}
    with pytest.raises(InputError, match="expected a finite number"):
        MarketSnapshot(**{**base, field: value})  # type: ignore[arg-type]


def _slow_shift(market: MarketSnapshot, u: str, factor: float) -> MarketSnapshot:
    """The shifted market built the plain way: every mapping rebuilt and checked, every curve re-parsed."""
    prefix = (f"{u}-", f"{u}_")
    index = dict(market.index_usd)
    index[u] = index[u] * factor
    marks = {k: (v * factor if k.startswith(prefix) else v) for k, v in market.marks_usd.items()}
    fwds = {k: (v * factor if k.startswith(prefix) else v) for k, v in market.forwards_usd.items()}
    return market.replace(index_usd=index, marks_usd=marks, forwards_usd=fwds)


@pytest.mark.parametrize("source", ["chain", "yaml"])
def test_shifted_equals_a_market_built_from_the_moved_prices(source: str) -> None:
    """``shifted`` checks and rebuilds only what moved; the result must be the snapshot a full build of the
    same prices gives: every field, and every curve node bit for bit."""
    from xmargin.market import DEMO_SNAPSHOT, load_deribit_chain, load_market, shipped_chain_path

    market = (
        load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)
        if source == "chain"
        else load_market("examples/market.yaml")
    )
    for u in ("BTC", "ETH", "USDC"):
        for factor in (1.0, 0.5, 1.37, 1e-3, 50.0):
            fast, slow = market.shifted(u, factor), _slow_shift(market, u, factor)
            for f in dataclasses.fields(MarketSnapshot):
                if f.name == "curves":
                    continue
                assert getattr(fast, f.name) == getattr(slow, f.name), (u, factor, f.name)
            assert list(fast.marks_usd) == list(slow.marks_usd)  # the same order too
            assert fast.curves.keys() == slow.curves.keys()
            for b, c in slow.curves.items():
                d = fast.curves[b]
                assert d.labels == c.labels
                assert np.array_equal(d.t_years, c.t_years) and np.array_equal(d.forward, c.forward), (u, b)


def test_shifted_refuses_a_price_out_of_range_naming_it() -> None:
    from xmargin.market import load_market

    market = load_market("examples/market.yaml")
    with pytest.raises(InputErrors) as err:
        market.shifted("BTC", 1e20)
    assert "market index.BTC" in str(err.value)


def test_the_quoted_vols_memo_follows_the_market_it_was_read_from() -> None:
    """``Columns`` remembers the vols of the last ``option_iv`` mapping that quoted every option column: a
    table from the memo equals one from a fresh ``Columns``, and a market with other IVs gets its own."""
    from xmargin.risk import Columns

    market = chain()
    insts = tuple(parse_name(n) for n in list(market.option_iv)[:40])
    cols = Columns.of(insts)
    first = resolve_instruments(cols, market)
    again = resolve_instruments(cols, market.shifted("BTC", 0.9))  # same option_iv object: from the memo
    fresh = resolve_instruments(Columns.of(insts), market.shifted("BTC", 0.9))
    assert np.array_equal(again.vol, fresh.vol) and np.array_equal(again.value_usd, fresh.value_usd)
    assert np.array_equal(first.vol, again.vol)
    bumped = market.replace(option_iv={k: v * 1.1 for k, v in market.option_iv.items()})
    moved = resolve_instruments(cols, bumped)
    assert np.allclose(moved.vol[moved.is_option], first.vol[first.is_option] * 1.1, rtol=1e-15)
    # an option the mapping does not quote is priced from the surface and named, memo or not
    partial = market.replace(option_iv={k: v for k, v in list(market.option_iv.items())[1:]})
    t = resolve_instruments(cols, partial)
    assert any(insts[0].name in w for w in t.warnings)


def test_columns_pickle_without_their_quoted_vols_memo() -> None:
    """A book goes to Dask workers pickled: its ``Columns`` must pickle after a resolve, leaving behind the
    memo that holds the market's read-only mapping (it once crashed a worker's pickling), and resolve the
    same on the other side."""
    import pickle

    from xmargin.risk import Columns

    market = chain()
    cols = Columns.of(tuple(parse_name(n) for n in list(market.option_iv)[:10]))
    before = resolve_instruments(cols, market)
    assert cols.quoted
    back = pickle.loads(pickle.dumps(cols))
    assert back.quoted == [] and back.names == cols.names
    assert np.array_equal(resolve_instruments(back, market).value_usd, before.value_usd)
