"""Charts of crash replays: price, total margin and liquidations over time, one column per venue.

A ``.png`` path gets a PNG (matplotlib, Agg backend); an ``.html`` path gets a self-contained page with the
same picture embedded and the report's numbers in a table. matplotlib is imported here only, so the CLI
stays fast when no chart is asked for.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from xmargin.core import InputError, require
from xmargin.sim._replay import OUTCOME_FIELDS, ReplayReport


def _figure(reports: Sequence[ReplayReport]) -> Any:
    require("matplotlib", "charts")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    cols = len(reports)
    fig, axes = plt.subplots(3, cols, figsize=(6.5 * cols, 9), sharex="col", squeeze=False)
    for c, r in enumerate(reports):
        t = [datetime.fromtimestamp(x, tz=UTC) for x in r.timeline["ts_s"]]
        ax = axes[0][c]
        for u, color in (("BTC", "tab:orange"), ("ETH", "tab:blue")):
            if f"price_{u}" not in r.timeline:
                continue
            p = r.timeline[f"price_{u}"]
            base = r.timeline[f"path_{u}"][0]
            ax.plot(t, [x / base for x in r.timeline[f"path_{u}"]], color=color, lw=0.8, ls=":")
            ax.plot(t, [x / base for x in p], color=color, lw=1.2, label=f"{u} (venue, with impact)")
        ax.set_ylabel("price / start")
        ax.set_title(f"{r.scenario} — {r.venue.upper()} — {r.accounts:,} accounts", fontsize=10)
        ax.legend(fontsize=7, loc="lower left")
        ax.grid(alpha=0.3)
        ax = axes[1][c]
        ax.plot(t, [x / 1e6 for x in r.timeline["margin_balance_usd"]], label="margin balance")
        ax.plot(t, [x / 1e6 for x in r.timeline["maintenance_margin_usd"]], label="maintenance margin")
        ax.set_ylabel("book total, M USD")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = axes[2][c]
        ax.bar(t, r.timeline["liquidations"], width=1 / 96, color="tab:red", label="liquidations")
        ax.set_ylabel("liquidations per path interval")
        ax2 = ax.twinx()
        ax2.plot(t, [x / 1e3 for x in r.timeline["bad_debt_usd"]], color="black", lw=1.0, label="bad debt")
        ax2.set_ylabel("cumulative bad debt, k USD")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))  # type: ignore[no-untyped-call]
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_replay(reports: Sequence[ReplayReport], path: str | Path) -> Path:
    """Write the chart of ``reports`` (side by side) to ``path`` (``.png`` or ``.html``)."""
    out = Path(path)
    if out.suffix.lower() not in (".png", ".html"):
        raise InputError(where="chart", expected="a .png or .html path", found=str(path))
    if not out.parent.exists():
        raise InputError(where="chart", expected="a path in an existing directory", found=str(path))
    if not reports:
        raise InputError(where="plot_replay", expected="at least one report", found="none")
    import matplotlib.pyplot as plt

    fig = _figure(reports)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    png = buf.getvalue()
    tmp = out.with_name(out.name + ".part")
    if out.suffix.lower() == ".png":
        tmp.write_bytes(png)
    else:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th>"
            + "".join(f"<td>{getattr(r, k):,.2f}</td>" for r in reports)
            + "</tr>"
            for k in OUTCOME_FIELDS
        )
        head = "".join(f"<th>{html.escape(r.venue.upper())}</th>" for r in reports)
        title = html.escape(f"xmargin replay {reports[0].scenario}: {reports[0].title}")
        tmp.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<h1>{title}</h1><table border='1' cellpadding='4'><tr><th></th>{head}</tr>{rows}</table>"
            f"<img alt='price, margin and liquidations over time' "
            f"src='data:image/png;base64,{base64.b64encode(png).decode()}'></body></html>",
            encoding="utf-8",
        )
    tmp.replace(out)  # nothing half-written under the final name
    return out
