"""Rounding: every quantization favours the venue; parsing never goes through float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmargin.core import InputError
from xmargin.ledger import account_delta, credit_amount, debit_amount, quantum
from xmargin.ledger._money import parse_decimal, to_text


@pytest.mark.parametrize(
    ("asset", "places"), [("BTC", 8), ("ETH", 8), ("USDC", 6), ("USDT", 6), ("USD", 2), ("DOGE", 8)]
)
def test_precision_per_asset(asset: str, places: int) -> None:
    assert quantum(asset) == Decimal(1).scaleb(-places)


def test_credits_round_down_debits_round_up() -> None:
    assert credit_amount("BTC", Decimal("1.123456789")) == Decimal("1.12345678")
    assert debit_amount("BTC", Decimal("1.123456781")) == Decimal("1.12345679")
    assert credit_amount("USDC", Decimal("0.0000019")) == Decimal("0.000001")
    assert debit_amount("USDC", Decimal("0.0000001")) == Decimal("0.000001")
    assert debit_amount("USD", Decimal("10.001")) == Decimal("10.01")
    assert credit_amount("USD", Decimal("10.009")) == Decimal("10.00")


def test_signed_account_delta_rounds_toward_minus_infinity() -> None:
    assert account_delta("USDC", Decimal("2.5000009")) == Decimal("2.500000")  # profit: less
    assert account_delta("USDC", Decimal("-2.5000001")) == Decimal("-2.500001")  # loss: more
    assert account_delta("BTC", Decimal("-0.000000001")) == Decimal("-0.00000001")


@given(
    st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=14, allow_nan=False),
    st.sampled_from(["BTC", "USDC", "USD", "ETH"]),
)
def test_rounding_never_favours_the_account(x: Decimal, asset: str) -> None:
    d = account_delta(asset, x)
    assert d <= x < d + quantum(asset)
    if x >= 0:
        c, b = credit_amount(asset, x), debit_amount(asset, x)
        assert c <= x <= b
        assert b - c <= quantum(asset)


@pytest.mark.parametrize("text", ["abc", "NaN", "inf", "-Infinity", "", " ", "1,5", "0x10", "1e999", "sNaN"])
def test_bad_numbers_are_input_errors(text: str) -> None:
    with pytest.raises(InputError):
        parse_decimal(text, where="AMOUNT")


def test_parse_keeps_exact_decimals_and_limits() -> None:
    assert parse_decimal("0.1", where="x") + parse_decimal("0.2", where="x") == Decimal("0.3")
    with pytest.raises(InputError, match="a number > 0"):
        parse_decimal("0", where="AMOUNT", positive=True)
    with pytest.raises(InputError, match="decimal places"):
        parse_decimal("1.123456789", where="SIZE", max_places=8)
    assert to_text(Decimal("1E-8")) == "0.00000001"
