"""`fleet status`: the operator's one screen (and the facts the ops page shows)."""
