"""The dynamic collateral haircuts of a preset (default ``cross-dynamic-collateral``) backtested on its own
history: per coin and side (held, borrowed), with and without the daily-change limit. Prints a markdown table
(docs/margin.md, "Dynamic collateral haircuts").

    python benchmarks/haircut_backtest.py [PRESET]
"""

from __future__ import annotations

import dataclasses
import sys
import time

from xmargin.margin import CollateralPolicy, get_model
from xmargin.margin._collateral import FhsHaircuts
from xmargin.market import load_history
from xmargin.sim import haircut_backtest


def main(preset: str = "cross-dynamic-collateral") -> None:
    start = time.perf_counter()
    policy: CollateralPolicy = get_model("cross", preset=preset).collateral  # type: ignore[attr-defined]
    assert policy.fhs is not None, f"{preset} has no fhs haircuts"
    history = load_history(policy.fhs.history_name)
    unlimited_params = dataclasses.replace(policy.fhs.params, max_daily_change=1.0)
    unlimited = dataclasses.replace(
        policy,
        fhs=FhsHaircuts.build(
            history,
            unlimited_params,
            floors=policy.haircuts,
            default_floor=policy.default_haircut,
            cap=policy.cap,
        ),
    )
    print(
        "| haircuts | coin | side | days | obs | breach % | excess p | Christoffersen p | red windows "
        "| mean % | min % | max % | peak/trough | 30d rise pp | loss q99 % | mean/q99 |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, pol in ((preset, policy), ("no daily limit", unlimited)):
        for asset in history.underlyings:
            for side in ("held", "borrowed"):
                r = haircut_backtest(
                    pol, asset, history, side=side, horizon_days=policy.fhs.params.horizon_days
                )
                print(
                    f"| {label} | {asset} | {side} | {r.first_day} .. {r.last_day} | {r.observations} "
                    f"| {100 * r.breaches / r.observations:.2f} | {r.excess_p_value:.3f} "
                    f"| {r.christoffersen.p_independence:.3f} | {r.traffic_light.red} | {100 * r.mean:.1f} "
                    f"| {100 * r.min:.1f} | {100 * r.max:.1f} | {r.procyclicality.peak_to_trough:.1f} "
                    f"| {r.procyclicality.max_rise_30d_pp:.1f} | {100 * r.loss_q99:.1f} | {r.mean / r.loss_q99:.2f} |"
                )
    print(f"\n{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(*sys.argv[1:])
