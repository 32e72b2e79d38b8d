"""OKX v5 import: the documented responses (fixtures/README.md) → portfolio, and every error path.

Golden values are derived by hand from the documented semantics (docstring of ``xmargin.importers._okx``).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.importers.conftest import load
from tests.importers.formats import assert_close, check_portfolio
from xmargin.core import InputError, InputErrors
from xmargin.importers import SourceDocument, import_okx

POSITIONS = "okx_positions.json"
BALANCE = "okx_balance.json"
INSTRUMENTS = "okx_instruments.json"


def lines(exc: pytest.ExceptionInfo[InputError]) -> list[str]:
    value = exc.value
    return [str(e) for e in (value.errors if isinstance(value, InputErrors) else (value,))]


def positions(*records: dict[str, Any]) -> SourceDocument:
    return SourceDocument("pos.json", {"code": "0", "msg": "", "data": list(records)})


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "instId": "BTC-USDT-SWAP",
        "instType": "SWAP",
        "pos": "2",
        "posSide": "net",
        "avgPx": "95000",
        "markPx": "96000",
        "mgnMode": "cross",
        "ccy": "USDT",
        "margin": "",
        "lever": "10",
        "ctVal": "0.01",
        "ctMult": "1",
        "ctValCcy": "BTC",
    }
    base.update(fields)
    return base


def test_documented_positions_balance_and_instruments() -> None:
    result = import_okx([load(POSITIONS), load(BALANCE), load(INSTRUMENTS)])
    doc = result.portfolio
    check_portfolio(doc)
    # ETH-USD-210430 (the documented position): 1 contract of ctVal 10 USD, long, avgPx 2566.31 ->
    # 10 / 2566.31 ETH at 2566.31; isolated margin 0.0003896645377994 ETH at markPx 2353.849 in USD.
    # BTC-USDT-SWAP short 3 × 0.01 BTC = -0.03 @ 95000.
    # BTC-USD-SWAP long 50 × 100 USD @ 90000 = 5000/90000 BTC, short 20 × 100 USD @ 100000 = 0.02 BTC:
    # net 5000/90000 − 0.02 BTC at (5000 − 2000) / net = 84375 (USD over coin: the inverse average).
    # BTC-USD-250328-100000-C net -2 × 0.01 BTC = -0.02 @ 0.015 BTC.
    assert_close(
        doc["positions"],
        {
            "ETH-30APR21": {
                "size": 10 / 2566.31,
                "avg_price": 2566.31,
                "isolated_margin": 0.0003896645377994 * 2353.849,
            },
            "BTC_USDT-PERPETUAL": {"size": -0.03, "avg_price": 95000.0},
            "BTC-PERPETUAL": {"size": 5000 / 90000 - 0.02, "avg_price": 84375.0},
            "BTC-28MAR25-100000-C": {"size": -0.02, "avg_price": 0.015},
        },
    )
    # cashBal per currency (USDT: the documented balance)
    assert doc["collateral"] == {"BTC": 0.5, "ETH": 0.25, "USDT": 4850.435693622894}
    text = "\n".join(result.warnings)
    assert "converted to coin at the entry price" in text
    assert "isolated margins in ETH are valued in USD at markPx" in text
    assert "ETH-USDT-SWAP long" in text  # the zero position


def test_contract_value_is_required() -> None:
    with pytest.raises(InputErrors) as exc:
        import_okx([load(POSITIONS), load(BALANCE)])
    assert lines(exc)[0] == (
        "okx_positions.json: data[0].ctVal: expected the contract value of ETH-USD-210430: ctVal and ctValCcy "
        "in the position, or the GET /api/v5/public/instruments response as another FILE, found nothing"
    )
    assert len(lines(exc)) == 5  # every nonzero position, one line each


def test_contract_value_in_the_record_and_assumed_expiry_hour() -> None:
    result = import_okx([positions(record(), record(instId="BTC-USDT-250627", instType="FUTURES", pos="-1"))])
    assert result.portfolio["positions"] == {
        "BTC_USDT-27JUN25": {"size": -0.01, "avg_price": 95000.0},
        "BTC_USDT-PERPETUAL": {"size": 0.02, "avg_price": 95000.0},
    }
    assert any("taken to expire at 08:00 UTC" in w for w in result.warnings)


def test_an_expiry_at_another_hour_cannot_be_named() -> None:
    late = record(instId="BTC-USDT-250627", instType="FUTURES", expTime="1751011200000")  # 2025-06-27 08:00
    assert import_okx([positions(late)]).portfolio["positions"]
    late["expTime"] = "1751040000000"  # 16:00 UTC
    with pytest.raises(InputError) as exc:
        import_okx([positions(late)])
    assert lines(exc) == [
        "pos.json: data[0].expTime: expected BTC-USDT-250627 expiring at 08:00 UTC on its date (the only expiry "
        "hour xmargin can name), found expTime 2025-06-27 16:00 UTC"
    ]


def test_isolated_margins() -> None:
    usdt = record(mgnMode="isolated", margin="1900", ccy="USDT")
    assert import_okx([positions(usdt)]).portfolio["positions"]["BTC_USDT-PERPETUAL"] == {
        "size": 0.02,
        "avg_price": 95000.0,
        "isolated_margin": 1900.0,
    }
    no_margin = record(mgnMode="isolated", margin="", lever="20")
    assert import_okx([positions(no_margin)]).portfolio["positions"]["BTC_USDT-PERPETUAL"] == {
        "size": 0.02,
        "avg_price": 95000.0,
        "leverage": 20.0,
    }
    with pytest.raises(InputError, match="the mark price, to value the isolated margin in BTC"):
        import_okx(
            [
                positions(
                    record(
                        instId="BTC-USD-SWAP",
                        ctValCcy="USD",
                        ctVal="100",
                        mgnMode="isolated",
                        margin="0.1",
                        ccy="BTC",
                        markPx="",
                    )
                )
            ]
        )


def test_documented_margin_position_is_refused_unless_zero() -> None:
    margin = {
        "instId": "BTC-USDT",
        "instType": "MARGIN",
        "pos": "0.00190433573",
        "posSide": "net",
        "posCcy": "BTC",
        "avgPx": "62961.4",
        "mgnMode": "isolated",
        "ccy": "BTC",
        "margin": "0.000317654",
        "liab": "-99.99",
    }
    with pytest.raises(InputError) as exc:
        import_okx([positions(margin)])
    assert lines(exc)[0].startswith("pos.json: data[0].instType: expected SWAP, FUTURES or OPTION")
    margin["pos"] = "0"
    result = import_okx([positions(margin)])
    assert any("BTC-USDT" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("fields", "where", "expected"),
    [
        ({"instId": "BTC-USDT"}, "data[0].instId", "an instId like BTC-USDT-SWAP"),
        ({"instType": "FUTURES"}, "data[0].instId", "a real calendar date" if False else "YYMMDD"),
        ({"instId": "BTC-ETH-SWAP", "ctValCcy": "BTC", "settleCcy": "USDT"}, "data[0].instId", "settled in"),
        ({"pos": "-2", "posSide": "long"}, "data[0].pos", "pos > 0 on the long side"),
        ({"posSide": "both"}, "data[0].posSide", "net, long or short"),
        ({"mgnMode": "portfolio"}, "data[0].mgnMode", "cross or isolated"),
        ({"ctVal": "0"}, "data[0].ctVal", "a number > 0"),
        ({"ctValCcy": "ETH"}, "data[0].instId", "valued in BTC or USD"),
        (
            {"instId": "BTC-USD-SWAP", "ctValCcy": "USD", "avgPx": "", "markPx": ""},
            "data[0].avgPx",
            "to convert",
        ),
        ({"instId": "btc-usdt-swap"}, "data[0].instId", "an instId like"),
        ({"mgnMode": "isolated", "margin": "5", "ccy": "ETH"}, "data[0].ccy", "USDT, USDC or BTC"),
    ],
)
def test_bad_fields_are_located(fields: dict[str, Any], where: str, expected: str) -> None:
    with pytest.raises(InputError) as exc:
        import_okx([positions(record(**fields))])
    (line,) = lines(exc)
    assert line.startswith(f"pos.json: {where}: expected ") and expected in line


def test_failed_empty_and_foreign_responses() -> None:
    with pytest.raises(InputError) as exc:
        import_okx([SourceDocument("p.json", {"code": "50111", "msg": "Invalid OK-ACCESS-KEY", "data": []})])
    assert lines(exc) == [
        'p.json: code: expected a successful OKX response (code "0"), found code 50111: Invalid OK-ACCESS-KEY'
    ]
    with pytest.raises(InputError, match="a non-empty data list"):
        import_okx([SourceDocument("p.json", {"code": "0", "msg": "", "data": []})])
    with pytest.raises(InputError) as exc:
        import_okx([load("binance_position_risk_v2.json")])
    assert lines(exc)[0].endswith("found a Binance positionRisk list")


def test_bare_data_lists_are_read() -> None:
    data = copy.deepcopy(load(BALANCE).data)
    assert isinstance(data, dict)
    result = import_okx([SourceDocument("b.json", data["data"])])
    assert result.portfolio["collateral"]["USDT"] == 4850.435693622894
