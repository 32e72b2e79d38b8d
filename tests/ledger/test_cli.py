"""``xmargin ledger ...`` as a user runs it: FORMATS.md contract, exit 3 on refusal, idempotent --key,
and 1,000 fuzzed bad commands (exit 2, one error line, no traceback, nothing written)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import typer.main
import typer.testing
import yaml
from typer.testing import CliRunner

from tests.ledger.conftest import MARKET_FILE
from xmargin.cli._ledger import ledger_app
from xmargin.instruments import portfolio_from_mapping
from xmargin.ledger import Ledger

runner = CliRunner()
MARKET = str(MARKET_FILE)
PERP = "BTC_USDC-PERPETUAL"


def run(args: list[str], code: int = 0) -> Any:
    result = runner.invoke(ledger_app, args)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.output
    return result


def run_json(args: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run([*args, "--json"]).stdout)
    return doc


def count(url: str) -> int:
    with Ledger(url, migrate=False) as ledger:
        return ledger.store.count_events()


def test_deposit_trade_show_round_trip(db_url: str) -> None:
    db = ["--db", db_url]
    run(["deposit", "alice", "USDC", "100000", *db])
    run(["deposit", "alice", "BTC", "0.5", *db])
    r = run_json(["trade", "alice", PERP, "-1", "95000", "--market", MARKET, "--fee", "4.75", *db])
    assert r["kind"] == "trade" and r["seq"] == 3 and r["margin_after"]["available"] >= 0
    run(["trade", "alice", "BTC-27DEC26-100000-C", "2", "0.05", "--market", MARKET, *db])
    doc = run_json(["show", "alice", *db])
    assert doc == {
        "account": "alice",
        "collateral": {"USDC": 99995.25, "BTC": 0.4},
        "positions": {PERP: {"size": -1.0, "avg_price": 95000.0}, "BTC-27DEC26-100000-C": 2.0},
    }
    pf = portfolio_from_mapping(doc)  # a portfolio file, as FORMATS.md says
    assert pf.account == "alice" and len(pf.positions) == 2
    with_margin = run_json(["show", "alice", "--market", MARKET, *db])
    for k in ("equity", "margin_balance", "initial_margin", "maintenance_margin", "available"):
        assert isinstance(with_margin[k], float)
    assert with_margin["available"] == pytest.approx(
        with_margin["margin_balance"] - with_margin["initial_margin"]
    )
    assert run_json(["replay", "alice", *db]) == doc
    assert run_json(["replay", "alice", "--upto", "1", *db])["collateral"] == {"USDC": 100000.0}
    run(["funding", "alice", PERP, "0.0001", "95000", *db])  # short receives 9.5 USDC
    run(["settle", "alice", "BTC-27DEC26-100000-C", "110000", *db])
    after = run_json(["show", "alice", *db])
    assert after["collateral"]["USDC"] == pytest.approx(99995.25 + 9.5)
    assert after["collateral"]["BTC"] == pytest.approx(0.4 + 2 * 10000 / 110000, abs=1e-8)
    assert "BTC-27DEC26-100000-C" not in after["positions"]
    human = run(["show", "alice", *db, "--market", MARKET]).stdout
    assert "available" in human and PERP in human


def test_refused_trade_exits_3_and_writes_nothing(db_url: str) -> None:
    db = ["--db", db_url]
    run(["deposit", "bob", "USDC", "10000", *db])
    before = count(db_url)
    r = run(["trade", "bob", PERP, "-5", "95000", "--market", MARKET, "--key", "big", *db], code=3)
    assert "refused" in r.stderr and "model pm" in r.stderr and "initial margin after" in r.stderr
    assert "margin balance after" in r.stderr and r.stdout == ""
    assert count(db_url) == before
    r = run(["withdraw", "bob", "USDC", "20000", "--market", MARKET, *db], code=3)
    assert "refused" in r.stderr
    assert count(db_url) == before


def test_reduce_only_allowed_via_cli(tmp_path: Path, sqlite_url: str) -> None:
    db = ["--db", sqlite_url]
    run(["deposit", "carol", "USDC", "20000", *db])
    run(["trade", "carol", PERP, "-1", "95000", "--market", MARKET, *db])
    doc = yaml.safe_load(MARKET_FILE.read_text())
    doc["index"]["BTC"] = 107000.0
    doc["marks"] = {k: v * 107000 / 95000 for k, v in doc["marks"].items() if k.startswith("BTC")}
    crash = tmp_path / "crash.yaml"
    crash.write_text(yaml.safe_dump(doc))
    run(["trade", "carol", PERP, "-0.1", "107000", "--market", str(crash), *db], code=3)
    run(["trade", "carol", PERP, "0.5", "107000", "--market", str(crash), *db])
    assert run_json(["show", "carol", *db])["positions"][PERP]["size"] == -0.5


def test_same_key_applied_once(db_url: str) -> None:
    db = ["--db", db_url]
    first = run_json(["deposit", "dan", "BTC", "1.000000009", "--key", "dep-7", *db])
    again = run_json(["deposit", "dan", "BTC", "1.000000009", "--key", "dep-7", *db])
    assert not first["replayed"] and again["replayed"]
    assert again["seq"] == first["seq"] and again["portfolio"] == first["portfolio"]
    assert first["event"]["amount"] == "1.00000000"  # credited, rounded down
    assert count(db_url) == 1
    r = run(["deposit", "dan", "BTC", "2", "--key", "dep-7", *db], code=2)
    assert r.stderr.startswith("error: --key: expected")


def test_the_insurance_fund_is_seeded_and_shown_but_cannot_withdraw_or_trade(db_url: str) -> None:
    run(["deposit", "~insurance", "USDC", "250000", "--db", db_url, "--key", "seed-1"])
    assert run_json(["show", "~insurance", "--db", db_url])["collateral"] == {"USDC": 250000.0}
    assert run_json(["replay", "~insurance", "--db", db_url])["collateral"] == {"USDC": 250000.0}
    out = run(["withdraw", "~insurance", "USDC", "1", "--db", db_url], code=2)
    assert out.stderr.startswith("error: ACCOUNT")
    run(["trade", "~insurance", PERP, "1", "95000", "--db", db_url, "--market", MARKET], code=2)
    assert count(db_url) == 1


def test_a_non_string_account_is_bad_input_even_where_venue_accounts_are_allowed() -> None:
    from xmargin.core import InputError
    from xmargin.ledger._ledger import check_account

    with pytest.raises(InputError, match="ACCOUNT"):
        check_account(["x"], reserved_ok=True)


def test_default_db_is_a_file_in_a_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XMARGIN_LEDGER_DB", raising=False)
    run(["deposit", "eve", "ETH", "3"])
    assert (tmp_path / "xmargin-data" / "ledger.db").is_file()
    plain = tmp_path / "plain.db"
    run(["deposit", "eve", "ETH", "3", "--db", str(plain)])
    assert plain.is_file()


def test_unreachable_database_is_a_fault_not_a_traceback() -> None:
    r = run(["deposit", "a", "BTC", "1", "--db", "postgresql+psycopg://nobody:secret@127.0.0.1:1/x"], code=1)
    assert r.stderr.startswith("error: cannot open the ledger database") and "secret" not in r.stderr


# -- fuzzing --------------------------------------------------------------------------------------------
BAD_ACCOUNTS = ["", " ", "a b", "ü", "x" * 65, "-", "_a", "a/b", "a\nb", "a;drop"]
BAD_ASSETS = ["", "btc", "BTC-PERPETUAL", "1BTC", "B TC", "BTC_USDC", "€", "x" * 20]
BAD_AMOUNTS = [
    "",
    "abc",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "-0",
    "1e999",
    "1e16",
    "0x10",
    "1,5",
    "1_000x",
]
BAD_AMOUNTS += ["0.0000000000000000001", "--", "1..2", "Infinity", "sNaN", "1e-999"]
BAD_INSTRUMENTS = [
    "",
    "BTC",
    "USDC",
    "BTC-PERP",
    "btc-perpetual",
    "BTC-32DEC26",
    "BTC-27DEC26-0-C",
    "BTC-27XXX26",
]
BAD_INSTRUMENTS += ["BTC-27DEC26-100000-X", "BTC-27DEC26-1-2-3-C", "BTC_USDC_X-PERPETUAL"]
BAD_SIZES = ["0", "", "abc", "1.123456789", "1e10", "nan", "inf", "0x1", "1,0"]
BAD_PRICES = ["0", "-1", "", "abc", "1.123456789", "1e13", "nan", "inf"]
BAD_KEYS = ["", " ", "a b", "k" * 129, "-k", "ü", "a\tb"]
BAD_FEES = ["", "abc", "NaN", "inf", "-1", "-0.5", "1e999", "1e16", "0x10", "1,5"]
BAD_RATES = ["abc", "2", "-1.5", "nan", "1e-13", ""]
BAD_DBS = ["foo://bar", "/nonexistent/dir/x.db", "", "mysql://u@h/db"]


def _fuzz_case(rng: random.Random, db: str) -> list[str]:
    """One command with exactly one bad part (and otherwise valid arguments)."""
    cmd = rng.choice(["deposit", "withdraw", "trade", "funding", "settle", "show", "replay"])
    fields: dict[str, str] = {"account": "fz", "db": db}
    bad: dict[str, list[str]] = {"account": BAD_ACCOUNTS, "key": BAD_KEYS, "db": BAD_DBS}
    if cmd in ("deposit", "withdraw"):
        fields |= {"asset": "BTC", "amount": "1"}
        bad |= {"asset": BAD_ASSETS, "amount": BAD_AMOUNTS + (["0.000000001"] if cmd == "deposit" else [])}
    elif cmd == "trade":
        fields |= {"instrument": PERP, "size": "1", "price": "95000", "fee": "0"}
        bad |= {"instrument": BAD_INSTRUMENTS, "size": BAD_SIZES, "price": BAD_PRICES, "fee": BAD_FEES}
        bad |= {"market": ["/nonexistent.yaml", str(MARKET_FILE.parent), "NOMARKET"]}
    elif cmd == "funding":
        fields |= {"instrument": PERP, "rate": "0.0001", "mark": "95000"}
        bad |= {"instrument": [*BAD_INSTRUMENTS, "BTC-27DEC26"], "rate": BAD_RATES, "mark": BAD_PRICES}
    elif cmd == "settle":
        fields |= {"instrument": "BTC-27DEC26", "price": "95000"}
        bad |= {"instrument": [*BAD_INSTRUMENTS, PERP], "price": BAD_PRICES}
    else:
        bad |= {"upto": ["0", "abc", "1.5"], "model": ["xx", "p m", ""], "account": [*BAD_ACCOUNTS, "nobody"]}
        bad.pop("key")
    part = rng.choice(sorted(bad))
    fields[part] = rng.choice(bad[part])
    args = [cmd, fields["account"]]
    for name in ("asset", "amount", "instrument", "size", "price", "rate", "mark"):
        if name in fields:
            args.append(fields[name])
    args += ["--db", fields["db"]]
    if "key" in fields:
        args += ["--key", fields["key"]]
    if cmd == "trade":
        if fields.get("market") != "NOMARKET":
            args += ["--market", fields.get("market", MARKET)]
        args += ["--fee", fields["fee"]]
    for opt in ("upto", "model"):
        if opt in fields:
            args += [f"--{opt}", fields[opt]]
    if rng.random() < 0.05:
        args.append("--no-such-flag")
    return args


def test_fuzzed_bad_commands_exit_2_and_write_nothing(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(["deposit", "fz", "BTC", "1", "--db", sqlite_url])
    # typer rebuilds the click command on every invoke (most of the time of a bad command): build it once
    command = typer.main.get_command(ledger_app)
    monkeypatch.setattr(typer.testing, "_get_command", lambda app: command)
    rng = random.Random(20261125)
    for i in range(1000):
        args = _fuzz_case(rng, sqlite_url)
        result = runner.invoke(ledger_app, args)
        assert result.exit_code == 2, (i, args, result.output)
        assert "Traceback" not in result.output, args
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        err = result.stderr.strip()
        assert err.startswith(("error:", "Usage:")), (args, err)
        if err.startswith("error:"):
            assert all(line.startswith("error: ") for line in err.splitlines()), (args, err)
    assert count(sqlite_url) == 1
