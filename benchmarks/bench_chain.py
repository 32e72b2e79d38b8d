"""Gas of the vault contract (issue 16): ``xmargin chain bench`` measured, printed and plotted.

Writes ``docs/images/chain_gas.png`` (health-check gas against positions, with the fitted line) and prints
the measured points and the gas per position. Run: ``.venv/bin/python benchmarks/bench_chain.py``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from xmargin.chain import bench_chain

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "chain_gas.png"


def main() -> None:
    r = bench_chain(tuple(range(1, 65)))
    n = [p.positions for p in r.points]
    g = [p.gas_used / 1e6 for p in r.points]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    ax.plot(n, g, "o", ms=3, label="measured (execution gas, cold storage)")
    ax.plot(
        [0, 64],
        [r.base_gas / 1e6, (r.base_gas + 64 * r.per_position_gas) / 1e6],
        "-",
        lw=1,
        label=f"fit: {r.base_gas:,.0f} + {r.per_position_gas:,.0f} x positions",
    )
    ax.set_xlabel("positions in the account")
    ax.set_ylabel("gas of one health check (millions)")
    ax.set_title("MarginVault.account_margin: gas against positions (cross mode)")
    ax.set_xlim(0, 66)
    ax.set_ylim(0, None)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.text(
        0.98,
        0.04,
        f"{r.evm}\n60M-gas block: one check of up to {r.blocks[-1].max_positions_one_check:,} positions",
        transform=ax.transAxes,
        ha="right",
        fontsize=7,
        color="0.3",
    )
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT)
    print(f"wrote {OUT}")
    print(f"gas per position {r.per_position_gas:,.0f}, base {r.base_gas:,.0f}")
    for p in r.points[:: max(1, len(r.points) // 8)]:
        print(f"{p.positions:3d} positions: {p.gas_used:>10,} gas")


if __name__ == "__main__":
    main()
