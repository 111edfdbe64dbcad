"""The `fleet` commands of the ML library (registered by services/cli.py); the library itself
imports none of them."""
