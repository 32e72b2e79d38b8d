"""Loading a Deribit option-chain snapshot (the collector format described in ``data/SOURCES.md``).

Each row is one option: ``mark_price_coin`` (inverse premium in coin), ``mark_iv`` (decimal), the expiry's
forward ``underlying_price_usd`` (a future, or Deribit's synthetic forward ``SYN.*``) and the spot index.
The snapshot becomes a ``MarketSnapshot``:

- valuation time = ``snapshot_utc``; index per coin = median ``index_price_usd`` (the collector is not
  atomic, so rows drift slightly); USDC and USDT have no index in a chain and are taken at 1.0 USD by
  ``MarketSnapshot`` (named in ``warnings`` wherever a book uses them);
- forward per expiry = median ``underlying_price_usd`` of that expiry; a real future (not ``SYN.``) also gets
  a mark;
- every option at its own mark IV, and a ``VolSurface`` per coin from the out-of-the-money side of each
  smile (calls at K ≥ F, puts at K < F).

A file may hold several snapshots: choose one with ``path#SNAPSHOT`` (id or label) or ``snapshot=``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xmargin.core import InputError, parse_utc, year_fraction
from xmargin.instruments import format_expiry, parse_name
from xmargin.market._snapshot import MarketSnapshot
from xmargin.market._surface import Smile, VolSurface

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_COLUMNS = (
    "snapshot_id",
    "snapshot_label",
    "snapshot_utc",
    "currency",
    "instrument_name",
    "expiry_utc",
    "strike",
    "option_type",
    "mark_price_coin",
    "mark_iv",
    "underlying_price_usd",
    "underlying_name",
    "index_price_usd",
)


@dataclass(frozen=True, slots=True)
class DeribitChain:
    """One snapshot of a chain: the market built from it and the rows it came from."""

    snapshot_id: str
    label: str
    market: MarketSnapshot
    rows: pd.DataFrame


def _split(path: str | Path, snapshot: str | None) -> tuple[Path, str | None]:
    text = str(path)
    if snapshot is None and "#" in text:
        text, _, snapshot = text.partition("#")
    return Path(text), snapshot


def read_chain_rows(path: str | Path) -> pd.DataFrame:
    """All rows of a chain file, with the required columns checked."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InputError(where=str(p), expected="an existing Deribit chain CSV", found="no such file")
    try:
        df = pd.read_csv(p)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputError(
            where=str(p), expected="a CSV file (optionally gzipped)", found=str(exc)[:80]
        ) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            where=str(p),
            expected=f"columns {', '.join(REQUIRED_COLUMNS)}",
            found=f"missing {', '.join(missing)}",
        )
    return df


def snapshot_ids(path: str | Path) -> list[tuple[str, str]]:
    """``(snapshot_id, label)`` of every snapshot in a chain file, in file order."""
    df = read_chain_rows(_split(path, None)[0])
    pairs = df[["snapshot_id", "snapshot_label"]].drop_duplicates()
    return [(str(a), str(b)) for a, b in pairs.itertuples(index=False)]


