"""Charts of the systemic-risk runs (PNG, matplotlib's Agg backend; imported only when a chart is asked for):

- ``plot_monte_carlo``: the histogram of bad debt over the paths with its p50, p95 and p99;
- ``plot_contagion``: each shared asset's price with and without liquidation feedback, and each venue's
  bad debt split into insurance fund, ADL and socialized loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xmargin.core import require
from xmargin.sim._montecarlo import MonteCarloReport
from xmargin.sim.contagion import ContagionReport


def _plt() -> Any:
    require("matplotlib", "charts")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_monte_carlo(report: MonteCarloReport, path: Path) -> None:
    """Bad debt over the paths (USD): histogram and the quantile lines."""
    plt = _plt()
    bad = np.array([r.bad_debt_usd for r in report.runs])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(bad, bins=max(10, min(60, bad.size // 5 + 1)), color="tab:blue", alpha=0.75)
    q = report.bad_debt_usd_quantiles
    for name, color in (("p50", "tab:green"), ("p95", "tab:orange"), ("p99", "tab:red")):
        ax.axvline(q[name], color=color, ls="--", lw=1.2, label=f"{name} {q[name]:,.0f} USD")
    ax.set_xlabel("bad debt per path, USD")
    ax.set_ylabel("paths")
    ax.set_title(
        f"{report.scenario} {report.venue.upper()}: {report.paths} paths, {report.accounts:,} accounts"
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def plot_contagion(report: ContagionReport, path: Path) -> None:
    """The HTML report's panels as a PNG: prices with and without feedback (relative to the start), cascade
    rounds and liquidations per step, cumulative bad debt per venue, and how each venue's bad debt was paid."""
    plt = _plt()
    fig = plt.figure(figsize=(13, 10))
    grid = fig.add_gridspec(4, 2, width_ratios=[2.6, 1], height_ratios=[1.5, 0.8, 0.8, 1])
    ax1 = fig.add_subplot(grid[0, 0])
    ax_r = fig.add_subplot(grid[1, 0], sharex=ax1)
    ax_l = fig.add_subplot(grid[2, 0], sharex=ax1)
    ax_b = fig.add_subplot(grid[3, 0], sharex=ax1)
    ax2 = fig.add_subplot(grid[:, 1])
    tl = report.timeline
    hours = np.asarray(tl.get("hour", []))
    for k, (u, series) in enumerate(report.price_path.items()):
        w = np.array(series["with_feedback"])
        wo = np.array(series["without_feedback"])
        if np.ptp(w) == 0 and np.ptp(wo) == 0:
            continue  # an asset the window holds flat
        x = hours if hours.size == w.size else np.arange(w.size)
        ax1.plot(x, w / w[0], lw=1.2, color=f"C{k}", label=f"{u} with feedback")
        ax1.plot(x, wo / wo[0], lw=0.9, ls=":", color=f"C{k}", label=f"{u} without")
    ax1.set_ylabel("price / start")
    ax1.set_title(
        f"{report.scenario}: largest fall {report.system.max_drop_with_feedback:.1%} with feedback, "
        f"{report.system.max_drop_without_feedback:.1%} without (amplification {report.system.amplification:.3f})",
        fontsize=10,
    )
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    names = list(report.venues)
    if hours.size:
        rounds = np.asarray(tl.get("cascade_rounds", np.zeros(hours.size)))
        hit = rounds > 0
        ax_r.vlines(hours[hit], 0, rounds[hit], color="0.3", lw=1.2)
        ax_r.plot(hours[hit], rounds[hit], "o", color="0.3", ms=3)
        ax_r.set_ylabel("cascade rounds")
        ax_r.set_ylim(0, max(1.0, float(rounds.max())) + 0.8)
        ax_r.set_title(
            f"cascade rounds per step (longest {report.system.cascade_rounds}) and liquidations", fontsize=10
        )
        ax_r.grid(alpha=0.3)
        for k, n in reversed(list(enumerate(names))):
            liq = np.asarray(tl.get(f"liquidations:{n}", np.zeros(hours.size)))
            ax_l.plot(hours, liq, drawstyle="steps-mid", color=f"C{k + 2}", lw=1.0, label=n)
        ax_l.set_ylabel("liquidations / step")
        ax_l.legend(fontsize=7, loc="upper left")
        ax_l.grid(alpha=0.3)
        for k, n in enumerate(names):
            ax_b.plot(hours, np.asarray(tl.get(f"bad_debt_usd:{n}", [])) / 1e6, color=f"C{k + 2}", label=n)
            at = report.venues[n].insurance_fund_exhausted_at_hour
            if at is not None:
                ax_b.axvline(at, color=f"C{k + 2}", ls=":", lw=1, label=f"{n} fund exhausted")
        ax_b.set_ylabel("bad debt, M USD (cumulative)")
        ax_b.set_xlabel("hours from the window's start")
        ax_b.legend(fontsize=7, loc="upper left")
        ax_b.grid(alpha=0.3)
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    for key, label in (
        ("insurance_fund_used_usd", "insurance fund"),
        ("adl_usd", "ADL"),
        ("socialized_loss_usd", "socialized"),
    ):
        h = np.array([getattr(report.venues[n], key) for n in names]) / 1e6
        ax2.bar(x, h, bottom=bottom, label=label)
        bottom += h
    ax2.set_xticks(x, names)
    ax2.set_ylabel("bad debt, M USD")
    ax2.set_title(
        f"bad debt {report.system.bad_debt_usd / 1e6:,.2f} M USD; DebtRank {report.system.debtrank:.3f}",
        fontsize=10,
    )
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
