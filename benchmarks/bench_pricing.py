"""Black-76 with all Greeks: xmargin (vectorised, numba) vs QuantLib and py_vollib (per-option loops).

Usage::

    python benchmarks/bench_pricing.py [--n 1000000] [--seed 0] [--repeats 5] [--reference-sample 20000]

Prints a table, then the same result as JSON (one object, from ``xmargin.bench.bench_pricing``).
"""

from __future__ import annotations

import argparse
import json

from xmargin.bench import bench_pricing


def _rate(value: object) -> str:
    return f"{value:>14,.0f} options/s" if isinstance(value, int | float) else "not installed"


def _ratio(value: object) -> str:
    return f"{value:,.1f}x" if isinstance(value, int | float) else "n/a"


def format_table(result: dict[str, object], reference_sample: int) -> str:
    n = result["options"]
    lines = [
        "Black-76 price + delta, gamma, vega, theta",
        f"  xmargin black76    {_rate(result['options_per_second'])}   "
        f"({n:,} options in {result['seconds']:.4f} s, best of repeats, {result['threads']} threads)",
        f"  QuantLib           {_rate(result['quantlib_options_per_second'])}   "
        f"(BlackCalculator, Python loop over {reference_sample:,} options)",
        f"  py_vollib          {_rate(result['py_vollib_options_per_second'])}   "
        f"(black + analytical greeks, Python loop over {reference_sample:,} options)",
        f"  xmargin / QuantLib   {_ratio(result['ratio'])}",
        f"  xmargin / py_vollib  {_ratio(result['ratio_vs_py_vollib'])}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="options priced by xmargin")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="xmargin timing: best of this many")
    parser.add_argument(
        "--reference-sample", type=int, default=20_000, help="options priced by the references"
    )
    args = parser.parse_args()
    result = bench_pricing(
        args.n, seed=args.seed, repeats=args.repeats, reference_sample=args.reference_sample
    )
    print(format_table(result, min(args.reference_sample, args.n)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
