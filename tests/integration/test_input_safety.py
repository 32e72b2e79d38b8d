"""Bad input everywhere is one ``error:`` line and exit 2, fast, and nothing is written (issue 12 #7, #11-#13).

Each case is one the issue found: it failed (exit 1, a traceback, a hang or a silent write) before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xmargin.cli import app

ROOT = Path(__file__).resolve().parents[2]
MARKET = str(ROOT / "examples" / "market.yaml")
PORTFOLIO = str(ROOT / "examples" / "portfolio.yaml")
runner = CliRunner()
BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=False)
)


def bad(args: list[str], needle: str, *, stdin: str | None = None) -> None:
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("error: ") for ln in lines), result.stderr
    assert needle in result.stderr, result.stderr


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- documents: size, depth, aliases, numbers, dates -----------------------------------------------------
def test_an_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    """Before: a 364-byte file of nested aliases hung the CLI past 60 s at 5.6-8 GB."""
    path = write(tmp_path, "bomb.yaml", f"account: x\ncollateral: {{}}\n{BOMB}")
    start = time.perf_counter()
    bad(["margin", path, "--market", MARKET], "aliases")
    assert time.perf_counter() - start < 5.0


def test_a_huge_document_is_refused_fast(tmp_path: Path) -> None:
    """Before: a 5 MB portfolio took 69 s to be refused."""
    big = "positions:\n" + "".join(f"  BTC-PERPETUAL-{i}: 1\n" for i in range(250_000))
    path = write(tmp_path, "big.yaml", big)
    assert os.path.getsize(path) > 4 * 1024 * 1024
    start = time.perf_counter()
    bad(["margin", path, "--market", MARKET], "at most 4,194,304 bytes")
    assert time.perf_counter() - start < 5.0


def test_a_device_is_not_read_forever() -> None:
    """Before: ``/dev/zero`` was read without limit."""
    bad(["margin", "/dev/zero", "--market", MARKET], "a regular file")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[" * 200 + "]" * 200, "nesting"),
        ("positions:\n  BTC-PERPETUAL: " + "9" * 5000 + "\n", "4,300 digits"),
        ("positions:\n  BTC-PERPETUAL: 1\n  BTC-PERPETUAL: 2\n", "twice"),
        ("positions:\n  BTC-PERPETUAL: 1e300\n", "[-1e+09, 1e+09]"),  # before: exit 0 with null margins
        ("positions:\n  BTC-PERPETUAL: 1e308\n", "[-1e+09, 1e+09]"),
    ],
)
def test_documents_that_broke_the_cli(tmp_path: Path, text: str, needle: str) -> None:
    bad(["margin", write(tmp_path, "p.yaml", text), "--market", MARKET], needle)


def test_yaml_1e12_is_a_number(tmp_path: Path) -> None:
    """Before: YAML 1.1 read ``1e12`` as the string '1e12'."""
    path = write(tmp_path, "p.yaml", "collateral:\n  USDC: 1e12\n")
    result = runner.invoke(app, ["margin", path, "--market", MARKET, "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["equity"] == pytest.approx(1e12)


def test_an_impossible_valuation_time_is_bad_input(tmp_path: Path) -> None:
    text = Path(MARKET).read_text().replace("2026-11-25T08:00:00Z", "2026-13-45T08:00:00Z")
    bad(["price", "BTC-PERPETUAL", "--market", write(tmp_path, "m.yaml", text)], "valuation_time")


def test_standard_input(tmp_path: Path) -> None:
    """``-`` reads the portfolio (or the market) from standard input."""
    text = Path(PORTFOLIO).read_text()
    result = runner.invoke(app, ["margin", "-", "--market", MARKET, "--json"], input=text)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["account"] == "alice"
    bad(["margin", "-", "--market", "-"], "--market")


# -- output files ----------------------------------------------------------------------------------------
def test_out_refuses_an_existing_file_and_devices(tmp_path: Path) -> None:
    """Before: ``--out`` overwrote any path, /dev/null included when run as root."""
    existing = tmp_path / "book.parquet"
    existing.write_bytes(b"keep me")
    base = ["book", "generate", "--accounts", "5", "--market", MARKET]
    bad([*base, "--out", str(existing)], "--force replaces it")
    assert existing.read_bytes() == b"keep me"
    bad([*base, "--out", "/dev/null"], "a device")
    bad([*base, "--out", str(tmp_path)], "a directory")
    bad([*base, "--out", str(tmp_path / "no" / "b.parquet")], "existing directory")
    result = runner.invoke(app, [*base, "--out", str(existing), "--force"])
    assert result.exit_code == 0, result.stderr
    assert existing.read_bytes()[:4] == b"PAR1"
    assert [p.name for p in tmp_path.iterdir()] == ["book.parquet"]  # no temporary file left behind


# -- book generate on a plain market file --------------------------------------------------------------
@pytest.mark.parametrize("accounts", [1, 3, 10, 100])
def test_book_generate_on_a_plain_market_file(tmp_path: Path, accounts: int) -> None:
    """Before: 'internal fault: ValueError: a cannot be empty' (exit 1) on a market without a chain."""
    out = tmp_path / "b.parquet"
    result = runner.invoke(
        app, ["book", "generate", "--accounts", str(accounts), "--market", MARKET, "--out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    margin = runner.invoke(
        app, ["book", "margin", str(out), "--market", MARKET, "--out", str(tmp_path / "r.parquet"), "--json"]
    )
    assert margin.exit_code == 0, margin.stderr
    assert json.loads(margin.stdout)["accounts"] == accounts


def test_negative_seed_is_bad_input(tmp_path: Path) -> None:
    bad(
        [
            "book",
            "generate",
            "--accounts",
            "5",
            "--seed",
            "-1",
            "--market",
            MARKET,
            "--out",
            str(tmp_path / "b"),
        ],
        "--seed",
    )


# -- the process ----------------------------------------------------------------------------------------
def test_a_closed_pipe_is_not_a_fault() -> None:
    """Before: ``xmargin ... | head -1`` ended in BrokenPipeError and exit 1."""
    cmd = f"{sys.executable} -m xmargin margin {PORTFOLIO} --market {MARKET} | head -1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_version_and_short_help() -> None:
    from xmargin import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"xmargin {__version__}"
    result = runner.invoke(app, ["margin", "-h"])
    assert result.exit_code == 0 and "--market" in result.stdout


def test_tables_do_not_truncate_numbers_when_piped() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "xmargin", "margin", PORTFOLIO, "--market", MARKET],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    assert "165,786.97" in proc.stdout  # the equity, whole


@pytest.mark.parametrize(
    "args",
    [
        ["book"],
        ["ledger", "deposit", "a"],
        ["ledger", "trade", "a", "BTC-PERPETUAL", "1", "1", "--bogus"],
        ["book", "margin", "b.parquet", "--market"],
        ["replay", "--accounts", "abc"],
        ["import"],
        ["schema", "margin", "extra"],
        ["models", "--json", "x"],
        ["bench", "book", "--accounts", "x"],
        ["demo", "--replay-accounts", "many"],
        ["margin", "p.yaml", "--market", "m.yaml", "--model"],
        ["compare", "-z"],
    ],
)
def test_usage_errors_across_commands_are_one_line(args: list[str]) -> None:
    """Issue 12 #13: usage errors printed a usage box instead of the ``error:`` line (exit 2 either way)."""
    proc = subprocess.run(
        [sys.executable, "-m", "xmargin", *args], capture_output=True, text=True, timeout=120
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr and "╭" not in proc.stderr + proc.stdout
