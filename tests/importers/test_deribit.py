"""Deribit import: the documented responses (fixtures/README.md) → FORMATS.md portfolio, and every error path.

Golden values are derived by hand from the documented semantics (docstring of ``xmargin.importers._deribit``).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.importers.conftest import load
from tests.importers.formats import check_portfolio
from xmargin.core import InputError, InputErrors
from xmargin.importers import SourceDocument, import_deribit

POSITIONS = "deribit_positions.json"
SUMMARY = "deribit_account_summary.json"
SUMMARIES = "deribit_account_summaries.json"


def errors(exc: pytest.ExceptionInfo[InputError]) -> list[str]:
    value = exc.value
    return [str(e) for e in (value.errors if isinstance(value, InputErrors) else (value,))]


def positions_with(**changes: Any) -> SourceDocument:
    """The positions fixture with fields of result[k] replaced: ``positions_with(r3={"size": "x"})``."""
    doc = copy.deepcopy(load(POSITIONS).data)
    assert isinstance(doc, dict)
    for key, fields in changes.items():
        doc["result"][int(key[1:])].update(fields)
    return SourceDocument(POSITIONS, doc)


def test_documented_positions_and_summary() -> None:
    result = import_deribit([load(POSITIONS), load(SUMMARY)])
    doc = result.portfolio
    check_portfolio(doc)
    assert doc["account"] == "deribit"
    # BTC-PERPETUAL (the documented position): size 50 USD, size_currency 0.006687487 BTC -> size 0.006687487.
    # BTC-27DEC26: size_currency -0.1 BTC -> -0.1. Futures carry no avg_price (they enter at mark).
    # BTC_USDC-PERPETUAL: size_currency -0.5 -> -0.5. The option: size 2 BTC, average_price 0.0425 BTC.
    assert doc["positions"] == {
        "BTC-27DEC26": -0.1,
        "BTC-27DEC26-100000-C": {"size": 2.0, "avg_price": 0.0425},
        "BTC-PERPETUAL": 0.006687487,
        "BTC_USDC-PERPETUAL": -0.5,
    }
    # BTC = balance 302.60065765 + futures_session_rpl -0.03258105 + floating P&L of the BTC futures
    # (0 on BTC-PERPETUAL, -0.00060362 on BTC-27DEC26) = 302.56747298.
    # USDC = the linear perpetual's floating_profit_loss -12.5 (no USDC summary was given).
    assert doc["collateral"] == pytest.approx({"BTC": 302.56747298, "USDC": -12.5}, rel=1e-12)
    text = "\n".join(result.warnings)
    assert "floating_profit_loss" in text and "futures_session_rpl" in text
    assert "ETH-PERPETUAL" in text  # the zero position, left out
    assert "no USDC account summary" in text
    # the documented summary's futures_session_upl (0.05921555) is not the positions' Σ floating P&L
    assert "futures_session_upl is 0.05921555" in text


def test_account_summaries_give_each_currency() -> None:
    result = import_deribit([load(SUMMARIES), load(POSITIONS)], account="alice")
    # USDC = balance 25000 + floating P&L -12.5 = 24987.5, the USDC summary's own equity (no options).
    assert result.portfolio["collateral"] == pytest.approx({"BTC": 302.56747298, "USDC": 24987.5}, rel=1e-12)
    assert result.portfolio["account"] == "alice"
    assert not any("no USDC" in w for w in result.warnings)


def test_bare_results_and_single_position() -> None:
    positions = load(POSITIONS).data
    summary = load(SUMMARY).data
    assert isinstance(positions, dict) and isinstance(summary, dict)
    single = SourceDocument("pos.json", positions["result"][0])  # private/get_position: one object
    result = import_deribit([single, SourceDocument("s.json", summary["result"])])
    assert result.portfolio["positions"] == {"BTC-PERPETUAL": 0.006687487}
    # balance + futures_session_rpl + 0 floating P&L
    assert result.portfolio["collateral"] == pytest.approx({"BTC": 302.60065765 - 0.03258105})


def test_one_kind_of_file_says_what_is_missing() -> None:
    only_summary = import_deribit([load(SUMMARY)])
    assert only_summary.portfolio["positions"] == {}
    assert any("balances only" in w for w in only_summary.warnings)
    only_positions = import_deribit([load(POSITIONS)])
    assert any("no private/get_account_summary" in w for w in only_positions.warnings)


def test_missing_size_currency_names_file_and_json_path() -> None:
    doc = positions_with(r1={})
    assert isinstance(doc.data, dict)
    del doc.data["result"][1]["size_currency"]
    with pytest.raises(InputError) as exc:
        import_deribit([doc])
    assert errors(exc) == [
        "deribit_positions.json: result[1].size_currency: expected the size in coin (a number), found nothing"
    ]


@pytest.mark.parametrize(
    ("changes", "where", "expected"),
    [
        ({"r0": {"size": "fifty"}}, "result[0].size", "a number"),
        ({"r0": {"size": True}}, "result[0].size", "a number"),
        ({"r0": {"direction": "sell"}}, "result[0].size", "sign agrees with direction sell"),
        ({"r0": {"direction": "up"}}, "result[0].direction", "buy, sell or zero"),
        ({"r1": {"size_currency": 0.1}}, "result[1].size_currency", "with the sign of size"),
        ({"r1": {"floating_profit_loss": None}}, "result[1].floating_profit_loss", "a number"),
        ({"r2": {"kind": "future"}}, "result[2].instrument_name", "the name of a future"),
        ({"r2": {"kind": "option_combo"}}, "result[2].kind", "future or option"),
        ({"r2": {"average_price": -1}}, "result[2].average_price", "a number > 0"),
        (
            {"r0": {"instrument_name": "BTC-FS-27DEC24_PERP"}},
            "result[0].instrument_name",
            "an instrument xmargin can name",
        ),
        (
            {"r0": {"instrument_name": "BTC-27DEC26-08:00"}},
            "result[0].instrument_name",
            "an instrument xmargin can name",
        ),
        ({"r0": {"instrument_name": ""}}, "result[0].instrument_name", "a non-empty string"),
    ],
)
def test_bad_fields_are_located(changes: dict[str, dict[str, object]], where: str, expected: str) -> None:
    with pytest.raises(InputError) as exc:
        import_deribit([positions_with(**changes)])
    (line,) = errors(exc)
    assert line.startswith(f"deribit_positions.json: {where}: expected ") and expected in line


def test_every_problem_is_reported_once() -> None:
    doc = positions_with(r0={"size": "x"}, r1={"size_currency": None}, r2={"kind": "spot"})
    with pytest.raises(InputErrors) as exc:
        import_deribit([doc])
    assert [e.where for e in exc.value.errors] == [
        "deribit_positions.json: result[0].size",
        "deribit_positions.json: result[1].size_currency",
        "deribit_positions.json: result[2].kind",
    ]


def test_zero_positions_of_inexpressible_instruments_are_skipped() -> None:
    doc = positions_with(r3={"instrument_name": "BTC-FS-27DEC24_PERP", "kind": "future_combo"})
    result = import_deribit([doc])
    assert any("BTC-FS-27DEC24_PERP" in w for w in result.warnings)


def test_a_file_given_twice_is_refused() -> None:
    with pytest.raises(InputErrors) as exc:
        import_deribit([load(POSITIONS), load(POSITIONS)])
    assert "a second BTC-PERPETUAL position" in errors(exc)[0]
    with pytest.raises(InputError, match="one account summary per currency"):
        import_deribit([load(SUMMARY), load(SUMMARY)])


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (
            {"jsonrpc": "2.0", "id": 1, "error": {"code": 13009, "message": "unauthorized"}},
            "error 13009: unauthorized",
        ),
        ({"jsonrpc": "2.0", "id": 1, "result": []}, "an empty list"),
        ({"jsonrpc": "2.0", "id": 1}, "nothing"),
        ([{"symbol": "BTCUSDT", "positionAmt": "0.001"}], "a Binance positionRisk list"),
        ({"code": "0", "msg": "", "data": []}, "an OKX v5 response"),
        ([{"symbol": "BTC/USDT:USDT", "contracts": 1}], "a CCXT fetch_positions list"),
        ({"hello": "world"}, "an object with keys hello"),
        ("text", "'text'"),
        (None, "null"),
    ],
)
def test_foreign_or_failed_responses_are_refused(data: object, found: str) -> None:
    with pytest.raises(InputError) as exc:
        import_deribit([SourceDocument("in.json", data)])
    (line,) = errors(exc)
    assert line.startswith("in.json") and line.endswith(f"found {found}")


def test_no_documents() -> None:
    with pytest.raises(InputError, match="at least one"):
        import_deribit([])


def test_a_bad_summary_currency_is_bad_input() -> None:
    summary = copy.deepcopy(load(SUMMARY).data)
    assert isinstance(summary, dict)
    summary["result"]["currency"] = "btc"
    with pytest.raises(InputError) as exc:
        import_deribit([SourceDocument(SUMMARY, summary)])
    assert errors(exc)[0].startswith("deribit_account_summary.json: result.currency: expected an asset code")
