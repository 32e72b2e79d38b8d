"""CCXT import: the Manual's structures (fixtures/README.md) → portfolio, and every error path.

Golden values are derived by hand from the documented semantics (docstring of ``xmargin.importers._ccxt``).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.importers.conftest import load
from tests.importers.formats import assert_close, check_portfolio
from xmargin.core import InputError, InputErrors
from xmargin.importers import SourceDocument, import_ccxt


def lines(exc: pytest.ExceptionInfo[InputError]) -> list[str]:
    value = exc.value
    return [str(e) for e in (value.errors if isinstance(value, InputErrors) else (value,))]


def position(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "symbol": "BTC/USDT:USDT",
        "side": "long",
        "contracts": 2,
        "contractSize": 0.001,
        "entryPrice": 90000,
        "markPrice": 91000,
        "unrealizedPnl": 2,
        "marginMode": "cross",
        "leverage": 10,
    }
    base.update(fields)
    return base


def run(*records: dict[str, Any]) -> dict[str, Any]:
    return dict(import_ccxt([SourceDocument("pos.json", list(records))]).portfolio["positions"])


def test_manual_structures() -> None:
    result = import_ccxt([load("ccxt_positions.json"), load("ccxt_balance.json")])
    doc = result.portfolio
    check_portfolio(doc)
    # The Manual's position: 5 contracts of 100 USD (inverse BTC/USD:BTC) at entryPrice 20000 -> 500/20000
    # = 0.025 BTC; marginMode cross (its isolated flag disagrees: marginMode wins).
    # BTC/USDT:USDT short 0.5 × 1, isolated: margin = collateral 4250 − unrealizedPnl (−500) = 4750 USDT.
    # ETH/USDT:USDT-250328 long 20 × 0.1 = 2 ETH. The option: short 3 × 1 BTC at 0.035 BTC.
    # SOL/USDT:USDT hedged 10 @ 150 long and 10 @ 160 short cancel; their P&L −(1500 − 1600) = +100 USDT.
    assert_close(
        doc["positions"],
        {
            "BTC-PERPETUAL": {"size": 0.025, "avg_price": 20000.0},
            "BTC_USDT-PERPETUAL": {"size": -0.5, "avg_price": 95000.0, "isolated_margin": 4750.0},
            "ETH_USDT-28MAR25": {"size": 2.0, "avg_price": 3300.0},
            "BTC-28MAR25-100000-C": {"size": -3.0, "avg_price": 0.035},
        },
    )
    # total per currency (ETH: null, left out), plus the settled +100 USDT
    assert doc["collateral"] == {"BTC": 0.6, "USDT": 12100.0}
    text = "\n".join(result.warnings)
    for part in (
        "some exchanges report with unrealised P&L included",
        "expiry date only; taken at 08:00 UTC",
        "contractSize is in USD",
        "marginMode and isolated disagree",
        "(100 USDT) moved into collateral USDT",
        "left out: XRP/USDT:USDT",
    ):
        assert part in text


def test_symbols() -> None:
    assert run(position(symbol="ETH/USDC:USDC-261225-4000-P", contractSize=1, entryPrice=150)) == {
        "ETH_USDC-25DEC26-4000-P": {"size": 2.0, "avg_price": 150.0}
    }
    assert run(position(symbol="XRP/USDC:USDC-261225-0.625-C", contractSize=1, entryPrice=0.01)) == {
        "XRP_USDC-25DEC26-0d625-C": {"size": 2.0, "avg_price": 0.01}
    }
    assert run(position(symbol="1000PEPE/USDT:USDT", contractSize=1, entryPrice=0.012)) == {
        "PEPE_USDT-PERPETUAL": {"size": 2000.0, "avg_price": 0.000012}
    }
    # inverse without an entry price: converted at the mark (2 × 10 USD / 20000), entering at mark
    assert run(position(symbol="BTC/USD:BTC", contractSize=10, entryPrice=None, markPrice=20000)) == {
        "BTC-PERPETUAL": 0.001
    }


def test_isolated_margin_in_coin_and_leverage() -> None:
    coin = position(
        symbol="BTC/USD:BTC",
        contractSize=100,
        marginMode="isolated",
        collateral=0.011,
        unrealizedPnl=0.001,
        entryPrice=100000,
        markPrice=101000,
    )
    # 0.01 BTC of margin at markPrice 101000 = 1010 USD; size 200 USD / 100000 = 0.002 BTC
    assert run(coin) == {"BTC-PERPETUAL": {"size": 0.002, "avg_price": 100000.0, "isolated_margin": 1010.0}}
    lever = position(marginMode="isolated", collateral=None, leverage=20)
    assert run(lever) == {"BTC_USDT-PERPETUAL": {"size": 0.002, "avg_price": 90000.0, "leverage": 20.0}}


def test_unknown_keys_are_ignored_with_a_warning() -> None:
    result = import_ccxt([SourceDocument("p.json", [position(mystery=1)])])
    assert any("mystery" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("fields", "where", "expected"),
    [
        ({"symbol": "BTC/USDT"}, "[0].symbol", "a contract symbol like"),
        ({"symbol": "ETH/USD:BTC"}, "[0].symbol", "settled in its base or quote coin"),
        ({"symbol": "BTC/USDT:USDT-251399"}, "[0].symbol", "a real calendar date"),
        ({"side": "buy"}, "[0].side", "long or short"),
        ({"side": None}, "[0].side", "long or short"),
        ({"contracts": -2}, "[0].contracts", "contracts > 0 on a long position"),
        ({"contracts": "many"}, "[0].contracts", "a number"),
        ({"contractSize": None}, "[0].contractSize", "a number"),
        ({"contractSize": 0}, "[0].contractSize", "a number > 0"),
        ({"marginMode": "portfolio"}, "[0].marginMode", "isolated or cross"),
        ({"symbol": "BTC/USD:BTC", "entryPrice": None, "markPrice": None}, "[0].entryPrice", "to convert"),
    ],
)
def test_bad_fields_are_located(fields: dict[str, Any], where: str, expected: str) -> None:
    with pytest.raises(InputError) as exc:
        run(position(**fields))
    (line,) = lines(exc)
    assert line.startswith(f"pos.json: {where}: expected ") and expected in line


def test_foreign_and_empty_documents() -> None:
    with pytest.raises(InputError) as exc:
        import_ccxt([load("okx_balance.json")])
    assert lines(exc)[0].endswith("found an OKX v5 response")
    with pytest.raises(InputError, match="a non-empty fetch_positions list"):
        import_ccxt([SourceDocument("p.json", [])])
    with pytest.raises(InputError) as exc:
        import_ccxt([SourceDocument("b.json", {"total": {"BTC": "lots"}})])
    assert lines(exc) == ["b.json: total.BTC: expected a number, found 'lots'"]
