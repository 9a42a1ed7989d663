"""Side-by-side benchmarks of this provider against the alternatives a user would otherwise use.

Run with ``scripts/bench.sh`` (see docs/performance.md). Not part of the pass/fail
tests: timings depend on the machine; the structural guards that keep these numbers low are in
``tests/test_performance_guards.py``.
"""
