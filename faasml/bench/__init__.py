"""Benchmarks: each prints a system measured side by side with its baseline, in one run."""
