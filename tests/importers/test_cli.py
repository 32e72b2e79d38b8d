"""``xmargin import`` as a user runs it: stdout holds the portfolio only, warnings go to stderr, ``--out``
writes YAML or JSON atomically and refuses what it must, bad input exits 2 with nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.importers.conftest import FIXTURES
from tests.importers.formats import check_portfolio
from xmargin.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
MARKET = str(ROOT / "examples" / "market.yaml")
DERIBIT = [str(FIXTURES / "deribit_positions.json"), str(FIXTURES / "deribit_account_summaries.json")]
BINANCE = [str(FIXTURES / "binance_position_risk_v2.json"), str(FIXTURES / "binance_account_v2.json")]


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["import", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_stdout_is_the_portfolio_and_warnings_go_to_stderr() -> None:
    code, out, err = run("deribit", *DERIBIT)
    assert code == 0, err
    doc = json.loads(out)
    check_portfolio(doc)
    assert doc["account"] == "deribit" and "BTC-PERPETUAL" in doc["positions"]
    assert err and all(line.startswith("warning: ") for line in err.splitlines())


def test_out_writes_yaml_or_json_that_reads_back(tmp_path: Path) -> None:
    _, printed, _ = run("binance", *BINANCE, "--account", "bob")
    for name, reader in (
        ("book.yaml", yaml.safe_load),
        ("book.yml", yaml.safe_load),
        ("book.json", json.loads),
    ):
        target = tmp_path / name
        code, out, err = run("binance", *BINANCE, "--account", "bob", "--out", str(target))
        assert code == 0, err
        assert out == ""
        assert f"wrote {target}: 5 positions, 1 collateral assets" in err
        assert reader(target.read_text()) == json.loads(printed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.json", "book.yaml", "book.yml"]


def test_an_existing_target_needs_force(tmp_path: Path) -> None:
    target = tmp_path / "p.yaml"
    target.write_text("keep: me\n")
    target.chmod(0o640)
    code, _, err = run("binance", *BINANCE, "--out", str(target))
    assert code == 2
    assert err == f"error: --out: expected a new file (--force replaces it), found {target} exists\n"
    assert target.read_text() == "keep: me\n"
    code, _, err = run("binance", *BINANCE, "--out", str(target), "--force")
    assert code == 0, err
    assert "positions" in yaml.safe_load(target.read_text())
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["p.yaml"]


def test_non_regular_targets_are_always_refused(tmp_path: Path) -> None:
    folder = tmp_path / "d.json"
    folder.mkdir()
    link = tmp_path / "l.json"
    link.symlink_to(tmp_path / "elsewhere.json")
    pipe = tmp_path / "p.yaml"
    os.mkfifo(pipe)
    for target, kind in ((folder, "a directory"), (link, "a symbolic link"), (pipe, "a named pipe")):
        code, _, err = run("binance", *BINANCE, "--out", str(target), "--force")
        assert (code, err) == (
            2,
            f"error: --out: expected a regular file to write, found {target} is {kind}\n",
        )
    code, _, err = run("binance", *BINANCE, "--out", str(tmp_path / "p.txt"))
    assert (code, err) == (
        2,
        f"error: --out: expected a file name ending in .yaml, .yml or .json, found '{tmp_path / 'p.txt'}'\n",
    )
    code, _, err = run("binance", *BINANCE, "--out", str(tmp_path / "no" / "p.json"))
    assert code == 2 and "a path in an existing directory" in err


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "p.yaml"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"symbol": "BTCUSD_PERP", "positionAmt": "1"}]')
    html = tmp_path / "page.json"
    html.write_text("<html><body>403 Forbidden</body></html>")
    code, out, err = run("binance", str(bad), str(html), str(tmp_path / "none.json"), "--out", str(target))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"error: {html}: expected a JSON API response (as saved from the venue), found an HTML or XML page "
        "('<html><body>403 Forbidden</body></html>')",
        f"error: {tmp_path / 'none.json'}: expected an existing file, found no such file",
    ]
    code, out, err = run("binance", str(bad), "--out", str(target))
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"error: {bad}: [0].symbol: expected a USDⓈ-M symbol")
    assert sorted(tmp_path.iterdir()) == sorted([bad, html])


def test_a_failed_rename_leaves_the_target_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "p.json"
    target.write_text("{}\n")

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    code, _, err = run("binance", *BINANCE, "--out", str(target), "--force")
    assert code == 1 and "disk full" in err
    assert target.read_text() == "{}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_standard_input_and_venue_names() -> None:
    raw = (FIXTURES / "ccxt_positions.json").read_bytes()
    code, out, err = run("CCXT", "-", stdin=raw)
    assert code == 0, err
    assert "BTC-PERPETUAL" in json.loads(out)["positions"]
    assert run("ccxt", "-", "-", stdin=raw)[0] == 2
    code, _, err = run("kraken", *BINANCE)
    assert (code, err) == (2, "error: VENUE: expected one of deribit, binance, okx, ccxt, found 'kraken'\n")


def test_a_foreign_file_is_named(tmp_path: Path) -> None:
    code, _, err = run("deribit", BINANCE[0])
    assert code == 2
    assert err == (
        f"error: {BINANCE[0]}: expected a Deribit private/get_positions or private/get_account_summary(ies) "
        "response (the JSON-RPC response or its bare result), found a Binance positionRisk list\n"
    )


def test_imported_deribit_book_margins_with_deribit_equity(tmp_path: Path) -> None:
    """The import's equity under the engine is Deribit's own split: collateral at index plus the options'
    mark value (futures enter at mark, their unsettled P&L already in collateral)."""
    target = tmp_path / "deribit.json"
    assert run("deribit", *DERIBIT, "--out", str(target))[0] == 0
    doc = json.loads(target.read_text())
    margin = runner.invoke(app, ["margin", str(target), "--market", MARKET, "--json"])
    assert margin.exit_code == 0, margin.stderr
    price = runner.invoke(app, ["price", "BTC-27DEC26-100000-C", "--market", MARKET, "--json"])
    option_btc = json.loads(price.stdout)["instruments"]["BTC-27DEC26-100000-C"]["price"]
    index = {"BTC": 95000.0, "USDC": 1.0}  # examples/market.yaml
    # the inverse option is worth its coin price per BTC of size, in BTC (at the BTC index)
    expected = sum(amount * index[asset] for asset, amount in doc["collateral"].items())
    expected += 2.0 * option_btc * index["BTC"]
    assert json.loads(margin.stdout)["equity"] == pytest.approx(expected, rel=1e-9)


def test_the_installed_command_runs_as_a_process(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    ok = subprocess.run(
        [sys.executable, "-m", "xmargin", "import", "okx", *(str(FIXTURES / f"okx_{n}.json") for n in ("positions", "balance", "instruments"))],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    check_portfolio(json.loads(ok.stdout))
    bad = subprocess.run(
        [sys.executable, "-m", "xmargin", "import", "okx", str(FIXTURES / "okx_positions.json")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 5 and all(line.startswith("error: ") for line in bad.stderr.splitlines())
