"""``scenario_pnl`` on a table of several underlyings: a scenario moves only its own underlying's rows.

Checked against the same scenarios priced one underlying at a time (each sub-table alone, where every
scenario hits every row) and zero elsewhere: the (instrument × scenario) hit mask and the shortcut that
skips rate shifts when a set has none must not change a number.
"""

from __future__ import annotations

import numpy as np
import pytest

from xmargin.instruments import parse_name
from xmargin.margin import get_model
from xmargin.market import DEMO_SNAPSHOT, load_deribit_chain, shipped_chain_path
from xmargin.risk import Columns, resolve_instruments
from xmargin.risk._scenarios import ScenarioSet, scenario_pnl

FIELDS = ("underlying", "price_move", "vol_dir", "rate_shift", "weight", "label")


@pytest.mark.parametrize("preset", ["pm-deribit", "pm-span"])
@pytest.mark.parametrize("view", ["settlement", "usd"])
def test_each_scenario_moves_only_its_underlying(preset: str, view: str) -> None:
    market = load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)
    names = list(market.option_iv)
    insts = tuple(parse_name(n) for n in names[::25])
    model = get_model("pm", preset=preset)
    table = resolve_instruments(Columns.of(insts), market)
    bases = sorted({str(u) for u in table.underlying})
    assert len(bases) == 2, bases  # BTC and ETH options
    scen = model.scenarios(bases)  # type: ignore[attr-defined]
    up, down = model.vol_shocks(table)  # type: ignore[attr-defined]
    whole = scenario_pnl(table, scen, view=view, vol_up=up, vol_down=down, rate=market.rate)
    for u in bases:
        rows = np.flatnonzero(table.underlying == u)
        cols = np.flatnonzero(scen.underlying == u)
        sub_t = resolve_instruments(Columns.of(tuple(insts[r] for r in rows)), market)
        sub_s = ScenarioSet(*(getattr(scen, f)[cols] for f in FIELDS))
        own = scenario_pnl(sub_t, sub_s, view=view, vol_up=up[rows], vol_down=down[rows], rate=market.rate)
        assert np.array_equal(whole[np.ix_(rows, cols)], own), u
        others = np.setdiff1d(np.arange(len(scen)), cols)
        assert not whole[np.ix_(rows, others)].any(), u
    assert np.abs(whole).max() > 0
