"""Drivers shared by the benchmarks and the integration tests: a service CLI as a subprocess
with its metrics, the processor and labeler on fresh topics, and prediction traffic."""
