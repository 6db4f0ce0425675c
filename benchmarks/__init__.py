"""Datasets, splits, metrics, the evaluation harness, and `python -m benchmarks.run`."""
