"""Grafana dashboards as code (grafana-foundation-sdk), exported to ``deploy/grafana/``."""
