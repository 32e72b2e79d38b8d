"""The fast replay against the reference (the replay as it ran before: ``ReplayConfig(reference=True)``).

The reference is the independent side here: ``liquidate`` account by account and each seized account's
Greeks from its own one-row book, as the code was before the fast path. The two must give the same report
(every field but ``timing``, the timeline included) on several windows, seeds and venues, including a
configuration that drives bad debt through the insurance fund into ADL (a thin market, a tiny fund, no
penalty: the setting of ``test_replay.py``'s pinned numbers)."""

from __future__ import annotations

import math
from dataclasses import replace

import numba
import pytest

from xmargin.engine import generate_book
from xmargin.liquidation import CexConfig, liquidate, liquidate_batch
from xmargin.margin import resolve_model
from xmargin.market import DEMO_SNAPSHOT, load_deribit_chain, shipped_chain_path
from xmargin.pricing import kernel_threads
from xmargin.risk import realize_entries
from xmargin.sim import DexConfig, ImpactConfig, ReplayConfig, replay

FAST = ReplayConfig(clock_s=120.0, cex_tick_move=0.004)
STRESSED = replace(
    FAST,
    insurance_fraction=0.001,
    impact=ImpactConfig(adv_to_oi=0.05),
    cex=CexConfig(penalty=0.0),
    dex=DexConfig(keeper_capital_usd=20_000.0),
)


def _report(scenario: str, venue: str, accounts: int, seed: int, cfg: ReplayConfig) -> dict[str, object]:
    d = replay(scenario, venue, accounts=accounts, seed=seed, config=cfg).as_dict(timeline=True)
    d.pop("timing")
    return d


@pytest.mark.parametrize(
    ("scenario", "venue", "accounts", "seed", "cfg"),
    [
        ("2025-10-10", "cex", 120, 3, FAST),
        ("2025-10-10", "dex", 120, 3, FAST),
        ("2020-03-12", "cex", 50, 1, STRESSED),
        ("2020-03-12", "dex", 50, 1, STRESSED),
        ("2021-05-19", "cex", 80, 7, FAST),
    ],
    ids=["oct25-cex", "oct25-dex", "bt-stressed-cex", "bt-stressed-dex", "may21-cex"],
)
def test_fast_replay_reports_equal_the_reference(
    scenario: str, venue: str, accounts: int, seed: int, cfg: ReplayConfig
) -> None:
    ref = _report(scenario, venue, accounts, seed, replace(cfg, reference=True))
    fast = _report(scenario, venue, accounts, seed, cfg)
    assert ref["liquidations"] > 0  # the comparison exercised liquidations
    assert fast == ref


def test_the_stressed_case_reaches_the_waterfall() -> None:
    """The stressed configuration above is only a useful comparison if bad debt went past the fund."""
    d = _report("2020-03-12", "cex", 50, 1, STRESSED)
    assert d["bad_debt_usd"] > d["insurance_fund_used_usd"] > 0
    assert d["adl_usd"] + d["socialized_loss_usd"] > 0


def test_liquidate_batch_decides_as_liquidate_account_by_account() -> None:
    """A round of accounts under a 30% BTC drop: the batched liquidation makes the same decisions (steps,
    fills, instruments, sizes) as ``liquidate`` per account; amounts agree to 1e-9 relative (an account's
    margin is summed over the round's column order instead of its own)."""
    market0 = load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)
    model = resolve_model("pm")
    book = generate_book(market0, 150, 5)
    market = market0.shifted("BTC", 0.7)
    pfs = [realize_entries(book.portfolio(i), market) for i in range(book.n_accounts)]
    r0 = model.requirement(book, market, detail=False)
    below = [pfs[i] for i in range(book.n_accounts) if r0.margin_balance[i] < r0.maintenance_margin[i]]
    assert len(below) >= 5
    cfg = CexConfig(depth_usd=20_000.0)  # small depth: the backstop is exercised too
    batch = liquidate_batch(model, below, market, cfg)
    assert any(f.backstop for res in batch for f in res.fills)
    for pf, got in zip(below, batch, strict=True):
        want = liquidate(model, pf, market, cfg)
        assert got.steps == want.steps and got.restored == want.restored
        assert [f.instrument for f in got.fills] == [f.instrument for f in want.fills]
        assert [f.backstop for f in got.fills] == [f.backstop for f in want.fills]
        for a, b in zip(got.fills, want.fills, strict=True):
            assert math.isclose(a.size_coin, b.size_coin, rel_tol=1e-9, abs_tol=1e-12)
            assert math.isclose(a.penalty_usd, b.penalty_usd, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(got.insurance_fee_usd, want.insurance_fee_usd, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(got.bad_debt_usd, want.bad_debt_usd, rel_tol=1e-9, abs_tol=1e-9)


def test_kernel_threads_is_scoped_and_checked() -> None:
    before = numba.get_num_threads()
    with kernel_threads(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(ValueError, match="n >= 1"), kernel_threads(0):
        pass
