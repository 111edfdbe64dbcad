"""Rollout manager: ships signed releases to the canary group, watches the devices' reports,
then the fleet; halts and rolls forward to earlier weights on regressions (``manager.py``).
The OTA chunk protocol and server live in ``chunks.py``."""
