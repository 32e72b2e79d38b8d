"""Crash scenarios: real price paths shipped with the package (``xmargin/data/crashes``, see its SOURCES.md).

A scenario is the Binance USDT-M perpetual **mark price** (the price Binance liquidated against) of BTC and
ETH through a real crash, as OHLC bars. A replay applies the path's *relative* moves to today's market
(the shipped Deribit snapshot): factor(t) = price(t) / first open. Vols are held (sticky strike), so an
option book moves with the underlying only; where a window has no ETH bars ETH is held flat.

Within a bar the path visits open, the two extremes and the close: O → H → L → C when the bar closed down,
O → L → H → C when it closed up (the usual assumption when only OHLC is known: the extreme nearer the
close came last), at 0, ¼, ½ and ¾ of the bar. A crash's worst print (the bar's low) is therefore seen,
which hourly closes alone would miss.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError

FloatArray = NDArray[np.float64]

_SYMBOLS = {"BTCUSDT": "BTC", "ETHUSDT": "ETH"}


@dataclass(frozen=True, slots=True)
class Scenario:
    """A shipped crash window: its name, the file of bars and a one-line description."""

    name: str
    file: str
    title: str


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        s.name: s
        for s in (
            Scenario(
                "2020-03-12",
                "2020-03-12_covid_black_thursday_1h.csv",
                "Black Thursday: BTC -53% in 36 h (2020-03-09 .. 03-15, hourly)",
            ),
            Scenario(
                "2021-05-19",
                "2021-05-19_china_mining_ban_selloff_1h.csv",
                "China mining ban sell-off: BTC -41%, ETH -55% (2021-05-16 .. 05-22, hourly)",
            ),
            Scenario(
                "2022-05-luna",
                "2022-05-09_13_luna_ust_collapse_1h.csv",
                "LUNA/UST collapse: BTC -27%, ETH -35% (2022-05-06 .. 05-15, hourly)",
            ),
            Scenario(
                "2022-11-ftx",
                "2022-11-08_10_ftx_collapse_1h.csv",
                "FTX collapse: BTC -28%, ETH -36% (2022-11-05 .. 11-12, hourly)",
            ),
            Scenario(
                "2024-08-05",
                "2024-08-05_yen_carry_unwind_8h.csv",
                "Yen carry unwind (BTC only, 8-hourly bars)",
            ),
            Scenario(
                "2025-10-10",
                "2025-10-10_tariff_liquidation_cascade_8h.csv",
                "Tariff liquidation cascade (BTC only, 8-hourly bars)",
            ),
        )
    }
)
ALIASES = MappingProxyType(
    {
        "2022-05": "2022-05-luna",
        "luna": "2022-05-luna",
        "2022-11": "2022-11-ftx",
        "ftx": "2022-11-ftx",
        "black-thursday": "2020-03-12",
        **{s.file.rsplit("_", 1)[0]: s.name for s in SCENARIOS.values()},
    }
)


@dataclass(frozen=True, slots=True, eq=False)
class PricePath:
    """Times (epoch seconds) and, per underlying, the price factor relative to the window's first open."""

    scenario: Scenario
    ts_s: FloatArray
    factors: Mapping[str, FloatArray]
    bar_seconds: float

    @property
    def underlyings(self) -> tuple[str, ...]:
        return tuple(self.factors)

    def start_iso(self) -> str:
        return datetime.fromtimestamp(float(self.ts_s[0]), tz=UTC).isoformat()

    def worst(self) -> dict[str, float]:
        """Per underlying, the deepest fall of the path from its running high (a fraction, e.g. -0.53)."""
        out = {}
        for u, f in self.factors.items():
            out[u] = float(np.min(f / np.maximum.accumulate(f)) - 1.0)
        return out


def scenario(name: str) -> Scenario:
    """The shipped scenario ``name`` (or one of its aliases)."""
    key = ALIASES.get(name, name)
    if key not in SCENARIOS:
        raise InputError(
            where="scenario",
            expected=f"one of {', '.join(SCENARIOS)} (or oracle-pump)",
            found=name,
        )
    return SCENARIOS[key]


def _bars(
    path: Path | resources.abc.Traversable,
) -> dict[str, list[tuple[float, float, float, float, float]]]:
    out: dict[str, list[tuple[float, float, float, float, float]]] = {}
    with io.StringIO(path.read_text(encoding="utf-8"), newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            u = _SYMBOLS.get(row.get("symbol", ""))
            if u is None:
                continue
            try:
                ts = datetime.fromisoformat(row["open_time_utc"].replace("Z", "+00:00")).timestamp()
                o, h, lo, c = (float(row[k]) for k in ("open", "high", "low", "close"))
            except (KeyError, ValueError) as exc:
                raise InputError(
                    where=f"{path}:{line}", expected="open_time_utc, open, high, low, close", found=str(exc)
                ) from None
            if not (0 < lo <= min(o, c) and max(o, c) <= h):
                raise InputError(
                    where=f"{path}:{line}", expected="0 < low <= open, close <= high", found=(o, h, lo, c)
                )
            out.setdefault(u, []).append((ts, o, h, lo, c))
    return out


def load_path(sc: Scenario | str) -> PricePath:
    """The scenario's intra-bar price path (four points per bar), as factors of the first open."""
    sc = scenario(sc) if isinstance(sc, str) else sc
    res = resources.files("xmargin") / "data" / "crashes" / sc.file
    bars = _bars(res)
    if "BTC" not in bars:
        raise InputError(where=sc.file, expected="BTCUSDT bars", found="none")
    times = np.array([b[0] for b in bars["BTC"]])
    step = float(np.median(np.diff(times)))
    ts = (times[:, None] + np.array([0.0, 0.25, 0.5, 0.75]) * step).reshape(-1)
    factors: dict[str, FloatArray] = {}
    for u, rows in bars.items():
        arr = np.array(rows)
        if arr.shape[0] != times.size or not np.array_equal(arr[:, 0], times):
            raise InputError(where=sc.file, expected=f"{u} bars at the BTC bar times", found="other times")
        o, h, lo, c = arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4]
        down = c < o
        first = np.where(down, h, lo)
        second = np.where(down, lo, h)
        pts = np.stack([o, first, second, c], axis=1).reshape(-1)
        factors[u] = pts / o[0]
    for u in ("BTC", "ETH"):
        factors.setdefault(u, np.ones_like(ts))
    return PricePath(sc, ts, MappingProxyType(factors), step)
