"""Benchmarks (not tests): throughput of xmargin's pricing against reference libraries.

``bench_pricing`` times the vectorised Black-76 with all Greeks against QuantLib and py_vollib; the script
``benchmarks/bench_pricing.py`` prints its result. QuantLib and py_vollib are optional (test extras).
"""

from xmargin.bench._pricing import bench_pricing

__all__ = ["bench_pricing"]
