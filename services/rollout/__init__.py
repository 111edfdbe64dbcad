"""Rollout: release signing and OTA chunk serving (the rollout manager comes later)."""
