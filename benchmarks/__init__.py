"""Benchmarks of autoprune (run from the repository root: ``python -m benchmarks.<script>``).

Not part of the package nor of the main test suite; see benchmarks/README.md.
"""
