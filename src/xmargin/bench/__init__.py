"""Benchmarks (not tests): pricing throughput against reference libraries; what-if latency (warm vs cold).

``bench_pricing`` times the vectorised Black-76 with all Greeks against QuantLib and py_vollib; the script
``benchmarks/bench_pricing.py`` prints its result. QuantLib and py_vollib are optional (test extras).
"""

from xmargin.bench._book import bench_book, uniform_book
from xmargin.bench._fhs import bench_fhs
from xmargin.bench._pricing import bench_pricing
from xmargin.bench._whatif import bench_whatif

__all__ = ["bench_book", "bench_fhs", "bench_pricing", "bench_whatif", "uniform_book"]
