"""The ops control API: HTTP API, web page and ``fleet ops`` commands that put operator
commands (redistill, rollout, halt, rollback) on Kafka ``ops.commands``, and show the
releases and the recent commands."""
