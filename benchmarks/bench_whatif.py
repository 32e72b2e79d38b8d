"""pm what-if latency on one 20-position account: warm (prepared state cached) vs cold (full repricing).

Usage::

    python benchmarks/bench_whatif.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import json

from xmargin.bench import bench_whatif


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    result = bench_whatif(calls=args.calls)
    print(f"warm  p50 {result['warm_p50_ms']:.3f} ms   p99 {result['warm_p99_ms']:.3f} ms")
    print(f"cold  p50 {result['cold_p50_ms']:.3f} ms   p99 {result['cold_p99_ms']:.3f} ms")
    print(f"warm / cold = {result['ratio']:.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
