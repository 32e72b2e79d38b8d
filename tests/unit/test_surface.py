"""Vol surface: smile interpolation is monotone-safe and flat beyond the strikes; no calendar arbitrage."""

from __future__ import annotations

import numpy as np
import pytest

from xmargin.market import Smile, VolSurface, load_deribit_chain, shipped_chain_path, snapshot_ids


def test_smile_reproduces_quotes_and_is_flat_beyond() -> None:
    strikes = np.array([80.0, 90.0, 100.0, 110.0, 120.0])
    vols = np.array([0.9, 0.7, 0.6, 0.65, 0.8])
    s = Smile.build(t_years=0.5, forward=100.0, strikes=strikes, vols=vols)
    np.testing.assert_allclose(s.vol_at(np.log(strikes / 100.0)), vols, rtol=1e-12)
    assert s.vol_at(np.log(10.0 / 100.0)) == pytest.approx(0.9)
    assert s.vol_at(np.log(500.0 / 100.0)) == pytest.approx(0.8)


def test_smile_does_not_overshoot_between_quotes() -> None:
    """PCHIP (Fritsch-Carlson) stays inside the range of neighbouring quotes, unlike a cubic spline."""
    strikes = np.array([80.0, 90.0, 100.0, 101.0, 120.0])
    vols = np.array([0.6, 0.6, 0.6, 1.2, 1.2])
    s = Smile.build(t_years=0.5, forward=100.0, strikes=strikes, vols=vols)
    x = np.linspace(np.log(0.8), np.log(1.2), 2001)
    v = s.vol_at(x)
    assert v.min() >= 0.6 - 1e-12 and v.max() <= 1.2 + 1e-12


def _surface_with_calendar_dip() -> VolSurface:
    k = np.array([50.0, 100.0, 200.0])
    return VolSurface(
        "BTC",
        (
            Smile.build(t_years=0.1, forward=100.0, strikes=k, vols=[1.5, 1.2, 1.5]),
            # a quoted total variance below the earlier expiry's at ATM: 0.3^2*0.2 = 0.018 < 1.2^2*0.1 = 0.144
            Smile.build(t_years=0.2, forward=100.0, strikes=k, vols=[0.8, 0.3, 0.8]),
            Smile.build(t_years=1.0, forward=100.0, strikes=k, vols=[0.9, 0.7, 0.9]),
        ),
    )


@pytest.mark.parametrize("surface_source", ["synthetic", "deribit"])
def test_total_variance_never_decreases_with_expiry(surface_source: str) -> None:
    if surface_source == "synthetic":
        surfaces = [(_surface_with_calendar_dip(), 100.0)]
    else:
        path = shipped_chain_path()
        surfaces = []
        for sid, _ in snapshot_ids(path):
            m = load_deribit_chain(path, sid)
            surfaces += [(m.surfaces[c], m.index_usd[c]) for c in ("BTC", "ETH")]
    t = np.linspace(1e-4, 3.0, 600)
    for surface, spot in surfaces:
        for moneyness in (0.3, 0.6, 0.9, 1.0, 1.1, 1.5, 3.0):
            w = surface.total_variance(strike=spot * moneyness, forward=spot, t_years=t)
            assert np.all(np.diff(w) >= -1e-15), (surface.underlying, moneyness)
            assert np.all(w > 0)


def test_unlisted_strike_and_expiry_get_a_sensible_vol() -> None:
    m = load_deribit_chain(shipped_chain_path(), "20260205T212937Z")
    surface = m.surfaces["BTC"]
    f = m.index_usd["BTC"]
    quoted = np.concatenate([s.vol for s in surface.smiles])
    v = surface.vol(strike=np.array([f * 0.77, f, f * 1.33]), forward=f, t_years=np.array([0.05, 0.3, 0.7]))
    assert np.all((v >= quoted.min()) & (v <= quoted.max()))


def test_listed_option_on_surface_is_close_to_its_mark_iv() -> None:
    """On a quoted OTM strike the surface returns that strike's own mark IV (it interpolates through it)."""
    m = load_deribit_chain(shipped_chain_path(), "20251230T173115Z")
    surface = m.surfaces["BTC"]
    smile = surface.smiles[len(surface.smiles) // 2]
    strikes = smile.forward * np.exp(smile.log_moneyness)
    v = surface.vol(strike=strikes, forward=smile.forward, t_years=smile.t_years)
    # equal unless a calendar dip in the quotes was lifted by the running maximum
    assert np.mean(np.isclose(v, smile.vol, rtol=1e-9)) > 0.9
    assert np.all(v >= smile.vol - 1e-12)
