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
    """Prices with and without feedback (relative to the start) and bad debt per venue."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for u, series in report.price_path.items():
        w = np.array(series["with_feedback"])
        wo = np.array(series["without_feedback"])
        ax1.plot(w / w[0], lw=1.0, label=f"{u} with feedback")
        ax1.plot(wo / wo[0], lw=0.8, ls=":", label=f"{u} without")
    ax1.set_xlabel("step")
    ax1.set_ylabel("price / start")
    ax1.set_title(
        f"{report.scenario}: amplification {report.system.amplification:.3f}, "
        f"{report.system.cascade_rounds} cascade rounds"
    )
    ax1.legend(fontsize=8)
    names = list(report.venues)
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    for key, label in (
        ("insurance_fund_used_usd", "insurance fund"),
        ("adl_usd", "ADL"),
        ("socialized_loss_usd", "socialized"),
    ):
        h = np.array([getattr(report.venues[n], key) for n in names])
        ax2.bar(x, h, bottom=bottom, label=label)
        bottom += h
    ax2.set_xticks(x, names)
    ax2.set_ylabel("bad debt, USD")
    ax2.set_title(f"bad debt {report.system.bad_debt_usd:,.0f} USD; DebtRank {report.system.debtrank:.3f}")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
