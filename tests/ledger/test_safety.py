"""Issue 12, "Trustworthy answers": each item's failing case, on the CLI (as a user runs it) and on the
library API. Every test here fails on the code before the fix and passes after it.

1. price bands on fills, funding marks and settlement prices; 2. withdrawals limited to the balance held;
3. NaN from a model refuses; 4. the index-move guard; 5. durable database URLs; 6. ASCII numbers only;
7. idempotency over normalised numbers; 8. integer options bounded (``--upto``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
import yaml

from tests.ledger.conftest import MARKET_FILE
from tests.ledger.test_cli import MARKET, PERP, count, run, run_json
from xmargin.core import InputError
from xmargin.instruments import parse_name
from xmargin.ledger import EventKind, Ledger, PriceBand, RefusedError, is_ephemeral
from xmargin.ledger._bands import _mark_in_quote
from xmargin.ledger._money import parse_decimal
from xmargin.ledger._requests import fingerprint
from xmargin.ledger._schema import index_marks
from xmargin.ledger._store import AppendResult, IndexUpdate
from xmargin.margin import MarginResult
from xmargin.market import MarketSnapshot
from xmargin.risk import Book

D = Decimal
CALL = "BTC-27DEC26-100000-C"  # inverse: premium in BTC; mark 0.0486 BTC in examples/market.yaml
PUT = "ETH_USDC-27DEC26-4000-P"  # linear: premium in USDC; mark 594.32 USDC


def market_file(tmp_path: Path, name: str, **index: float) -> str:
    """examples/market.yaml with some index prices replaced (and BTC's marks scaled with BTC)."""
    doc = yaml.safe_load(MARKET_FILE.read_text())
    for asset, price in index.items():
        if asset == "BTC":
            factor = price / doc["index"]["BTC"]
            doc["marks"] = {k: (v * factor if k.startswith("BTC") else v) for k, v in doc["marks"].items()}
        doc["index"][asset] = price
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


# -- 1. price bands --------------------------------------------------------------------------------------
def test_issue_sequence_on_the_cli_creates_no_money(db_url: str) -> None:
    """deposit 1,000; buy 1 at 1; sell 1 at 95,000; withdraw 14,000: all exited 0 and 94,999 USDC were
    paid by the clearing book. Now the fill at 1 is refused with the band, the mark and the fill named."""
    db = ["--db", db_url]
    run(["deposit", "m", "USDC", "1000", *db])
    r = run(["trade", "m", PERP, "1", "1", "--market", MARKET, *db], code=3)
    assert r.stderr.startswith("error: refused: fill price of BTC_USDC-PERPETUAL 1 USD")
    assert "±5% of the mark" in r.stderr and "mark 95000" in r.stderr and "[90250, 99750] USD" in r.stderr
    run(["trade", "m", PERP, "-1", "95000", "--market", MARKET, *db], code=3)  # opens a short: margin
    run(["withdraw", "m", "USDC", "14000", *db], code=3)
    assert run_json(["show", "m", *db]) == {"account": "m", "collateral": {"USDC": 1000.0}, "positions": {}}
    assert count(db_url) == 1


@pytest.mark.parametrize(
    ("name", "inside", "outside"),
    [
        (PERP, ["90250", "99750", "95000"], ["90249.99", "99750.01", "1", "1000000000"]),  # mark 95,000
        ("BTC-PERPETUAL", ["90259.5", "99760.5"], ["90259.49", "99760.51"]),  # mark 95,010
        ("BTC-27DEC26", ["90630", "100170"], ["90629", "100171"]),  # mark 95,400
        # mark 0.04857985 BTC: the 0.04 BTC floor is wider than 30% of it
        (CALL, ["0.0086", "0.0885", "0.05"], ["0.0085", "0.0886", "0.0001", "1"]),
        # mark 594.32004 USDC: 30% (178.296) is wider than 0.04 × the 3,500 ETH index (140 USDC)
        (PUT, ["416.03", "772.61", "594"], ["416.02", "772.62", "1", "0.0001"]),
    ],
)
def test_fills_outside_the_band_are_refused(
    sqlite_url: str, market: MarketSnapshot, name: str, inside: list[str], outside: list[str]
) -> None:
    with Ledger(sqlite_url) as ledger:
        ledger.deposit("a", "USDC", "10000000")
        ledger.deposit("a", "BTC", "100")
        for price in outside:
            with pytest.raises(RefusedError, match="outside the price band"):
                ledger.trade("a", name, "0.01", price, market=market)
        assert ledger.store.count_events() == 2
        for price in inside:
            ledger.trade("a", name, "0.01", price, market=market)
        assert ledger.store.count_events() == 2 + len(inside)


def test_option_band_is_relative_above_the_floor(sqlite_url: str, market: MarketSnapshot) -> None:
    """A deep in-the-money call (premium 0.25 BTC > 0.133): 30% of the mark is wider than 0.04 BTC."""
    deep = "BTC-27DEC26-70000-C"
    with Ledger(sqlite_url) as ledger:
        ledger.deposit("a", "BTC", "100")
        mark = D(repr(_mark_in_quote(parse_name(deep), market)))
        assert mark > D("0.2")
        ledger.trade("a", deep, "0.1", (mark * D("1.29")).quantize(D("1e-4")), market=market)
        with pytest.raises(RefusedError, match=r"±30% of the mark or ±0.04 BTC"):
            ledger.trade("a", deep, "0.1", (mark * D("1.31")).quantize(D("1e-4")), market=market)


def test_reduce_only_fills_are_band_checked_too(sqlite_url: str, market: MarketSnapshot) -> None:
    with Ledger(sqlite_url) as ledger:
        ledger.deposit("a", "USDC", "100000")
        ledger.trade("a", PERP, "1", "95000", market=market)
        with pytest.raises(RefusedError, match="outside the price band"):
            ledger.trade("a", PERP, "-1", "1000000", market=market)  # would realise 905,000 USDC
        assert ledger.state("a").size(PERP) == 1 and ledger.store.count_events() == 2


def test_the_band_is_configurable(sqlite_url: str, market: MarketSnapshot) -> None:
    with Ledger(sqlite_url, price_band=PriceBand(futures=D("0.01"))) as ledger:
        ledger.deposit("a", "USDC", "100000")
        with pytest.raises(RefusedError, match=r"±1% of the mark"):
            ledger.trade("a", PERP, "0.1", "96000", market=market)
        ledger.trade("a", PERP, "0.1", "95900", market=market)
    assert PriceBand.parse("0.02") == PriceBand(futures=D("0.02"))
    assert PriceBand.parse("futures=0.02,floor=0") == PriceBand(futures=D("0.02"), options_floor=D(0))
    for bad in ("0", "1", "-0.1", "nan", "x=1", "futures=0.1,futures=0.2", "options=0", "floor=2", "٠٫١"):
        with pytest.raises(InputError, match="price_band"):
            PriceBand.parse(bad)


def test_price_band_flag_on_the_cli(sqlite_url: str) -> None:
    db = ["--db", sqlite_url]
    run(["deposit", "a", "USDC", "100000", *db])
    run(["trade", "a", PERP, "0.1", "98000", "--market", MARKET, *db, "--price-band", "0.02"], code=3)
    run(["trade", "a", PERP, "0.1", "98000", "--market", MARKET, *db, "--price-band", "futures=0.04"])
    r = run(["trade", "a", PERP, "0.1", "95000", "--market", MARKET, *db, "--price-band", "2"], code=2)
    assert r.stderr.startswith("error: --price-band futures: expected a number in (0, 1)")
    assert count(sqlite_url) == 2


def test_liquidation_fill_is_checked_only_with_a_market(sqlite_url: str, market: MarketSnapshot) -> None:
    with Ledger(sqlite_url) as ledger:
        ledger.deposit("a", "USDC", "100000")
        ledger.trade("a", PERP, "1", "95000", market=market)
        with pytest.raises(RefusedError, match="fill price of BTC_USDC-PERPETUAL 80000 USD"):
            ledger.liquidation_fill("a", PERP, "-0.5", "80000", market=market)
        ledger.liquidation_fill("a", PERP, "-0.5", "93000", market=market)
        ledger.liquidation_fill("a", PERP, "-0.5", "80000")  # no market: the liquidation engine's word
        assert not ledger.state("a").positions


def test_funding_mark_and_settlement_price_with_a_market(sqlite_url: str, market: MarketSnapshot) -> None:
    with Ledger(sqlite_url) as ledger:
        ledger.deposit("a", "USDC", "100000")
        ledger.trade("a", PERP, "1", "95000", market=market)
        ledger.trade("a", "BTC_USDC-27DEC26", "1", "95400", market=market)
        with pytest.raises(RefusedError, match=r"funding mark of BTC_USDC-PERPETUAL 1000000 USD"):
            ledger.funding("a", PERP, "-0.001", "1000000", market=market)  # would pay the long 1,000 USDC
        ledger.funding("a", PERP, "-0.001", "96000", market=market)
        with pytest.raises(RefusedError, match=r"±5% of the BTC index: BTC index 95000"):
            ledger.settle("a", "BTC_USDC-27DEC26", "200000", market=market)
        ledger.settle("a", "BTC_USDC-27DEC26", "95100", market=market)
        ledger.funding("a", PERP, "-0.001", "1000000")  # no market: unchecked, as documented
        assert ledger.store.count_events() == 6


def test_funding_and_settle_take_a_market_on_the_cli(sqlite_url: str) -> None:
    db = ["--db", sqlite_url]
    run(["deposit", "a", "USDC", "100000", *db])
    run(["trade", "a", "BTC_USDC-27DEC26", "1", "95400", "--market", MARKET, *db])
    r = run(["funding", "a", PERP, "0.0001", "1", "--market", MARKET, *db], code=3)
    assert "funding mark of BTC_USDC-PERPETUAL 1 USD is outside the price band" in r.stderr
    run(["settle", "a", "BTC_USDC-27DEC26", "1", "--market", MARKET, *db], code=3)
    run(["settle", "a", "BTC_USDC-27DEC26", "95000", "--market", MARKET, *db])
    assert count(sqlite_url) == 3


def test_a_market_without_a_usable_mark_refuses(sqlite_url: str, market: MarketSnapshot) -> None:
    """A NaN mark never reaches the ledger: the market itself refuses it when built (MarketSnapshot's bounds)."""
    with pytest.raises(InputError, match=r"marks\.BTC-PERPETUAL: expected a finite number"):
        market.replace(marks_usd={**market.marks_usd, "BTC-PERPETUAL": math.nan})


# -- 2. withdrawals take at most the balance held ---------------------------------------------------------
def test_withdrawing_an_asset_never_held_is_refused_on_the_cli(db_url: str) -> None:
    db = ["--db", db_url]
    run(["deposit", "a", "USDC", "100000", *db])
    r = run(["withdraw", "a", "ETH", "10", "--market", MARKET, *db], code=3)
    assert "exceeds the ETH balance held, 0" in r.stderr and "borrowing is not offered" in r.stderr
    run(["withdraw", "a", "USDC", "100000.000001", "--market", MARKET, *db], code=3)
    run(["withdraw", "a", "USDC", "100000", "--market", MARKET, *db])
    assert run_json(["show", "a", *db])["collateral"] == {}


def test_withdrawal_limited_to_balance_with_positions(sqlite_url: str, market: MarketSnapshot) -> None:
    with Ledger(sqlite_url) as ledger:
        ledger.deposit("a", "USDC", "100000")
        ledger.deposit("a", "BTC", "1")
        ledger.trade("a", PERP, "0.1", "95000", market=market)
        with pytest.raises(RefusedError, match="exceeds the BTC balance held, 1"):
            ledger.withdraw("a", "BTC", "1.00000001", market=market)
        with pytest.raises(RefusedError, match="exceeds the ETH balance held"):
            ledger.withdraw("a", "ETH", "0.1", market=market)
        ledger.withdraw("a", "BTC", "1", market=market)
        assert ledger.state("a").balance("BTC") == 0


# -- 3. NaN refuses -----------------------------------------------------------------------------------------
class NanModel:
    """A margin model whose every number is NaN (a broken model or market)."""

    name = "nan-stub"

    def requirement(self, book: Book, market: MarketSnapshot, *, detail: bool = True) -> MarginResult:
        nan = np.full(1, np.nan)
        return MarginResult(self.name, ("x",), nan, nan, nan, nan)


def test_nan_from_the_model_refuses(sqlite_url: str, market: MarketSnapshot) -> None:
    with Ledger(sqlite_url, model=NanModel()) as ledger:
        ledger.deposit("a", "USDC", "100000")
        with pytest.raises(RefusedError, match="available after nan USD"):
            ledger.trade("a", PERP, "0.1", "95000", market=market)
        with pytest.raises(RefusedError, match="would leave available < 0"):
            ledger.withdraw("a", "USDC", "1", market=market)
        with pytest.raises(RefusedError):
            ledger.preview_trade("a", PERP, "0.1", "95000", market=market)
        assert ledger.store.count_events() == 1


# -- 4. the index-move guard ------------------------------------------------------------------------------
def test_index_far_from_the_last_accepted_is_bad_input_on_the_cli(tmp_path: Path, db_url: str) -> None:
    db = ["--db", db_url]
    tiny = market_file(tmp_path, "tiny", BTC=1.0e-300)  # refused by the market's own bounds
    far = market_file(tmp_path, "far", BTC=1000.0)  # a sane number, far from the last accepted one
    triple = market_file(tmp_path, "triple", BTC=285000.0)
    run(["deposit", "a", "USDC", "100000", *db])
    run(["trade", "a", PERP, "0.1", "95000", "--market", MARKET, *db])  # accepted: BTC 95,000 stored
    r = run(["withdraw", "a", "USDC", "10", "--market", tiny, *db], code=2)
    assert "index.BTC: expected a finite number in [1e-08, 1e+12], found 1e-300" in r.stderr
    r = run(["withdraw", "a", "USDC", "10", "--market", far, *db], code=2)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(
        "error: market index.BTC: expected within a factor 2"
    )
    assert "last accepted index 95000.0 USD (market of 2026-11-25T08:00:00+00:00, accepted " in r.stderr
    assert "found '1000.0 USD (market of 2026-11-25T08:00:00+00:00)'" in r.stderr
    run(["trade", "a", PERP, "0.1", "285000", "--market", triple, *db], code=2)
    run(["trade", "a", PERP, "0.1", "285000", "--market", triple, "--max-index-move", "3.5", *db])
    run(["withdraw", "a", "USDC", "10", "--market", MARKET, *db], code=2)  # 285,000 now the last
    r = run(["withdraw", "a", "USDC", "10", "--market", MARKET, "--max-index-move", "1", *db], code=2)
    assert r.stderr.startswith("error: --max-index-move: expected a factor > 1")
    assert count(db_url) == 3


def test_the_last_accepted_index_is_stored_with_the_accepted_command_only(
    sqlite_url: str, market: MarketSnapshot
) -> None:
    with Ledger(sqlite_url) as ledger:
        ledger.deposit("a", "USDC", "1000")
        assert ledger.store.index_marks() == {}  # a deposit is never checked
        with pytest.raises(RefusedError):
            ledger.trade("a", PERP, "5", "95000", market=market.shifted("BTC", 1.5), key="t0")
        assert ledger.store.index_marks() == {}  # refused: nothing written, the index neither
        ledger.trade("a", PERP, "0.01", "95000", market=market, key="t1")
        marks = ledger.store.index_marks()
        assert {a: m.price_usd for a, m in marks.items()} == {"BTC": 95000.0, "ETH": 3500.0, "USDC": 1.0}
        assert marks["BTC"].event_key == "t1" and marks["BTC"].valuation_time == market.valuation_time
        ledger.trade("a", PERP, "0.01", "95000", market=market, key="t2")  # same market: no rewrite
        assert ledger.store.index_marks()["BTC"].version == 1
        up = market.shifted("BTC", 1.5)
        ledger.withdraw("a", "USDC", "1", market=up, key="w1")
        assert ledger.store.index_marks()["BTC"].price_usd == 142500.0
        assert ledger.store.index_marks()["BTC"].version == 2
        with pytest.raises(InputError, match=r"index\.BTC"):
            ledger.withdraw("a", "USDC", "1", market=market.shifted("BTC", 0.3))


def test_non_finite_index_is_bad_input(sqlite_url: str, market: MarketSnapshot) -> None:
    with Ledger(sqlite_url) as ledger:
        ledger.deposit("a", "USDC", "1000")
        for bad in (math.nan, math.inf, 0.0, -1.0):  # refused by the market itself: never reaches a check
            with pytest.raises(InputError, match=r"index\.ETH: expected a finite number"):
                market.replace(index_usd={**market.index_usd, "ETH": bad})
        assert ledger.store.count_events() == 1


def test_index_rows_are_written_under_optimistic_concurrency(sqlite_url: str, market: MarketSnapshot) -> None:
    with Ledger(sqlite_url) as ledger:
        r = ledger.deposit("a", "USDC", "1000")
        ev = replace(r.event, seq=2, key="k2")
        now = r.event.created_at
        first = IndexUpdate("BTC", 95000.0, now, now, "k2", 0)
        assert ledger.store.append(ev, expected_version=1, index_updates=[first]) is AppendResult.COMMITTED
        ev3 = replace(r.event, seq=3, key="k3")
        stale = IndexUpdate("BTC", 190000.0, now, now, "k3", 0)  # another writer inserted BTC first
        assert ledger.store.append(ev3, expected_version=2, index_updates=[stale]) is AppendResult.CONFLICT
        stale = IndexUpdate("BTC", 190000.0, now, now, "k3", 7)
        assert ledger.store.append(ev3, expected_version=2, index_updates=[stale]) is AppendResult.CONFLICT
        assert ledger.store.count_events() == 2  # the event was rolled back with the index row
        with ledger.store.engine.connect() as conn:
            assert conn.execute(sa.select(index_marks.c.price_usd)).scalars().all() == ["95000.0"]


def test_migration_from_0001_keeps_the_events(sqlite_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from xmargin.ledger._store import HEAD_REVISION, MIGRATIONS_DIR, make_engine

    engine = make_engine(sqlite_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(sa.text("INSERT INTO accounts VALUES ('a', 0)"))
    engine.dispose()
    with Ledger(sqlite_url) as ledger:  # upgrades to the newest revision
        assert ledger.store.index_marks() == {}
        with ledger.store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION


# -- 5. durable databases -----------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:x?mode=memory&uri=true"])
def test_in_memory_databases_are_refused(url: str) -> None:
    r = run(["deposit", "a", "USDC", "1", "--db", url], code=2)
    assert r.stderr.startswith("error: --db: expected a durable database")
    with pytest.raises(InputError, match="durable"):
        Ledger(url)
    with Ledger(url, ephemeral=True) as ledger:  # tests may ask for one
        ledger.deposit("a", "USDC", "1")
    assert is_ephemeral(url)


def test_a_sqlite_file_in_a_missing_directory_is_bad_input() -> None:
    r = run(["deposit", "a", "USDC", "1", "--db", "sqlite:////nonexistent/dir/x.db"], code=2)
    assert r.stderr == "error: --db: expected a SQLite file in an existing directory, found " + (
        "'sqlite:////nonexistent/dir/x.db (no directory /nonexistent/dir)'\n"
    )
    assert not is_ephemeral("postgresql+psycopg://u@h/db") and not is_ephemeral("sqlite:////tmp/x.db")


def test_unreachable_postgresql_is_one_fault_line() -> None:
    r = run(["deposit", "a", "BTC", "1", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/x"], code=1)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: cannot open the ledger database")


# -- 6. ASCII numbers only ----------------------------------------------------------------------------------
NON_ASCII = ["١٢٣", "１２３", "٣.٥", "1e٣", "1_000", "۱۲", "१२", "1\u00a0", "½", "Infinity", "+-1", "1e", "."]


@pytest.mark.parametrize("text", NON_ASCII)
def test_only_ascii_numbers_parse(text: str) -> None:
    with pytest.raises(InputError, match="AMOUNT: expected a decimal number in ASCII digits"):
        parse_decimal(text, where="AMOUNT")


def test_ascii_numbers_still_parse() -> None:
    for text, value in [("123", 123), (" 1.5 ", D("1.5")), ("+2", 2), ("-0.5", D("-0.5")), ("1E2", 100)]:
        assert parse_decimal(text, where="x") == value
    assert parse_decimal(".5", where="x") == D("0.5") and parse_decimal("5.", where="x") == 5


def test_non_ascii_digits_are_bad_input_everywhere_on_the_cli(sqlite_url: str) -> None:
    db = ["--db", sqlite_url]
    run(["deposit", "u", "USDC", "1000", *db])
    cases = [
        ["deposit", "u", "USDC", "١٢٣"],
        ["withdraw", "u", "USDC", "١"],
        ["trade", "u", PERP, "٠.١", "95000", "--market", MARKET],
        ["trade", "u", PERP, "0.1", "٩٥٠٠٠", "--market", MARKET],
        ["trade", "u", PERP, "0.1", "95000", "--market", MARKET, "--fee", "١"],
        ["funding", "u", PERP, "٠.٠٠١", "95000"],
        ["funding", "u", PERP, "0.001", "٩٥٠٠٠"],
        ["settle", "u", "BTC-27DEC26", "٩٥٠٠٠"],
        ["withdraw", "u", "USDC", "1", "--market", MARKET, "--max-index-move", "٢"],
    ]
    for args in cases:
        r = run([*args, *db], code=2)
        assert "expected a decimal number in ASCII digits" in r.stderr, args
    assert count(sqlite_url) == 1


# -- 7. idempotency over normalised numbers ------------------------------------------------------------------
def test_retries_with_the_same_number_written_differently_are_the_same_command(db_url: str) -> None:
    db = ["--db", db_url]
    run(["deposit", "k", "USDC", "1000", *db])
    first = run_json(["deposit", "k", "USDC", "100", "--key", "dep-1", *db])
    for text in ("100.0", "1e2", "1.00E+2", "100.000000", "+100"):
        again = run_json(["deposit", "k", "USDC", text, "--key", "dep-1", *db])
        assert again["replayed"] and again["seq"] == first["seq"], text
    r = run(["deposit", "k", "USDC", "100.0000001", "--key", "dep-1", *db], code=2)
    assert r.stderr.startswith("error: --key: expected a new key, or the same command")
    run(["trade", "k", PERP, "0.01", "95000", "--market", MARKET, "--key", "t-1", *db])
    run(["trade", "k", PERP, "1e-2", "9.5e4", "--market", MARKET, "--key", "t-1", "--fee", "0.0", *db])
    run(["trade", "k", PERP, "0.02", "95000", "--market", MARKET, "--key", "t-1", *db], code=2)
    assert count(db_url) == 3


def test_events_fingerprinted_before_normalisation_still_replay(sqlite_url: str) -> None:
    """An event stored by the old code carries the fingerprint of the command as typed; its retry is
    still recognised (and a different amount still refused)."""
    request = {"asset": "USDC", "amount": "100.0"}
    legacy = fingerprint("k", EventKind.DEPOSIT, request, normalise=False)
    assert legacy != fingerprint("k", EventKind.DEPOSIT, request)
    with Ledger(sqlite_url) as ledger:
        r = ledger.deposit("k", "USDC", "5", key="seed")
        data: dict[str, Any] = {
            "asset": "USDC",
            "amount": "100.000000",
            "requested": "100.0",
            "request": legacy,
        }
        old = replace(r.event, seq=2, key="old-1", data=data)
        assert ledger.store.append(old, expected_version=1) is AppendResult.COMMITTED
        assert ledger.deposit("k", "USDC", "100.0", key="old-1").replayed
        with pytest.raises(InputError, match="key"):
            ledger.deposit("k", "USDC", "101", key="old-1")


# -- 8. integer options are bounded ---------------------------------------------------------------------------
def test_upto_beyond_a_signed_64_bit_integer_is_bad_input(db_url: str) -> None:
    db = ["--db", db_url]
    run(["deposit", "a", "USDC", "1", *db])
    r = run(["replay", "a", "--upto", "99999999999999999999", *db], code=2)
    assert r.stderr == (
        "error: --upto: expected a sequence number from 1 to 9223372036854775807 (2^63 - 1), "
        "found 99999999999999999999\n"
    )
    run(["replay", "a", "--upto", str(2**63), *db], code=2)
    run(["replay", "a", "--upto", "0", *db], code=2)
    assert run_json(["replay", "a", "--upto", str(2**63 - 1), *db])["collateral"] == {"USDC": 1.0}
    with Ledger(db_url) as ledger, pytest.raises(InputError, match="upto"):
        ledger.replay("a", upto=2**63)