def load_deribit_chain_full(path: str | Path, snapshot: str | None = None) -> DeribitChain:
    """Load one snapshot of a Deribit chain file as a ``DeribitChain``."""
    p, snap = _split(path, snapshot)
    df = read_chain_rows(p)
    ids = df["snapshot_id"].astype(str)
    labels = df["snapshot_label"].astype(str)
    available = sorted(set(ids))
    if snap is None:
        if len(available) != 1:
            raise InputError(
                where=str(p),
                expected=f"one snapshot chosen as {p}#ID (ids: {', '.join(available)})",
                found=f"{len(available)} snapshots",
            )
        snap = available[0]
    rows = df[(ids == snap) | (labels == snap)].copy()
    if rows.empty:
        raise InputError(
            where=f"{p}#{snap}", expected=f"a snapshot id or label ({', '.join(available)})", found=snap
        )
    rows = rows.reset_index(drop=True)
    valuation = parse_utc(str(rows["snapshot_utc"].iloc[0]), where=f"{p}: snapshot_utc")
    index = {str(c): float(g.median()) for c, g in rows.groupby("currency")["index_price_usd"]}
    rows["expiry_key"] = [
        f"{c}-{n.split('-')[1]}" for c, n in zip(rows["currency"], rows["instrument_name"], strict=True)
    ]
    # normalise the expiry key through the parser (BTC-04JAN26 -> BTC-4JAN26)
    rows["expiry_key"] = [
        f"{k.split('-')[0]}-{format_expiry(parse_name(k).expiry)}" for k in rows["expiry_key"]
    ]
    forwards = {str(k): float(g.median()) for k, g in rows.groupby("expiry_key")["underlying_price_usd"]}
    marks: dict[str, float] = {}
    for name, und in rows.groupby("underlying_name")["underlying_price_usd"]:
        if not str(name).startswith("SYN."):
            marks[str(parse_name(str(name)))] = float(und.median())
    iv = rows["mark_iv"].astype(float)
    option_iv = {
        str(parse_name(str(n))): float(v) for n, v in zip(rows["instrument_name"], iv, strict=True) if v > 0
    }
    surfaces: dict[str, VolSurface] = {}
    for ccy, g in rows[iv > 0].groupby("currency"):
        smiles = []
        for key, e in g.groupby("expiry_key"):
            expiry = parse_utc(str(e["expiry_utc"].iloc[0]), where=f"{p}: expiry_utc")
            t = year_fraction(valuation, expiry)
            if t <= 0:
                continue
            fwd = forwards[str(key)]
            otm = np.where(
                e["strike"].to_numpy() >= fwd,
                e["option_type"].to_numpy() == "C",
                e["option_type"].to_numpy() == "P",
            )
            side = e[otm] if otm.any() else e
            smiles.append(
                Smile.build(
                    t_years=t, forward=fwd, strikes=side["strike"].to_numpy(), vols=side["mark_iv"].to_numpy()
                )
            )
        smiles.sort(key=lambda s: s.t_years)
        if smiles:
            surfaces[str(ccy)] = VolSurface(underlying=str(ccy), smiles=tuple(smiles))
    flat = {c: float(np.median(s.smiles[0].vol)) for c, s in surfaces.items()}
    market = MarketSnapshot(
        valuation_time=valuation,
        index_usd=index,
        marks_usd=marks,
        vol=flat,
        option_iv=option_iv,
        forwards_usd=forwards,
        surfaces=surfaces,
        source=f"{p.name}#{snap} (Deribit)",
    )
    return DeribitChain(
        snapshot_id=str(rows["snapshot_id"].iloc[0]),
        label=str(rows["snapshot_label"].iloc[0]),
        market=market,
        rows=rows,
    )


def load_deribit_chain(path: str | Path, snapshot: str | None = None) -> MarketSnapshot:
    """The ``MarketSnapshot`` of one snapshot of a Deribit chain file."""
    return load_deribit_chain_full(path, snapshot).market


DEMO_SNAPSHOT = "20260205T212937Z"
"""The snapshot the demo uses by default: the trough of the Feb-2026 selloff (BTC -18.6% in ~65 h)."""


def shipped_chain_path() -> Path:
    """The real Deribit chains shipped with the package (six BTC+ETH snapshots; see data/SOURCES.md)."""
    from importlib.resources import files

    return Path(str(files("xmargin") / "data" / "deribit_option_chains_selected.csv.gz"))


def shipped_demo_books() -> list[Path]:
    """The example books ``xmargin demo`` margins on the shipped chain (sorted by file name)."""
    from importlib.resources import files

    folder = Path(str(files("xmargin") / "data" / "books"))
    return sorted(folder.glob("*.yaml"))
