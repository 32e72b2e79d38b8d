"""Every bad input in a market file gives one clear line and exit 2 from the CLI, with no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xmargin.cli import app

GOOD: dict[str, Any] = {
    "valuation_time": "2026-11-25T08:00:00Z",
    "index": {"BTC": 95000.0, "ETH": 3500.0, "USDC": 1.0},
    "marks": {"BTC-27DEC26": 96000.0},
    "vol": {"BTC": 0.55, "ETH": 0.65},
    "option_iv": {"BTC-27DEC26-100000-C": 0.58},
}

runner = CliRunner()


def _run(tmp_path: Path, doc: Any, suffix: str = ".json") -> tuple[int, str, str]:
    path = tmp_path / f"market{suffix}"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    result = runner.invoke(app, ["price", "BTC-27DEC26-100000-C", "--market", str(path)])
    return result.exit_code, result.stdout, result.stderr


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


CASES = {
    "missing field": (_without("index"), "index", "required"),
    "missing valuation_time": (_without("valuation_time"), "valuation_time", "required"),
    "wrong type (string vol)": (GOOD | {"vol": {"BTC": "high", "ETH": 0.6}}, "vol.BTC", "a number"),
    "wrong type (index list)": (GOOD | {"index": [95000]}, "index", "mapping"),
    "negative vol": (GOOD | {"vol": {"BTC": -0.5, "ETH": 0.6}}, "vol.BTC", "> 0"),
    "zero vol": (GOOD | {"vol": {"BTC": 0.0, "ETH": 0.6}}, "vol.BTC", "> 0"),
    "zero option iv": (GOOD | {"option_iv": {"BTC-27DEC26-100000-C": 0}}, "option_iv", "> 0"),
    "unknown asset in vol": (GOOD | {"vol": {"BTC": 0.5, "DOGE": 0.9}}, "vol.DOGE", "unknown asset DOGE"),
    "unknown asset in marks": (
        GOOD | {"marks": {"SOL-27DEC26": 200.0}},
        "marks.SOL-27DEC26",
        "unknown asset",
    ),
    "unknown key": (GOOD | {"volatility": 1}, "volatility", "unknown key"),
    "zero price": (GOOD | {"index": {"BTC": 0.0, "ETH": 3500.0, "USDC": 1.0}}, "index.BTC", "> 0"),
    "negative mark": (GOOD | {"marks": {"BTC-27DEC26": -1.0}}, "marks.BTC-27DEC26", "> 0"),
    "naive timestamp": (GOOD | {"valuation_time": "2026-11-25T08:00:00"}, "valuation_time", "time zone"),
    "not a timestamp": (GOOD | {"valuation_time": "tomorrow"}, "valuation_time", "ISO-8601"),
    "bad instrument in option_iv": (GOOD | {"option_iv": {"BTC-31FEB26-1-C": 0.5}}, "option_iv", "calendar"),
    "bool as a number": (GOOD | {"rate": True}, "rate", "number"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_market_file(tmp_path: Path, case: str) -> None:
    doc, where, expected = CASES[case]
    code, out, err = _run(tmp_path, doc)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (out, err)
    assert out == ""
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert where in lines[0] and expected in lines[0], lines[0]
    assert "Traceback" not in err


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    code, _, err = _run(tmp_path, "index: [unclosed\n", suffix=".yaml")
    assert code == 2
    assert err.startswith("error: ") and "market.yaml:" in err


def test_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["price", "BTC-PERPETUAL", "--market", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_several_problems_one_line_each(tmp_path: Path) -> None:
    doc = GOOD | {"vol": {"BTC": -1.0, "ETH": "x"}, "extra": 1}
    code, _, err = _run(tmp_path, doc)
    lines = err.strip().splitlines()
    assert code == 2
    assert len(lines) == 3 and all(ln.startswith("error: ") for ln in lines)


def test_good_file_prices(tmp_path: Path) -> None:
    code, _, err = _run(tmp_path, GOOD)
    assert code == 0, err


def test_console_script_has_no_traceback(tmp_path: Path) -> None:
    """The installed entry point, as a user runs it (a real process)."""
    path = tmp_path / "m.json"
    path.write_text(json.dumps(GOOD | {"vol": {"BTC": -0.5}}))
    proc = subprocess.run(
        [sys.executable, "-m", "xmargin", "price", "BTC-27DEC26-100000-C", "--market", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "found"),
    [
        (["margin"], "Missing argument"),
        (["price", "BTC-PERPETUAL", "--market", "m.yaml", "--bogus"], "No such option"),
        (
            ["book", "generate", "--accounts", "many", "--market", "m.yaml", "--out", "b.parquet"],
            "--accounts",
        ),
    ],
)
def test_usage_errors_are_one_line(args: list[str], found: str) -> None:
    """Flags the parser rejects follow the same one-line shape and exit 2 (the installed entry point)."""
    proc = subprocess.run(
        [sys.executable, "-m", "xmargin", *args], capture_output=True, text=True, timeout=120
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and found in lines[0]
