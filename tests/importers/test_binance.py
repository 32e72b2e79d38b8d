"""Binance USDⓈ-M import: the documented responses (fixtures/README.md) → portfolio, and every error path.

Golden values are derived by hand from the documented semantics (docstring of ``xmargin.importers._binance``).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.importers.conftest import load
from tests.importers.formats import assert_close, check_portfolio
from xmargin.core import InputError, InputErrors
from xmargin.importers import SourceDocument, import_binance

RISK_V2 = "binance_position_risk_v2.json"
RISK_V3 = "binance_position_risk_v3.json"
ACCOUNT = "binance_account_v2.json"


def one_error(exc: pytest.ExceptionInfo[InputError]) -> str:
    value = exc.value
    lines = [str(e) for e in (value.errors if isinstance(value, InputErrors) else (value,))]
    assert len(lines) == 1, lines
    return lines[0]


def risk(*records: dict[str, Any]) -> SourceDocument:
    return SourceDocument("risk.json", list(records))


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "positionAmt": "0.5",
        "entryPrice": "90000",
        "markPrice": "91000",
        "unRealizedProfit": "500",
        "marginType": "cross",
        "isolatedWallet": "0",
        "leverage": "10",
        "positionSide": "BOTH",
    }
    base.update(fields)
    return base


def test_documented_v2_positions_and_account() -> None:
    result = import_binance([load(RISK_V2), load(ACCOUNT)])
    doc = result.portfolio
    check_portfolio(doc)
    # The documented hedge-mode LONG: positionAmt 0.001 at entryPrice 22185.2 (its SHORT side is 0: left out).
    # ETHUSDT SHORT -2.5 isolated: isolated_margin = isolatedWallet 850.5 (isolatedMargin 975.5 = 850.5 +
    # unrealised 125). BTCUSDT_250328 -> BTC_USDT-28MAR25. SOLUSDT LONG 10 @ 150 and SHORT -4 @ 160 net to
    # 6 @ (10×150 − 4×160) / 6 = 860 / 6. 1000PEPEUSDT 5000 @ 0.012 -> 5,000,000 PEPE @ 0.000012.
    assert_close(
        doc["positions"],
        {
            "BTC_USDT-28MAR25": {"size": 0.01, "avg_price": 90000.0},
            "BTC_USDT-PERPETUAL": {"size": 0.001, "avg_price": 22185.2},
            "ETH_USDT-PERPETUAL": {"size": -2.5, "avg_price": 3400.0, "isolated_margin": 850.5},
            "PEPE_USDT-PERPETUAL": {"size": 5_000_000.0, "avg_price": 0.000012},
            "SOL_USDT-PERPETUAL": {"size": 6.0, "avg_price": 860 / 6},
        },
    )
    # walletBalance of each asset; the USDC asset with 0 is left out
    assert doc["collateral"] == {"USDT": 12023.72469206}
    text = "\n".join(result.warnings)
    assert "netted into one position SOL_USDT-PERPETUAL of 6" in text
    assert "BTCUSDT SHORT, ETHUSDT LONG" in text
    assert "USDT are taken as USD at 1:1" in text
    assert "1000 PEPE" in text


def test_documented_v3_positions_guess_isolation_from_the_wallet() -> None:
    result = import_binance([load(RISK_V3)])
    # ADAUSDT (the documented V3 position): 30 at 0.385; ETHUSDT has isolatedWallet 500 -> isolated.
    assert result.portfolio["positions"] == {
        "ADA_USDT-PERPETUAL": {"size": 30.0, "avg_price": 0.385},
        "ETH_USDT-PERPETUAL": {"size": -1.5, "avg_price": 3400.0, "isolated_margin": 500.0},
    }
    assert any("no marginType" in w for w in result.warnings)
    assert any("collateral holds no balances" in w for w in result.warnings)


def test_account_alone_takes_its_positions() -> None:
    account = copy.deepcopy(load(ACCOUNT).data)
    assert isinstance(account, dict)
    # A V3 account position has no entryPrice: it enters at mark and its unrealizedProfit joins collateral.
    account["positions"] = [
        {
            "symbol": "ETHUSDT",
            "positionSide": "BOTH",
            "positionAmt": "2",
            "unrealizedProfit": "-40.5",
            "isolatedMargin": "0",
            "notional": "6700",
            "isolatedWallet": "0",
            "initialMargin": "335",
            "maintMargin": "33.5",
            "updateTime": 1,
        },
    ]
    result = import_binance([SourceDocument("account.json", account)])
    assert result.portfolio["positions"] == {"ETH_USDT-PERPETUAL": 2.0}
    assert result.portfolio["collateral"] == pytest.approx({"USDT": 12023.72469206 - 40.5})
    text = "\n".join(result.warnings)
    assert "taken from the account response" in text and "no entryPrice" in text


def test_account_with_zero_positions_holds_balances_only() -> None:
    result = import_binance([load(ACCOUNT)])
    assert result.portfolio["positions"] == {}
    assert any("balances only" in w for w in result.warnings)


def test_hedged_sides_of_equal_size_settle_into_collateral() -> None:
    # LONG 1 @ 100 and SHORT -1 @ 110 on a linear contract: P&L = -(1×100 − 1×110) = +10 USDT at any mark.
    result = import_binance(
        [
            risk(
                record(symbol="SOLUSDT", positionAmt="1", entryPrice="100", positionSide="LONG"),
                record(symbol="SOLUSDT", positionAmt="-1", entryPrice="110", positionSide="SHORT"),
            )
        ]
    )
    assert result.portfolio["positions"] == {}
    assert result.portfolio["collateral"] == {"USDT": 10.0}


def test_isolated_without_wallet_gives_leverage() -> None:
    result = import_binance([risk(record(marginType="isolated", isolatedWallet="0", leverage="25"))])
    assert result.portfolio["positions"] == {
        "BTC_USDT-PERPETUAL": {"size": 0.5, "avg_price": 90000.0, "leverage": 25.0}
    }


@pytest.mark.parametrize(
    ("fields", "where", "expected"),
    [
        ({"symbol": "BTCUSD_PERP"}, "[0].symbol", "a USDⓈ-M symbol"),
        ({"symbol": "BTCUSDT_251340"}, "[0].symbol", "a real calendar date"),
        ({"symbol": "1MBABYDOGEUSDT"}, "[0].symbol", "starting with a letter"),
        ({"positionAmt": "1,5"}, "[0].positionAmt", "a number"),
        ({"positionAmt": "NaN"}, "[0].positionAmt", "a number"),
        ({"positionAmt": "1e999"}, "[0].positionAmt", "a finite number"),
        (
            {"positionAmt": "-1", "positionSide": "LONG"},
            "[0].positionAmt",
            "a positionAmt > 0 on the LONG side",
        ),
        ({"positionSide": "UP"}, "[0].positionSide", "BOTH, LONG or SHORT"),
        ({"marginType": "portfolio"}, "[0].marginType", "isolated or cross"),
        ({"entryPrice": "-5"}, "[0].entryPrice", "a number > 0"),
    ],
)
def test_bad_fields_are_located(fields: dict[str, Any], where: str, expected: str) -> None:
    with pytest.raises(InputError) as exc:
        import_binance([risk(record(**fields))])
    line = one_error(exc)
    assert line.startswith(f"risk.json: {where}: expected ") and expected in line


def test_error_response_and_foreign_files() -> None:
    with pytest.raises(InputError) as exc:
        import_binance([SourceDocument("r.json", {"code": -2015, "msg": "Invalid API-key, IP."})])
    assert one_error(exc) == (
        "r.json: expected a successful Binance response, found error code -2015: Invalid API-key, IP."
    )
    with pytest.raises(InputError) as exc:
        import_binance([load("deribit_positions.json")])
    assert one_error(exc).endswith("found a Deribit JSON-RPC response")
    with pytest.raises(InputError) as exc:
        import_binance([SourceDocument("r.json", [])])
    assert "a non-empty positionRisk list" in one_error(exc)


def test_duplicate_records_and_mixed_modes_are_refused() -> None:
    with pytest.raises(InputError, match="one record per instrument and side"):
        import_binance([risk(record(), record())])
    with pytest.raises(InputError, match="the same margin mode on both hedged sides"):
        import_binance(
            [
                risk(
                    record(positionSide="LONG"),
                    record(
                        positionSide="SHORT", positionAmt="-0.2", marginType="isolated", isolatedWallet="10"
                    ),
                )
            ]
        )
