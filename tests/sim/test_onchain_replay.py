"""``xmargin replay --venue dex --onchain`` (``xmargin.onchain``): the Python DEX replay's book and window
through the vault and auction contracts.

The reference is the Python DEX replay (``sim.dex``) on the same book, path, model (``cross``) and seed: the
accounts the contracts liquidate must be exactly the ones it liquidates, and the bad debt must agree within
the tolerance explained in docs/chain.md ("The DEX replay on the contract"). The window is the crash day of
2020-03-12 (36 hours from 2020-03-12 00:00 UTC, rebased to start at the snapshot's prices) to keep the run
to a few thousand blocks; the 200-account comparison on the whole window is in docs/chain.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from typer.testing import CliRunner

from xmargin.cli import app
from xmargin.liquidation import DutchAuction, LinearDecrease
from xmargin.sim import PricePath, ReplayConfig, Venue, load_path
from xmargin.sim.dex import replay_dex
from xmargin.sim.dex._keepers import take_size as sim_take_size

runner = CliRunner()


def crash_day(hours_from: float = 72.0, hours: float = 36.0) -> PricePath:
    """2020-03-12's window cut to ``hours`` from ``hours_from`` after its start, factors rebased to 1."""
    p = load_path("2020-03-12")
    t0 = p.ts_s[0] + hours_from * 3600.0
    idx = np.flatnonzero((p.ts_s >= t0) & (p.ts_s < t0 + hours * 3600.0))
    a, b = int(idx[0]), int(idx[-1]) + 1
    return dataclasses.replace(p, ts_s=p.ts_s[a:b], factors={u: f[a:b] / f[a] for u, f in p.factors.items()})


@pytest.mark.slow
def test_onchain_liquidates_the_python_replays_accounts_and_bounds_its_bad_debt() -> None:
    pytest.importorskip("boa")
    from xmargin.onchain import replay_onchain

    path, cfg, n = crash_day(), ReplayConfig(model="cross"), 30
    v = Venue(path, n, 0, cfg)
    py = replay_dex(v)
    w = Venue(path, n, 0, cfg)
    chain = replay_onchain(w)
    assert len(v.liquidated) >= 3  # the instance liquidates: the equality below is not vacuous
    assert set(chain.onchain["accounts_liquidated_list"]) == v.liquidated
    assert chain.accounts_liquidated == py.accounts_liquidated
    # Bad debt is NOT within 1% of the Python figure (docs/chain.md has the account-by-account reason): the
    # vault takes a kicked account's positions over at the oracle and sells only its collateral; the Python
    # replay sells the positions' delta in the market (dust close-outs below the lagging oracle, auctions
    # while the price keeps falling), and that market loss is its bad debt. So the vault's bad debt is part
    # of the Python one, on a subset of its bankrupt accounts (on this instance none, against 1,601.08 +
    # 105.70 USD on acct-0000003 and acct-0000020).
    assert set(w.debt_of) <= set(v.debt_of)
    assert chain.bad_debt_usd <= py.bad_debt_usd
    for acc, usd in w.debt_of.items():
        assert usd <= v.debt_of[acc] + 1e-9
    assert chain.bad_debt_usd == pytest.approx(
        chain.insurance_fund_used_usd + chain.socialized_loss_usd, abs=1e-9
    )
    gas = chain.onchain
    kinds = {op["operation"] for op in gas["operations"]}
    assert {"oracle round (feed)", "oracle poke (vault)", "kick"} <= kinds
    assert gas["gas_total"] == sum(op["gas"] for op in gas["operations"])
    assert gas["gas_total"] == gas["gas_keepers"] + gas["gas_oracle"]
    oracle_rounds = next(op for op in gas["operations"] if op["operation"] == "oracle round (feed)")
    # one round per push-oracle update of the index feeds, plus the derived feeds published on demand
    assert oracle_rounds["count"] >= sum(chain.venue_detail["oracle_updates"].values())
    assert gas["kicks"] == chain.liquidations


def test_take_size_is_the_python_keepers_rule() -> None:
    from xmargin.onchain import take_size

    for lot, tab, capital, price in (
        (10.0, 50_000.0, 1e6, 4_000.0),  # the lot covers more than the tab
        (10.0, 50_000.0, 20_000.0, 4_000.0),  # capital-bound, leaves more than chost
        (10.0, 30_000.0, 25_000.0, 4_000.0),  # capital-bound, would leave less than chost
        (2.0, 9_000.0, 5_000.0, 4_000.0),  # tab barely above chost
    ):
        a = DutchAuction(
            buf=1.2, tail=5400, cusp=0.4, chip=0.001, tip=300, chost=8_475.0, curve=LinearDecrease(3600)
        )
        a.kick(tab, lot, price / 1.2, 0.0)
        assert take_size(lot, tab, 8_475.0, price, capital) == pytest.approx(
            sim_take_size(a, price, capital), rel=1e-15
        )


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--venue", "cex", "--onchain"], "--onchain"),
        (["--venue", "both", "--onchain"], "--onchain"),
        (["--venue", "dex", "--onchain", "--model", "pm"], "--model"),
        (["--venue", "dex", "--onchain", "--seeds", "2"], "--onchain"),
        (["--venue", "dex", "--onchain", "--accounts", "0"], "--accounts"),
    ],
)
def test_onchain_bad_input_exits_2(args: list[str], where: str) -> None:
    result = runner.invoke(app, ["replay", "--scenario", "2020-03-12", *args])
    assert result.exit_code == 2, result.output
    assert where in result.stderr
    assert "Traceback" not in result.stderr
