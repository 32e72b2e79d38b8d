"""``core.parse_each``: every bad input of a list reported in one pass, in order, flattened."""

from __future__ import annotations

import pytest

from xmargin.core import InputError, InputErrors, parse_each


def _positive(text: str) -> float:
    if text == "pair":
        raise InputErrors(
            [
                InputError(where="pair.a", expected="x", found="1"),
                InputError(where="pair.b", expected="y", found="2"),
            ]
        )
    x = float(text)
    if x <= 0:
        raise InputError(where=text, expected="a number > 0", found=x)
    return x


def test_values_in_order_when_all_are_good() -> None:
    assert parse_each(_positive, ["3", "1", "2"]) == [3.0, 1.0, 2.0]
    assert parse_each(_positive, []) == []


def test_every_problem_is_raised_together_one_line_each() -> None:
    with pytest.raises(InputErrors) as info:
        parse_each(_positive, ["1", "-1", "pair", "0", "2"])
    assert [e.where for e in info.value.errors] == ["-1", "pair.a", "pair.b", "0"]
    assert str(info.value).count("\n") == 3


def test_other_exceptions_are_not_swallowed() -> None:
    with pytest.raises(ValueError, match="could not convert"):
        parse_each(_positive, ["1", "abc"])
