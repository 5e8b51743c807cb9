"""Research tools behind the benchmark spaces' settings (``python -m benchmarks.tools.<tool>``)."""
