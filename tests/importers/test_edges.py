"""The less travelled paths: conversions that overflow, hedged sides that cannot be priced, margin figures
missing, odd shapes of other venues' files, and the race ``--out`` guards against."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.importers.conftest import FIXTURES, load
from xmargin.cli import app
from xmargin.core import InputError
from xmargin.core._files import _kind
from xmargin.importers import (
    SourceDocument,
    import_binance,
    import_ccxt,
    import_deribit,
    import_documents,
    import_okx,
)
from xmargin.importers._book import Book, Leg
from xmargin.importers._common import Node, describe
from xmargin.instruments import parse_name


def okx(**fields: Any) -> SourceDocument:
    record: dict[str, Any] = {
        "instId": "BTC-USDT-SWAP", "instType": "SWAP", "pos": "1", "posSide": "net", "avgPx": "95000",
        "markPx": "96000", "mgnMode": "cross", "ccy": "USDT", "ctVal": "0.01", "ctValCcy": "BTC",
    }  # fmt: skip
    record.update(fields)
    return SourceDocument("p.json", [record])


def test_a_size_that_overflows_is_bad_input() -> None:
    with pytest.raises(InputError, match=re.escape("p.json: [0]: expected a finite size after conversion")):
        import_okx([okx(pos="1e300", ctVal="1e300")])


@pytest.mark.parametrize("pos", ["100000000001", "-100000000001"])
def test_a_size_beyond_the_portfolio_bound_is_refused_by_the_importer_itself(pos: str) -> None:
    # found by test_fuzz: 1e11 contracts x 0.01 BTC = 1e9 + 0.01 coin, past FORMATS.md's |size| <= 1e9; every
    # importer (not only import_documents) returns a portfolio file xmargin accepts, or bad input
    with pytest.raises(InputError, match=re.escape("the okx import: positions.BTC_USDT-PERPETUAL.size")):
        import_okx([okx(pos=pos)])


def test_a_size_that_underflows_is_left_out() -> None:
    result = import_okx([okx(pos="1e-300", ctVal="1e-300")])
    assert result.portfolio["positions"] == {}
    assert any("BTC-USDT-SWAP" in w for w in result.warnings)


def test_odd_okx_ids_and_expiry_times() -> None:
    with pytest.raises(InputError, match="a strike > 0"):
        import_okx([okx(instId="BTC-USD-250328-0-C", instType="OPTION")])
    with pytest.raises(InputError, match="expTime in Unix milliseconds"):
        import_okx([okx(instId="BTC-USDT-250328", instType="FUTURES", expTime="1e30")])


def test_inverse_sides_of_equal_size_need_a_mark() -> None:
    book = Book("test")
    inst = parse_name("BTC-PERPETUAL")
    book.leg(Leg(inst, 0.1, "a.json: [0]", "BTCUSD", side="long", avg_price=90000.0))
    book.leg(Leg(inst, -0.1, "a.json: [1]", "BTCUSD", side="short", avg_price=95000.0))
    with pytest.raises(InputError, match=re.escape("a.json: [0]: expected the venue's mark price")):
        book.result("a")


def test_option_sides_that_do_not_net_to_a_price_drop_it() -> None:
    book = Book("test")
    inst = parse_name("BTC-27DEC26-100000-C")
    book.leg(Leg(inst, 2.0, "l", "C", side="long", avg_price=0.01))
    book.leg(Leg(inst, -1.0, "s", "C", side="short", avg_price=0.05))
    doc = book.result("a")
    assert doc.portfolio["positions"] == {"BTC-27DEC26-100000-C": 1.0}
    assert any("avg_price left out" in w for w in doc.warnings)


def test_isolated_without_margin_or_leverage_is_written_cross() -> None:
    ccxt = {"symbol": "BTC/USDT:USDT", "side": "long", "contracts": 1, "contractSize": 0.001,
            "entryPrice": 90000, "isolated": True, "collateral": 5, "unrealizedPnl": 10}  # fmt: skip
    result = import_ccxt([SourceDocument("p.json", [ccxt])])
    assert result.portfolio["positions"] == {"BTC_USDT-PERPETUAL": {"size": 0.001, "avg_price": 90000.0}}
    assert any("written as a cross position" in w for w in result.warnings)
    assert any("no fetch_balance" in w for w in result.warnings)
    coin = {"symbol": "BTC/USD:BTC", "side": "long", "contracts": 1, "contractSize": 100, "entryPrice": None,
            "markPrice": None, "marginMode": "isolated", "collateral": 0.01}  # fmt: skip
    with pytest.raises(InputError, match="an entry or mark price"):
        import_ccxt([SourceDocument("p.json", [coin])])


def test_binance_account_positions_with_isolated_flags() -> None:
    account = load("binance_account_v2.json").data
    assert isinstance(account, dict)
    account["positions"][0].update({"positionAmt": "0.01", "entryPrice": "90000", "isolatedWallet": "300"})
    result = import_binance([SourceDocument("a.json", account)])
    assert result.portfolio["positions"] == {
        "BTC_USDT-PERPETUAL": {"size": 0.01, "avg_price": 90000.0, "isolated_margin": 300.0}
    }
    account["positions"][0]["isolated"] = "maybe"
    with pytest.raises(InputError, match=re.escape("a.json: positions[0].isolated: expected true or false")):
        import_binance([SourceDocument("a.json", account)])


def test_no_documents_and_unknown_venues() -> None:
    for importer in (import_deribit, import_binance, import_okx, import_ccxt):
        with pytest.raises(InputError, match="FILE: expected at least one"):
            importer([])
    with pytest.raises(InputError, match="VENUE: expected one of deribit, binance, okx, ccxt"):
        import_documents("ftx", [load("ccxt_balance.json")])


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ({"totalWalletBalance": "1"}, "a Binance account response"),
        ({"total": {}, "free": {}}, "a CCXT fetch_balance structure"),
        ([{"instrument_name": "BTC-PERPETUAL"}], "a Deribit positions list"),
        ([{"instId": "BTC-USDT-SWAP"}], "an OKX data list"),
        ({"currency": "BTC", "balance": 1}, "a Deribit JSON-RPC response"),
    ],
)
def test_other_venues_files_are_recognised(data: object, shown: str) -> None:
    with pytest.raises(InputError) as exc:
        import_binance([SourceDocument("x.json", data)]) if "Binance" not in shown else import_okx(
            [SourceDocument("x.json", data)]
        )
    assert str(exc.value).endswith(f"found {shown}")


def test_descriptions_stay_short() -> None:
    assert str(describe(10**40)) == "a very large integer"
    assert str(describe({str(i): i for i in range(9)})) == "an object with keys 0, 1, 2, 3, 4, 5, ..."
    assert describe("x" * 100) == "x" * 57 + "..."
    assert str(describe(b"raw")) == "bytes"
    with pytest.raises(InputError, match="expected a JSON object, found a list of 1 items"):
        Node([1], "f.json").key("a")
    with pytest.raises(InputError, match="expected a JSON list, found an empty object"):
        Node({}, "f.json").items()


def test_a_target_that_appears_meanwhile_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "p.json"

    def link(src: str, dst: str) -> None:
        Path(dst).write_text("theirs\n")
        raise FileExistsError(dst)

    monkeypatch.setattr(os, "link", link)
    args = ["import", "binance", str(FIXTURES / "binance_position_risk_v2.json"), "--out", str(target)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "found" in result.stderr and "exists" in result.stderr
    assert target.read_text() == "theirs\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_kinds_of_non_regular_files() -> None:
    assert _kind(stat.S_IFCHR) == "a device"
    assert _kind(stat.S_IFSOCK) == "not a regular file"
