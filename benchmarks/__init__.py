"""Measured comparisons printed as JSON; `python -m benchmarks` (make bench) runs them all."""
